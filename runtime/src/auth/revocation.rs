//! [`Revocations`]: where revoked sessions are kept, and who hears of a revocation.
//!
//! In memory (one node, or the servers of one process sharing it) a bounded map from session
//! id to the last second a token of it can be valid; with Redis (feature `redis`) one key per
//! revoked session with that expiry, and a pub/sub channel that tells every node at once.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use super::error::RevokeError;
use super::token::unix_secs;

/// Longest session id a revocation takes, in bytes (the runtime's own are 32).
pub(crate) const MAX_JTI_BYTES: usize = 128;

/// What a node does when it hears that a session was revoked (anywhere in the cluster).
pub(crate) type Listener = dyn Fn(&str) + Send + Sync;

/// A store of revoked sessions.
pub(crate) trait Store: Send + Sync + 'static {
    /// Keep `jti` revoked until `until` (seconds since the epoch), and tell every listener
    /// (of every node).
    fn revoke(&self, jti: String, until: u64) -> BoxFuture<'static, Result<(), RevokeError>>;
    /// Whether `jti` is revoked; an error when the store cannot be read.
    fn is_revoked(&self, jti: String) -> BoxFuture<'static, Result<bool, String>>;
    /// Call `listener` with each session revoked from now on, for as long as it lives.
    fn listen(&self, listener: Weak<Listener>);
}

/// Where revoked sessions are kept: [`Revocations::memory`] on one node,
/// `Revocations::redis` across a cluster. Clones share the same list.
#[derive(Clone)]
pub struct Revocations(pub(crate) Arc<dyn Store>);

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revocations")
    }
}

impl Revocations {
    /// A list in this process holding at most `capacity` revoked sessions that could still
    /// have a valid token (each is forgotten once no token of it can be valid). A revocation
    /// beyond the capacity is refused with [`RevokeError::Full`], never by forgetting another.
    /// Servers of one process that share it (clones) refuse each other's revoked tokens.
    pub fn memory(capacity: usize) -> Revocations {
        Revocations(Arc::new(MemoryStore {
            list: Mutex::new(RevokedList::new(capacity)),
            listeners: Listeners::default(),
        }))
    }
}

/// Listeners, each held weakly: one that is gone is dropped at the next call.
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Weak<Listener>>>);

impl Listeners {
    pub(crate) fn add(&self, listener: Weak<Listener>) {
        self.0.lock().push(listener);
    }

    pub(crate) fn notify(&self, jti: &str) {
        let live: Vec<Arc<Listener>> = {
            let mut listeners = self.0.lock();
            listeners.retain(|l| l.strong_count() > 0);
            listeners.iter().filter_map(Weak::upgrade).collect()
        };
        for listener in live {
            listener(jti);
        }
    }
}

/// Revoked session ids and until when they matter, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct RevokedList {
    until: HashMap<String, u64>,
    capacity: usize,
}

impl RevokedList {
    pub(crate) fn new(capacity: usize) -> RevokedList {
        RevokedList {
            until: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keep `jti` until `until`; when full, forget what lapsed at `now` first.
    pub(crate) fn revoke(&mut self, jti: String, until: u64, now: u64) -> Result<(), RevokeError> {
        if until <= now {
            return Ok(());
        }
        if let Some(kept) = self.until.get_mut(&jti) {
            *kept = (*kept).max(until);
            return Ok(());
        }
        if self.until.len() >= self.capacity {
            self.until.retain(|_, until| *until > now);
            if self.until.len() >= self.capacity {
                return Err(RevokeError::Full);
            }
        }
        self.until.insert(jti, until);
        Ok(())
    }

    pub(crate) fn contains(&self, jti: &str, now: u64) -> bool {
        self.until.get(jti).is_some_and(|until| *until > now)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

struct MemoryStore {
    list: Mutex<RevokedList>,
    listeners: Listeners,
}

impl Store for MemoryStore {
    fn revoke(&self, jti: String, until: u64) -> BoxFuture<'static, Result<(), RevokeError>> {
        let now = unix_secs(SystemTime::now());
        let stored = self.list.lock().revoke(jti.clone(), until, now);
        if stored.is_ok() {
            self.listeners.notify(&jti);
        }
        Box::pin(std::future::ready(stored))
    }

    fn is_revoked(&self, jti: String) -> BoxFuture<'static, Result<bool, String>> {
        let now = unix_secs(SystemTime::now());
        let revoked = self.list.lock().contains(&jti, now);
        Box::pin(std::future::ready(Ok(revoked)))
    }

    fn listen(&self, listener: Weak<Listener>) {
        self.listeners.add(listener);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_lasts_until_its_tokens_cannot_be_valid() {
        let mut list = RevokedList::new(2);
        list.revoke("a".into(), 100, 10).unwrap();
        assert!(list.contains("a", 99));
        assert!(!list.contains("a", 100));
        assert!(!list.contains("b", 50));
        // Already lapsed: nothing to keep.
        list.revoke("old".into(), 5, 10).unwrap();
        assert_eq!(list.len(), 1);
        // Revoked again: the later bound wins.
        list.revoke("a".into(), 200, 10).unwrap();
        assert!(list.contains("a", 150));
    }

    #[test]
    fn a_full_list_forgets_lapsed_entries_and_refuses_rather_than_forget_live_ones() {
        let mut list = RevokedList::new(2);
        list.revoke("a".into(), 100, 0).unwrap();
        list.revoke("b".into(), 50, 0).unwrap();
        assert_eq!(list.revoke("c".into(), 100, 10), Err(RevokeError::Full));
        assert!(list.contains("a", 10) && list.contains("b", 10));
        // Once `b` lapsed, `c` takes its place.
        list.revoke("c".into(), 100, 60).unwrap();
        assert!(list.contains("a", 60) && list.contains("c", 60));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn listeners_hear_revocations_while_they_live() {
        let store = Revocations::memory(8);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let listener: Arc<Listener> = {
            let heard = heard.clone();
            Arc::new(move |jti: &str| heard.lock().push(jti.to_owned()))
        };
        store.0.listen(Arc::downgrade(&listener));
        let far = unix_secs(SystemTime::now()) + 3600;
        futures_util::FutureExt::now_or_never(store.0.revoke("j1".into(), far))
            .unwrap()
            .unwrap();
        assert_eq!(*heard.lock(), vec!["j1".to_owned()]);
        drop(listener);
        futures_util::FutureExt::now_or_never(store.0.revoke("j2".into(), far))
            .unwrap()
            .unwrap();
        assert_eq!(heard.lock().len(), 1);
        let revoked = futures_util::FutureExt::now_or_never(store.0.is_revoked("j2".into()));
        assert_eq!(revoked, Some(Ok(true)));
    }
}
