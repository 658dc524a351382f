//! [`MatchRegistry`]: one server's live matches (kept on the server, never process-wide):
//! their ids, figures, placement over the server's worker threads, the metrics they add to
//! the server's endpoint, and their end when the server shuts down.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use actix::{Arbiter, ArbiterHandle};
use futures_util::future::BoxFuture;
use parking_lot::{Mutex, RwLock};

use super::match_trait::DisposeReason;
use super::metrics::{MatchMetrics, TickStats};
use crate::socketio::SocketIo;

/// What the registry can do to a match of any game type.
pub(super) trait LiveMatch: Send + Sync {
    /// End the match for `reason` and wait until it has.
    fn stop(&self, reason: DisposeReason) -> BoxFuture<'static, ()>;
}

struct Entry {
    stats: Arc<Mutex<TickStats>>,
    live: Box<dyn LiveMatch>,
}

/// The live matches of one server.
#[derive(Default)]
pub(crate) struct MatchRegistry {
    next_id: AtomicU64,
    next_worker: AtomicUsize,
    live: RwLock<HashMap<u64, Entry>>,
}

impl MatchRegistry {
    /// The registry of `io`: created on first use, which also adds the matches' figures to
    /// `io`'s metrics and ends them on `io`'s shutdown.
    pub(crate) fn of(io: &SocketIo) -> Arc<MatchRegistry> {
        let mut created = false;
        let registry = io.extension_or_init(|| {
            created = true;
            MatchRegistry::default()
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

    /// A new match's id (unique within its server) and the worker thread to run it on:
    /// round-robin over `workers`, or this thread before the server's workers have started.
    pub(super) fn place(&self, workers: &[ArbiterHandle]) -> (u64, ArbiterHandle) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let arbiter = if workers.is_empty() {
            Arbiter::current()
        } else {
            let n = self.next_worker.fetch_add(1, Ordering::Relaxed);
            workers[n % workers.len()].clone()
        };
        (id, arbiter)
    }

    pub(super) fn insert(&self, id: u64, stats: Arc<Mutex<TickStats>>, live: Box<dyn LiveMatch>) {
        self.live.write().insert(id, Entry { stats, live });
    }

    /// A match ended.
    pub(super) fn remove(&self, id: u64) {
        self.live.write().remove(&id);
    }

    /// Ids and figures of every live match, by id.
    pub(crate) fn list(&self) -> Vec<(u64, MatchMetrics)> {
        let mut list: Vec<(u64, MatchMetrics)> = self
            .live
            .read()
            .iter()
            .map(|(id, entry)| (*id, entry.stats.lock().snapshot()))
            .collect();
        list.sort_by_key(|(id, _)| *id);
        list
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
