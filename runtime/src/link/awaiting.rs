//! [`Awaiting`]: the requests a node waits on replies to from other nodes, by request id.
//!
//! An entry leaves the map when the request that made it ends, however it ends: answered,
//! timed out, or its future dropped by a caller that stopped waiting (a `timeout` around a
//! cluster call, a `select!` that took another branch). So no caller can leave one behind,
//! and the map holds only requests someone still awaits.

use std::collections::HashMap;

use parking_lot::Mutex;

/// Requests awaiting replies, each with the sender its replies go to.
pub(crate) struct Awaiting<V> {
    map: Mutex<HashMap<u64, V>>,
}

impl<V> Default for Awaiting<V> {
    fn default() -> Self {
        Awaiting {
            map: Mutex::new(HashMap::new()),
        }
    }
}

/// One request's entry: removed when this is dropped.
#[must_use = "the entry is removed when this is dropped"]
pub(crate) struct Awaited<'a, V> {
    awaiting: &'a Awaiting<V>,
    id: u64,
}

impl<V> Awaiting<V> {
    /// Await replies to request `id` through `sender`, until the returned entry is dropped.
    pub(crate) fn insert(&self, id: u64, sender: V) -> Awaited<'_, V> {
        self.map.lock().insert(id, sender);
        Awaited { awaiting: self, id }
    }

    /// The sender of request `id`, taken out (a request answered once).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // the game cluster's
    pub(crate) fn take(&self, id: u64) -> Option<V> {
        self.map.lock().remove(&id)
    }

    /// Run `f` on the sender of request `id`, if it is still awaited (a request answered
    /// by several replies).
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.map.lock().get(&id).map(f)
    }

    /// Requests awaited now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

impl<V> Drop for Awaited<'_, V> {
    fn drop(&mut self) {
        self.awaiting.map.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_leaves_when_its_request_ends_answered_or_not() {
        let awaiting: Awaiting<&str> = Awaiting::default();
        let answered = awaiting.insert(1, "one");
        let abandoned = awaiting.insert(2, "two");
        assert_eq!(awaiting.len(), 2);
        assert_eq!(awaiting.with(2, |s| s.len()), Some(3));
        assert_eq!(awaiting.take(1), Some("one"));
        drop(answered);
        // Dropped unanswered (its caller stopped waiting): gone too.
        drop(abandoned);
        assert_eq!(awaiting.len(), 0);
        assert_eq!(awaiting.with(2, |s| s.len()), None);
    }

    #[test]
    fn a_reply_after_its_request_ended_finds_nothing() {
        let awaiting: Awaiting<u8> = Awaiting::default();
        drop(awaiting.insert(7, 0));
        assert_eq!(awaiting.take(7), None);
    }
}
