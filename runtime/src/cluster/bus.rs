//! [`Bus`]: the sending half of what carries messages between nodes (in-process, Redis
//! pub/sub, Node's dialect), and the counters of what it carried.

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;

use super::message::Message;
use crate::socketio::SendError;

/// Where a node publishes: the sending half of a bus. Publishing never waits: a bus has a
/// bounded queue and refuses when it is full.
pub(crate) trait Bus: Send + Sync + 'static {
    /// Publish to every node (`to: None`) or to one node's own channel.
    fn publish(&self, to: Option<u64>, message: &Message) -> Result<(), SendError>;
    /// How many nodes answer requests for namespace `nsp` now, this one included.
    fn node_count(&self, nsp: &str) -> BoxFuture<'static, Result<usize, String>>;
    /// A namespace was declared or created on this node after the bus was attached.
    fn namespace_added(&self, _nsp: &str) {}
    /// A namespace created on demand was removed from this node.
    fn namespace_removed(&self, _nsp: &str) {}
}

/// What the bus carried, by outcome (read at scrape time as `tickwire_cluster_messages`).
#[derive(Debug, Default)]
pub(crate) struct ClusterCounters {
    /// Messages this node queued for the bus.
    pub(crate) published: AtomicU64,
    /// Messages from other nodes this node applied.
    pub(crate) received: AtomicU64,
    /// Messages refused because the publish queue was full.
    pub(crate) queue_full: AtomicU64,
    /// Messages the bus failed to publish (Redis unreachable).
    pub(crate) publish_failed: AtomicU64,
    /// Messages from the bus that did not decode.
    pub(crate) malformed: AtomicU64,
}

impl ClusterCounters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(outcome, count)` pairs for the metrics.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64)> {
        [
            ("published", &self.published),
            ("received", &self.received),
            ("queue_full", &self.queue_full),
            ("publish_failed", &self.publish_failed),
            ("malformed", &self.malformed),
        ]
        .into_iter()
        .map(|(name, counter)| (name, counter.load(Ordering::Relaxed)))
        .collect()
    }
}
