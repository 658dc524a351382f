//! [`ConnHandle`]: what the protocol above holds of a session to write to it.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use actix::Addr;

use super::connection::{Connection, Kill, Upcall};
use super::outbox::{Class, Farewell, Frame, Outbox, Overflow};
use super::upper::CloseCause;
use super::Codec;

/// A session's address and its outbound queue. Cheap to clone; every clone is the same
/// session.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    /// The actor's address, one for every holder of the session (the server's registry,
    /// its Socket.IO session, its sockets): a clone of an actix address allocates a sender
    /// of its own, and every connection would carry one per holder. Whoever needs a sender
    /// of its own (the websocket, which waits on a full mailbox) clones the address inside.
    pub(crate) addr: Arc<Addr<Connection>>,
    pub(crate) outbox: Arc<Outbox>,
    /// The codec the session chose at its handshake.
    pub(crate) codec: Codec,
}

impl ConnHandle {
    /// Queue `frames` in `class`; over the byte budget, the client is cut as a slow
    /// consumer and the frames are refused.
    #[inline]
    pub(crate) fn send(&self, frames: &[Frame], class: Class) -> Result<(), Overflow> {
        self.outbox
            .push(frames, class)
            .inspect_err(|_| self.slow_consumer())
    }

    /// Queue the newest state for `key` (latest class: an older frame of the same key still
    /// queued is replaced).
    #[inline]
    pub(crate) fn send_latest(&self, key: u64, frame: Frame) {
        self.outbox.push_latest(key, frame);
    }

    /// The client does not drain its outbound queue: stop writing at once, and have the
    /// session close.
    pub(crate) fn slow_consumer(&self) {
        cut_slow_consumer(&self.outbox, Some(&self.addr));
    }

    /// Hand the session's handler `message` on the session's own thread
    /// ([`SessionHandler::on_upcall`](super::SessionHandler::on_upcall)).
    ///
    /// `do_send`: callers send at most one per socket event of their own (an admission, a
    /// server-side disconnect), so the volume is bounded by what server code does.
    pub(crate) fn upcall(&self, message: impl Any + Send) {
        self.addr.do_send(Upcall(Box::new(message)));
    }

    /// As [`ConnHandle::upcall`], for a message the session must not lose (an admitted
    /// socket, which only the session closes once it has it): queued at once, in order
    /// with the other upcalls, and the future resolves to whether the session's handler
    /// got it. False when the session ended first (the message was dropped unhandled): what
    /// it carried is then the caller's to release. Await it to the end: dropping it
    /// cancels the message.
    pub(crate) fn upcall_confirmed(&self, message: impl Any + Send) -> impl Future<Output = bool> {
        // A sender of its own: `send` may park the sender it uses (a full mailbox), and a
        // parked sender defers the next message it is given, out of order; a new one
        // never is parked. Dropped at once, after queueing.
        let request = Addr::clone(&self.addr).send(Upcall(Box::new(message)));
        async move { request.await.is_ok() }
    }

    /// Close the session for `cause` (once: later calls do nothing).
    ///
    /// `do_send`: one per call by server code (a shutdown, an explicit close).
    pub(crate) fn close(&self, cause: CloseCause) {
        self.addr.do_send(Kill(cause));
    }

    /// Whether the session has closed (or is closing).
    pub(crate) fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }
}

/// Cut a client that does not drain `outbox` (over its byte budget, or no write progress
/// within the write timeout): nothing more is written, and the session closes. The actor
/// at `addr` is told; `None` is the actor whose own task runs the websocket that cuts, and
/// which learns it when that websocket ends.
pub(crate) fn cut_slow_consumer(outbox: &Outbox, addr: Option<&Addr<Connection>>) {
    if outbox.mark_slow() {
        tracing::warn!("client does not drain its outbound queue; disconnecting (slow consumer)");
        outbox.close(Farewell::Close);
        if let Some(addr) = addr {
            // Once per connection (guarded by the flag above).
            addr.do_send(Kill(CloseCause::SlowConsumer));
        }
    }
}
