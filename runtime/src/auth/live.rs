//! [`LiveSessions`]: this node's sockets by session id, each with its expiry timer.
//!
//! A socket admitted with a token gets one timer task that waits for the token's expiry and
//! then disconnects it (`tw:unauthorized` `{"code": "expired"}`, then DISCONNECT); a renewal
//! moves the deadline. The entry, and with it the timer (it ends when its deadline's sender
//! is dropped), goes when the socket disconnects: nothing outlives its socket.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::socketio::{Socket, SocketId};

/// One socket holding a token of a session.
struct Live {
    socket: Socket,
    /// The token's expiry (seconds since the epoch), watched by the socket's timer.
    deadline: watch::Sender<u64>,
}

/// This node's sockets by session id (`jti`), then socket id.
#[derive(Default)]
pub(crate) struct LiveSessions {
    by_jti: Mutex<HashMap<String, HashMap<SocketId, Live>>>,
}

impl LiveSessions {
    /// Track `socket` under `jti` until it disconnects; returns the receiver of its deadline
    /// for its timer.
    pub(crate) fn add(&self, jti: &str, socket: &Socket, exp: u64) -> watch::Receiver<u64> {
        let (deadline, rx) = watch::channel(exp);
        self.by_jti
            .lock()
            .entry(jti.to_owned())
            .or_default()
            .insert(
                socket.socket_id(),
                Live {
                    socket: socket.clone(),
                    deadline,
                },
            );
        rx
    }

    /// Forget `socket` (its timer ends).
    pub(crate) fn remove(&self, jti: &str, socket: &SocketId) {
        let mut by_jti = self.by_jti.lock();
        if let Some(sockets) = by_jti.get_mut(jti) {
            sockets.remove(socket);
            if sockets.is_empty() {
                by_jti.remove(jti);
            }
        }
    }

    /// Move the deadline of `socket` to `exp` (after a renewal). False when it is gone.
    pub(crate) fn renewed(&self, jti: &str, socket: &SocketId, exp: u64) -> bool {
        let by_jti = self.by_jti.lock();
        match by_jti.get(jti).and_then(|s| s.get(socket)) {
            Some(live) => {
                live.deadline.send_replace(exp);
                true
            }
            None => false,
        }
    }

    /// The sockets holding a token of `jti`.
    pub(crate) fn sockets_of(&self, jti: &str) -> Vec<Socket> {
        self.by_jti
            .lock()
            .get(jti)
            .map(|s| s.values().map(|l| l.socket.clone()).collect())
            .unwrap_or_default()
    }

    /// How many sockets are tracked.
    pub(crate) fn len(&self) -> usize {
        self.by_jti.lock().values().map(HashMap::len).sum()
    }
}

/// How long from now until `deadline` (seconds since the epoch) plus `leeway`.
fn until(deadline: u64, leeway: Duration) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (Duration::from_secs(deadline) + leeway).saturating_sub(now)
}

/// Wait for the deadline (moved by renewals) and call `expire`; return without calling it
/// once the deadline's sender is gone (the socket disconnected).
pub(crate) async fn expiry_timer(
    mut deadline: watch::Receiver<u64>,
    leeway: Duration,
    expire: impl FnOnce(),
) {
    loop {
        let at = *deadline.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep(until(at, leeway)) => {
                expire();
                return;
            }
            changed = deadline.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
