//! The engine's counters: sessions, bytes, disconnects, refusals and drops. Bumped where
//! things happen; the server's metrics endpoint registers them beside its own.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

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

/// A [`Label`] of `name`.
pub(crate) fn label(name: &str) -> Label {
    Label {
        name: name.to_owned(),
    }
}

/// Counters every outbox of a server shares (no per-connection registration).
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    pub(crate) dropped_volatile: AtomicU64,
    pub(crate) coalesced_latest: AtomicU64,
    /// Bytes written to clients (websocket frames, whoever wrote them, and polling bodies).
    pub(crate) bytes_out: Counter,
}

/// The counters of one server's engine.
#[derive(Debug, Default)]
pub(crate) struct EngineMetrics {
    pub(crate) connections_opened: Counter,
    connection_actors: Gauge,
    live_actors: AtomicI64,
    disconnects: Family<Label, Counter>,
    pub(crate) bytes_in: Counter,
    inbound_dropped: Family<Label, Counter>,
    refused: Family<Label, Counter>,
    pub(crate) outbox: Arc<OutboxCounters>,
    outbound_dropped: Family<Label, Gauge>,
    forwarded: Family<Label, Counter>,
}

impl EngineMetrics {
    /// Register every counter in `registry`.
    pub(crate) fn register(&self, r: &mut Registry) {
        r.register(
            "connections_opened",
            "Engine.IO sessions opened",
            self.connections_opened.clone(),
        );
        r.register(
            "connection_actors",
            "Live connection actors",
            self.connection_actors.clone(),
        );
        r.register(
            "disconnects",
            "Closed connections by reason",
            self.disconnects.clone(),
        );
        r.register(
            "bytes_in",
            "Bytes received in Engine.IO messages",
            self.bytes_in.clone(),
        );
        r.register(
            "bytes_out",
            "Bytes written to transports",
            self.outbox.bytes_out.clone(),
        );
        r.register(
            "inbound_dropped",
            "Inbound messages dropped by limit",
            self.inbound_dropped.clone(),
        );
        r.register(
            "refused",
            "Requests refused by reason: max_connections, max_connections_per_ip, origin",
            self.refused.clone(),
        );
        r.register(
            "outbound_dropped",
            "Outbound frames dropped or coalesced, by class (total)",
            self.outbound_dropped.clone(),
        );
        r.register(
            "forwarded",
            "Requests for sessions of other nodes, by outcome: get, post, websocket (relayed), \
             unknown_owner, unreachable, timeout, bad_answer, registry_down, refused_by_owner",
            self.forwarded.clone(),
        );
    }

    /// Bring the scrape-time figures up to date.
    pub(crate) fn refresh(&self) {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed) as i64;
        self.outbound_dropped
            .get_or_create(&label("volatile"))
            .set(read(&self.outbox.dropped_volatile));
        self.outbound_dropped
            .get_or_create(&label("latest"))
            .set(read(&self.outbox.coalesced_latest));
    }

    pub(crate) fn actor_started(&self) {
        self.connection_actors.inc();
        self.live_actors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn actor_stopped(&self) {
        self.connection_actors.dec();
        self.live_actors.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connection actors alive now.
    pub(crate) fn live_actors(&self) -> i64 {
        self.live_actors.load(Ordering::Relaxed)
    }

    pub(crate) fn disconnected(&self, reason: &str) {
        self.disconnects.get_or_create(&label(reason)).inc();
    }

    pub(crate) fn inbound_drop(&self, reason: &str) {
        self.inbound_dropped.get_or_create(&label(reason)).inc();
    }

    /// A request for another node's session, by outcome.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn forwarded(&self, outcome: &str) {
        self.forwarded.get_or_create(&label(outcome)).inc();
    }

    /// A session or request refused (caps, origin).
    pub(crate) fn refused(&self, reason: &str) {
        self.refused.get_or_create(&label(reason)).inc();
    }
}
