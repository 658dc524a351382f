//! Counters and gauges of one server, in Prometheus text format.
//!
//! Counters are bumped where things happen; gauges that describe current state (sockets,
//! rooms, queued frames, matches) are read at scrape time, so they can never drift.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A label naming a reason, class, namespace, codec or match.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Label {
    pub(crate) name: String,
}

fn label(name: &str) -> Label {
    Label {
        name: name.to_owned(),
    }
}

/// Server-wide counters shared with every outbox (no per-connection registration).
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub(crate) dropped_volatile: AtomicU64,
    pub(crate) coalesced_latest: AtomicU64,
}

/// The figures a server keeps.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    pub(crate) connections_opened: Counter,
    pub(crate) connection_actors: Gauge,
    pub(crate) disconnects: Family<Label, Counter>,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) inbound_dropped: Family<Label, Counter>,
    refused: Family<Label, Counter>,
    pub(crate) outbox: std::sync::Arc<OutboxCounters>,
    // Read at scrape time.
    connections: Gauge,
    sockets: Family<Label, Gauge>,
    rooms: Family<Label, Gauge>,
    queued_frames: Gauge,
    queued_bytes: Gauge,
    outbound_dropped: Family<Label, Gauge>,
    encodes: Family<Label, Gauge>,
    cluster_messages: Family<Label, Gauge>,
    matches: Gauge,
    match_tick_p99_us: Family<Label, Gauge>,
    match_players: Family<Label, Gauge>,
    match_overruns: Family<Label, Gauge>,
    match_skipped: Family<Label, Gauge>,
    match_bytes_per_tick: Family<Label, Gauge>,
    live_actors: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("tickwire")),
            connections_opened: Counter::default(),
            connection_actors: Gauge::default(),
            disconnects: Family::default(),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            inbound_dropped: Family::default(),
            refused: Family::default(),
            outbox: Default::default(),
            connections: Gauge::default(),
            sockets: Family::default(),
            rooms: Family::default(),
            queued_frames: Gauge::default(),
            queued_bytes: Gauge::default(),
            outbound_dropped: Family::default(),
            encodes: Family::default(),
            cluster_messages: Family::default(),
            matches: Gauge::default(),
            match_tick_p99_us: Family::default(),
            match_players: Family::default(),
            match_overruns: Family::default(),
            match_skipped: Family::default(),
            match_bytes_per_tick: Family::default(),
            live_actors: AtomicI64::new(0),
        };
        {
            let mut r = m.registry.lock();
            r.register(
                "connections_opened",
                "Engine.IO sessions opened",
                m.connections_opened.clone(),
            );
            r.register(
                "connections",
                "Open Engine.IO sessions",
                m.connections.clone(),
            );
            r.register(
                "connection_actors",
                "Live connection actors",
                m.connection_actors.clone(),
            );
            r.register(
                "disconnects",
                "Closed connections by reason",
                m.disconnects.clone(),
            );
            r.register(
                "bytes_in",
                "Bytes received in Engine.IO messages",
                m.bytes_in.clone(),
            );
            r.register(
                "bytes_out",
                "Bytes written to transports",
                m.bytes_out.clone(),
            );
            r.register(
                "inbound_dropped",
                "Inbound messages dropped by limit",
                m.inbound_dropped.clone(),
            );
            r.register(
                "refused",
                "Requests refused by reason: max_connections, max_connections_per_ip, origin",
                m.refused.clone(),
            );
            r.register(
                "sockets",
                "Connected sockets per namespace",
                m.sockets.clone(),
            );
            r.register("rooms", "Rooms with members per namespace", m.rooms.clone());
            r.register(
                "outbound_queued_frames",
                "Frames waiting in outbound queues",
                m.queued_frames.clone(),
            );
            r.register(
                "outbound_queued_bytes",
                "Bytes waiting in outbound queues",
                m.queued_bytes.clone(),
            );
            r.register(
                "outbound_dropped",
                "Outbound frames dropped or coalesced, by class (total)",
                m.outbound_dropped.clone(),
            );
            r.register(
                "encodes",
                "Packets encoded, by codec (total)",
                m.encodes.clone(),
            );
            r.register(
                "cluster_messages",
                "Cluster bus messages by outcome: published, received, queue_full, publish_failed, malformed (total)",
                m.cluster_messages.clone(),
            );
            r.register("matches", "Live match rooms", m.matches.clone());
            r.register(
                "match_tick_p99_us",
                "Tick work p99 per match, microseconds",
                m.match_tick_p99_us.clone(),
            );
            r.register(
                "match_players",
                "Seated players per match",
                m.match_players.clone(),
            );
            r.register(
                "match_overruns",
                "Ticks longer than their period per match (total)",
                m.match_overruns.clone(),
            );
            r.register(
                "match_skipped_ticks",
                "Tick slots skipped per match (total)",
                m.match_skipped.clone(),
            );
            r.register(
                "match_bytes_per_tick",
                "Snapshot bytes queued on the last tick per match",
                m.match_bytes_per_tick.clone(),
            );
        }
        m
    }

    pub(crate) fn actor_started(&self) {
        self.connection_actors.inc();
        self.live_actors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn actor_stopped(&self) {
        self.connection_actors.dec();
        self.live_actors.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn live_actors(&self) -> i64 {
        self.live_actors.load(Ordering::Relaxed)
    }

    pub(crate) fn disconnected(&self, reason: &str) {
        self.disconnects.get_or_create(&label(reason)).inc();
    }

    /// A session or request refused (caps, origin).
    pub(crate) fn refused(&self, reason: &str) {
        self.refused.get_or_create(&label(reason)).inc();
    }

    pub(crate) fn inbound_drop(&self, reason: &str) {
        self.inbound_dropped.get_or_create(&label(reason)).inc();
    }

    /// Set the scrape-time gauges and encode everything.
    pub(crate) fn encode(&self, snapshot: &Snapshot) -> String {
        self.connections.set(snapshot.connections as i64);
        self.queued_frames.set(snapshot.queued_frames as i64);
        self.queued_bytes.set(snapshot.queued_bytes as i64);
        self.sockets.clear();
        self.rooms.clear();
        for (ns, sockets, rooms) in &snapshot.namespaces {
            self.sockets.get_or_create(&label(ns)).set(*sockets as i64);
            self.rooms.get_or_create(&label(ns)).set(*rooms as i64);
        }
        let dropped = |n: &AtomicU64| n.load(Ordering::Relaxed) as i64;
        self.outbound_dropped
            .get_or_create(&label("volatile"))
            .set(dropped(&self.outbox.dropped_volatile));
        self.outbound_dropped
            .get_or_create(&label("latest"))
            .set(dropped(&self.outbox.coalesced_latest));
        for codec in [crate::Codec::Json, crate::Codec::Compact] {
            let name = if codec == crate::Codec::Json {
                "json"
            } else {
                "compact"
            };
            self.encodes
                .get_or_create(&label(name))
                .set(crate::codec::encode_count(codec) as i64);
        }
        for (outcome, count) in &snapshot.cluster {
            self.cluster_messages
                .get_or_create(&label(outcome))
                .set(*count as i64);
        }
        self.matches.set(snapshot.matches.len() as i64);
        for family in [
            &self.match_tick_p99_us,
            &self.match_players,
            &self.match_overruns,
            &self.match_skipped,
            &self.match_bytes_per_tick,
        ] {
            family.clear();
        }
        for (id, m) in &snapshot.matches {
            let l = label(&id.to_string());
            self.match_tick_p99_us
                .get_or_create(&l)
                .set(m.tick_p99_us as i64);
            self.match_players.get_or_create(&l).set(m.players as i64);
            self.match_overruns.get_or_create(&l).set(m.overruns as i64);
            self.match_skipped.get_or_create(&l).set(m.skipped as i64);
            self.match_bytes_per_tick
                .get_or_create(&l)
                .set(m.bytes_last_tick as i64);
        }
        let mut out = String::new();
        let registry = self.registry.lock();
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Scrape-time state gathered by the server.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) connections: usize,
    pub(crate) queued_frames: usize,
    pub(crate) queued_bytes: usize,
    pub(crate) namespaces: Vec<(String, usize, usize)>,
    pub(crate) matches: Vec<(u64, crate::MatchMetrics)>,
    /// Cluster bus messages by outcome (empty on a single node).
    pub(crate) cluster: Vec<(&'static str, u64)>,
}
