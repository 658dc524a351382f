//! [`MatchRegistry`]: one server's live matches (kept on the server, never process-wide):
//! their ids, figures, placement over the server's worker threads, the metrics they add to
//! the server's endpoint, and their end when the server shuts down.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use actix::{Arbiter, ArbiterHandle};
use futures_util::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use super::link::MatchLink;
use super::match_trait::{DisposeReason, PlayerId, PlayerInfo};
use super::member::Member;
use super::metrics::{MatchMetrics, TickStats};
use super::seats::{JoinError, SeatToken};
use crate::socketio::{EncodeCounters, Payload, SocketId, SocketIo};

/// What the registry can do to a match of any game type.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // all but `stop` serve the cluster
pub(crate) trait LiveMatch: Send + Sync {
    /// End the match for `reason` and wait until it has.
    fn stop(&self, reason: DisposeReason) -> BoxFuture<'static, ()>;
    /// Reserve a seat for `player`.
    fn reserve(&self, player: PlayerInfo) -> BoxFuture<'static, Result<SeatToken, JoinError>>;
    /// Seat `member` with `token`.
    fn join(
        &self,
        token: SeatToken,
        member: Member,
    ) -> BoxFuture<'static, Result<PlayerId, JoinError>>;
    /// Remove the player holding `token`.
    fn leave(&self, token: SeatToken);
    /// The remote member `socket` of `node` dropped from the seat of `token`.
    fn dropped(&self, token: SeatToken, node: u64, socket: SocketId);
    /// The game's state summary ([`Match::state`](super::Match::state)); `None` once ended.
    fn state(&self) -> BoxFuture<'static, Option<Value>>;
}

/// Where the inputs of a seat taken from another node go (the seat's queue, typed).
pub(crate) type InputSink = Arc<dyn Fn(Payload) + Send + Sync>;

/// What the registry keeps of a match's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    pub(crate) label: Arc<str>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // read by the cluster
    pub(crate) input_event: Arc<str>,
    /// The tick period, microseconds.
    pub(crate) period_us: u64,
}

struct Entry {
    stats: Arc<Mutex<TickStats>>,
    described: Described,
    live: Arc<dyn LiveMatch>,
}

/// A live match as the registry describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Listed {
    pub(crate) id: u64,
    pub(crate) label: Arc<str>,
    pub(crate) period_us: u64,
    pub(crate) metrics: MatchMetrics,
}

/// The live matches of one server.
#[derive(Default)]
pub(crate) struct MatchRegistry {
    next_id: AtomicU64,
    next_worker: AtomicUsize,
    live: RwLock<HashMap<u64, Entry>>,
    /// The server's encode counters: matches encode for members of other nodes too.
    encodes: Arc<EncodeCounters>,
    /// Set when the server joins a cluster: matches deliver to other nodes through it.
    link: OnceLock<Arc<dyn MatchLink>>,
    /// Inputs of seats taken from other nodes, by match and token.
    inputs: RwLock<HashMap<(u64, String), InputSink>>,
}

impl MatchRegistry {
    /// The registry of `io`: created on first use, which also adds the matches' figures to
    /// `io`'s metrics and ends them on `io`'s shutdown.
    pub(crate) fn of(io: &SocketIo) -> Arc<MatchRegistry> {
        let mut created = false;
        let registry = io.extension_or_init(|| {
            created = true;
            MatchRegistry {
                encodes: io.encode_counters(),
                ..MatchRegistry::default()
            }
        });
        if created {
            let on_shutdown = registry.clone();
            io.on_shutdown(move || {
                let registry = on_shutdown.clone();
                async move { registry.stop_all(DisposeReason::ServerShutdown).await }
            });
            let figures = Arc::downgrade(&registry);
            io.add_metrics(move |out| {
                if let Some(registry) = figures.upgrade() {
                    registry.write_metrics(out);
                }
            });
        }
        registry
    }

    /// A new match's id (unique within its server), the worker thread to run it on
    /// (round-robin over `workers`, or this thread before the server's workers have
    /// started) and its turn on that thread (how many matches were placed on that worker
    /// before it; on this thread, its id): the phase of its tick clock, see
    /// [`spread_phase`](super::tick::spread_phase).
    pub(super) fn place(&self, workers: &[ArbiterHandle]) -> (u64, ArbiterHandle, u64) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if workers.is_empty() {
            return (id, Arbiter::current(), id);
        }
        let n = self.next_worker.fetch_add(1, Ordering::Relaxed);
        let turn = (n / workers.len()) as u64;
        (id, workers[n % workers.len()].clone(), turn)
    }

    pub(super) fn insert(
        &self,
        id: u64,
        described: Described,
        stats: Arc<Mutex<TickStats>>,
        live: Arc<dyn LiveMatch>,
    ) {
        self.live.write().insert(
            id,
            Entry {
                stats,
                described,
                live,
            },
        );
    }

    /// A match ended.
    pub(super) fn remove(&self, id: u64) {
        self.live.write().remove(&id);
        self.inputs.write().retain(|(m, _), _| *m != id);
    }

    /// Ids and figures of every live match, by id.
    pub(crate) fn list(&self) -> Vec<(u64, MatchMetrics)> {
        self.describe()
            .into_iter()
            .map(|listed| (listed.id, listed.metrics))
            .collect()
    }

    /// Every live match with its label and figures, by id.
    pub(crate) fn describe(&self) -> Vec<Listed> {
        let mut list: Vec<Listed> = self
            .live
            .read()
            .iter()
            .map(|(id, entry)| Listed {
                id: *id,
                label: entry.described.label.clone(),
                period_us: entry.described.period_us,
                metrics: entry.stats.lock().snapshot(),
            })
            .collect();
        list.sort_by_key(|listed| listed.id);
        list
    }

    /// The live match `id`, whatever its game type.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn find(&self, id: u64) -> Option<Arc<dyn LiveMatch>> {
        self.live.read().get(&id).map(|entry| entry.live.clone())
    }

    /// The event the players of match `id` send their inputs as.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn input_event(&self, id: u64) -> Option<String> {
        let live = self.live.read();
        live.get(&id).map(|e| e.described.input_event.to_string())
    }

    /// The server's encode counters.
    pub(super) fn encodes(&self) -> &Arc<EncodeCounters> {
        &self.encodes
    }

    /// Join a cluster: matches spawned from now on deliver to other nodes through `link`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn set_link(&self, link: Arc<dyn MatchLink>) -> bool {
        self.link.set(link).is_ok()
    }

    /// The cluster link, if the server is in a cluster.
    pub(super) fn link(&self) -> Option<Arc<dyn MatchLink>> {
        self.link.get().cloned()
    }

    /// This node's id in its cluster (0 on its own).
    pub(crate) fn node_id(&self) -> u64 {
        self.link.get().map_or(0, |link| link.node_id())
    }

    /// Route the inputs of the seat `token` of match `id` to `sink`.
    pub(super) fn set_input_sink(&self, id: u64, token: &str, sink: InputSink) {
        self.inputs.write().insert((id, token.to_owned()), sink);
    }

    pub(super) fn clear_input_sink(&self, id: u64, token: &str) {
        self.inputs.write().remove(&(id, token.to_owned()));
    }

    /// Seats whose inputs come from other nodes, across every match.
    #[cfg(test)]
    pub(super) fn input_routes(&self) -> usize {
        self.inputs.read().len()
    }

    /// An input for the seat `token` of match `id`, from its member's node.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn remote_input(&self, id: u64, token: &str, payload: Payload) {
        let sink = self.inputs.read().get(&(id, token.to_owned())).cloned();
        match sink {
            Some(sink) => sink(payload),
            None => tracing::debug!(id, "input for a seat no longer held here; dropped"),
        }
    }

    /// Live matches.
    pub(crate) fn count(&self) -> usize {
        self.live.read().len()
    }

    /// End every live match for `reason`.
    pub(crate) async fn stop_all(&self, reason: DisposeReason) {
        let stops: Vec<BoxFuture<'static, ()>> = self
            .live
            .read()
            .values()
            .map(|entry| entry.live.stop(reason))
            .collect();
        futures_util::future::join_all(stops).await;
    }

    /// The matches' families in the Prometheus text format (for the server's endpoint).
    fn write_metrics(&self, out: &mut String) {
        let list = self.list();
        let family = |out: &mut String,
                      name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&MatchMetrics) -> u64| {
            let _ = writeln!(out, "# HELP tickwire_{name} {help}.");
            let _ = writeln!(out, "# TYPE tickwire_{name} {kind}");
            for (id, m) in &list {
                let _ = writeln!(out, "tickwire_{name}{{name=\"{id}\"}} {}", value(m));
            }
        };
        let _ = writeln!(out, "# HELP tickwire_matches Live match rooms.");
        let _ = writeln!(out, "# TYPE tickwire_matches gauge");
        let _ = writeln!(out, "tickwire_matches {}", list.len());
        family(
            out,
            "match_tick_p99_us",
            "gauge",
            "Tick work p99 per match, microseconds",
            &|m| m.tick_p99_us,
        );
        family(
            out,
            "match_players",
            "gauge",
            "Seated players per match",
            &|m| m.players as u64,
        );
        family(
            out,
            "match_overruns",
            "gauge",
            "Ticks longer than their period per match (total)",
            &|m| m.overruns,
        );
        family(
            out,
            "match_skipped_ticks",
            "gauge",
            "Tick slots skipped per match (total)",
            &|m| m.skipped,
        );
        family(
            out,
            "match_bytes_per_tick",
            "gauge",
            "Snapshot bytes queued on the last tick per match",
            &|m| m.bytes_last_tick as u64,
        );
    }
}
