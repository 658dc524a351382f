//! One server's figures in the Prometheus text format: the engine's counters, the
//! Socket.IO layer's scrape-time gauges, and what other parts add ([`MetricsSource`]: the
//! game's match figures).
//!
//! Counters are bumped where things happen; gauges that describe current state (sockets,
//! rooms, queued frames) are read at scrape time, so they can never drift.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::{label, EngineMetrics, Label};

/// More metric families for a server's endpoint: appends them to the text, in the
/// Prometheus text format, without the final `# EOF`.
pub(crate) type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

/// Scrape-time state gathered by the server.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) connections: usize,
    pub(crate) queued_frames: usize,
    pub(crate) queued_bytes: usize,
    /// Per namespace: its name, sockets and rooms.
    pub(crate) namespaces: Vec<(String, usize, usize)>,
    /// Events encoded per codec (JSON, compact).
    pub(crate) encodes: [u64; 2],
    /// Cluster bus messages by outcome (empty on a single node).
    pub(crate) cluster: Vec<(&'static str, u64)>,
}

/// The figures a server keeps.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    connections: Gauge,
    sockets: Family<Label, Gauge>,
    rooms: Family<Label, Gauge>,
    queued_frames: Gauge,
    queued_bytes: Gauge,
    encodes: Family<Label, Gauge>,
    cluster_messages: Family<Label, Gauge>,
    engine: Arc<EngineMetrics>,
    sources: RwLock<Vec<MetricsSource>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish()
    }
}

impl Metrics {
    pub(crate) fn new(engine: Arc<EngineMetrics>) -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("tickwire")),
            connections: Gauge::default(),
            sockets: Family::default(),
            rooms: Family::default(),
            queued_frames: Gauge::default(),
            queued_bytes: Gauge::default(),
            encodes: Family::default(),
            cluster_messages: Family::default(),
            engine,
            sources: RwLock::new(Vec::new()),
        };
        {
            let mut r = m.registry.lock();
            m.engine.register(&mut r);
            r.register(
                "connections",
                "Open Engine.IO sessions",
                m.connections.clone(),
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
                "encodes",
                "Packets encoded, by codec (total)",
                m.encodes.clone(),
            );
            r.register(
                "cluster_messages",
                "Cluster bus messages by outcome: published, publishes (Redis commands), received, queue_full, publish_failed, malformed, queued_offline, flushed, duplicates, replayed, gaps (total)",
                m.cluster_messages.clone(),
            );
        }
        m
    }

    /// Add `source`'s families to every scrape.
    pub(crate) fn add_source(&self, source: MetricsSource) {
        self.sources.write().push(source);
    }

    /// Set the scrape-time gauges and encode everything.
    pub(crate) fn encode(&self, snapshot: &Snapshot) -> String {
        self.engine.refresh();
        self.connections.set(snapshot.connections as i64);
        self.queued_frames.set(snapshot.queued_frames as i64);
        self.queued_bytes.set(snapshot.queued_bytes as i64);
        self.sockets.clear();
        self.rooms.clear();
        for (ns, sockets, rooms) in &snapshot.namespaces {
            self.sockets.get_or_create(&label(ns)).set(*sockets as i64);
            self.rooms.get_or_create(&label(ns)).set(*rooms as i64);
        }
        for (name, count) in ["json", "compact"].into_iter().zip(snapshot.encodes) {
            self.encodes.get_or_create(&label(name)).set(count as i64);
        }
        for (outcome, count) in &snapshot.cluster {
            self.cluster_messages
                .get_or_create(&label(outcome))
                .set(*count as i64);
        }
        let mut out = String::new();
        {
            let registry = self.registry.lock();
            let _ = prometheus_client::encoding::text::encode_registry(&mut out, &registry);
        }
        for source in self.sources.read().iter() {
            source(&mut out);
        }
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}
