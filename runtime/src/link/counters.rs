//! [`BusCounters`]: what a bus between nodes carried, by outcome.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a bus carried, by outcome (the cluster's are read at scrape time as
/// `tickwire_cluster_messages`).
#[derive(Debug, Default)]
pub(crate) struct BusCounters {
    /// Messages this node queued for the bus.
    pub(crate) published: AtomicU64,
    /// `PUBLISH` commands sent to Redis (fewer than messages when they are joined).
    pub(crate) publishes: AtomicU64,
    /// Messages from other nodes this node applied.
    pub(crate) received: AtomicU64,
    /// Messages refused because the publish queue was full.
    pub(crate) queue_full: AtomicU64,
    /// Messages the bus failed to publish (Redis unreachable).
    pub(crate) publish_failed: AtomicU64,
    /// Messages from the bus that did not decode.
    pub(crate) malformed: AtomicU64,
    /// Broadcasts made while Redis was unreachable: delivered here at once, kept for it.
    pub(crate) queued_offline: AtomicU64,
    /// Of those, the ones appended to the stream once Redis answered again.
    pub(crate) flushed: AtomicU64,
    /// Stream entries skipped as already seen (appended twice after a lost reply).
    pub(crate) duplicates: AtomicU64,
    /// Broadcasts replayed to recovering clients.
    pub(crate) replayed: AtomicU64,
    /// Times the stream was found trimmed past this node's position (entries lost).
    pub(crate) gaps: AtomicU64,
    /// Times a subscription fell too far behind and was cut off (what was published until
    /// it resubscribed is lost).
    pub(crate) cut_off: AtomicU64,
}

impl BusCounters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(outcome, count)` pairs for the metrics.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64)> {
        [
            ("published", &self.published),
            ("publishes", &self.publishes),
            ("received", &self.received),
            ("queue_full", &self.queue_full),
            ("publish_failed", &self.publish_failed),
            ("malformed", &self.malformed),
            ("queued_offline", &self.queued_offline),
            ("flushed", &self.flushed),
            ("duplicates", &self.duplicates),
            ("replayed", &self.replayed),
            ("gaps", &self.gaps),
            ("subscription_cut_off", &self.cut_off),
        ]
        .into_iter()
        .map(|(name, counter)| (name, counter.load(Ordering::Relaxed)))
        .collect()
    }
}
