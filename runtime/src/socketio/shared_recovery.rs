//! Connection state recovery shared by the nodes of a cluster.
//!
//! With an adapter that keeps one ([`Adapter::shared_recovery`]), sessions and the log of
//! broadcasts live in the bus, not in each namespace's own [`RecoveryLog`]: a client that
//! drops recovers through any node. This layer only persists sessions when sockets drop and
//! asks for them back at admission; the adapter owns the log, the offsets (one order for the
//! whole cluster) and the replay.
//!
//! A restore pauses the adapter's live delivery on this node until the restored socket has
//! entered its namespace (the [`ResumeGuard`] it returns resumes it when dropped): what was
//! replayed and what arrives live then meet without a gap or a duplicate. The pause is
//! capped; a socket that enters after the cap would have missed what was delivered
//! meanwhile, so it starts afresh instead ([`ResumeGuard::expired`]).
//!
//! [`Adapter::shared_recovery`]: super::adapter::Adapter::shared_recovery
//! [`RecoveryLog`]: super::recovery::RecoveryLog

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use super::socket::SocketId;
use crate::engine::Frame;

/// What a dropped socket leaves for its recovery.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionRecord {
    pub(crate) sid: SocketId,
    /// Its rooms, its own (the socket id) included.
    pub(crate) rooms: Vec<String>,
    /// What else the session keeps (the emit ids it answered, as a
    /// [`DedupeState`](super::dedupe::DedupeState)), as JSON; `Null` when nothing.
    pub(crate) extra: Value,
}

/// A session taken back, with every broadcast it missed, in order.
pub(crate) struct SharedRestored {
    pub(crate) session: SessionRecord,
    pub(crate) missed: Vec<Vec<Frame>>,
    /// Hold until the socket has entered its namespace, then drop.
    pub(crate) resume: ResumeGuard,
}

/// The answer to a recovery claim on a shared store.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
pub(crate) enum SharedRestore {
    Restored(SharedRestored),
    /// Unknown or expired session, an offset no longer in the log, or the store unreachable.
    Unknown(&'static str),
    /// The missed broadcasts would not fit the connection's outbound budget.
    TooMuchMissed,
}

/// Recovery kept by the bus, for every node.
pub(crate) trait SharedRecovery: Send + Sync + 'static {
    /// Keep `session` of namespace `nsp` under `pid` for the recovery window. Never waits.
    fn persist(&self, nsp: &str, pid: &str, session: SessionRecord);

    /// Take back session `pid` of `nsp` and what it missed after `offset`, if it costs at
    /// most `budget` bytes of outbound queue. The session is consumed either way.
    fn restore(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
        budget: usize,
    ) -> BoxFuture<'static, SharedRestore>;
}

/// Holds the adapter's live delivery paused while a restored socket enters its namespace.
#[derive(Debug)]
pub(crate) struct ResumeGuard {
    resume: Option<oneshot::Sender<()>>,
    expired: Arc<AtomicBool>,
}

impl ResumeGuard {
    /// A guard whose drop sends on `resume`; the adapter sets `expired` when it stops
    /// waiting.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
    pub(crate) fn new(resume: oneshot::Sender<()>, expired: Arc<AtomicBool>) -> ResumeGuard {
        ResumeGuard {
            resume: Some(resume),
            expired,
        }
    }

    /// The adapter stopped waiting: live delivery went on without this socket.
    pub(crate) fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

impl Drop for ResumeGuard {
    fn drop(&mut self) {
        if let Some(resume) = self.resume.take() {
            let _ = resume.send(());
        }
    }
}
