//! Admission to a namespace: middlewares, then the connect handler.
//!
//! A namespace with middlewares admits through its actor: one bounded mailbox per namespace,
//! so a connect storm queues at most `NAMESPACE_MAILBOX` requests (beyond that clients are
//! refused with CONNECT_ERROR `server busy`), and middlewares run concurrently (spawned in
//! the actor's context), so a slow async check never blocks other admissions. A namespace
//! without middlewares has nothing to wait for: the connection admits inline
//! ([`new_socket`] then [`enter`]), with no hop to another thread, unless the client claims
//! a session kept by the cluster's shared recovery ([`claims_shared_session`]): that takes
//! a round trip to the store, so it goes through the actor too.

use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use tickwire_protocol::engineio::handshake::sid_from_entropy;

use super::disconnect::DisconnectReason;
use super::error::ConnectError;
use super::handshake::Handshake;
use super::namespace::{Namespace, WeakNamespace};
use super::recovery::Restore;
use super::session::ToSession;
use super::shared_recovery::{ResumeGuard, SharedRecovery, SharedRestore};
use super::socket::Socket;
use crate::engine::{Class, ConnHandle};

/// Pending admissions one namespace queues before refusing.
pub(crate) const NAMESPACE_MAILBOX: usize = 4096;

/// The `(pid, offset)` a client claims in its CONNECT auth.
fn recovery_claim(handshake: &Handshake) -> Option<(&str, &str)> {
    let auth = &handshake.auth;
    auth.get("pid")
        .and_then(serde_json::Value::as_str)
        .zip(auth.get("offset").and_then(serde_json::Value::as_str))
}

/// The cluster's shared recovery, when the client claims a session there (recovery on, an
/// adapter that keeps sessions, and a `pid` and `offset` in the auth).
pub(crate) fn claims_shared_session(
    ns: &Namespace,
    handshake: &Handshake,
) -> Option<Arc<dyn SharedRecovery>> {
    ns.0.recovery.as_ref()?;
    recovery_claim(handshake)?;
    ns.adapter().get()?.shared_recovery()
}

/// A fresh socket: a new id, and a new recovery pid when recovery is on.
fn fresh_socket(ns: &Namespace, conn: ConnHandle, handshake: Arc<Handshake>) -> Socket {
    let fresh_id = || -> Arc<str> { sid_from_entropy(rand::random()).into() };
    let pid = ns.0.recovery.as_ref().map(|_| fresh_id());
    Socket::new(fresh_id(), ns.clone(), conn, handshake, pid, false)
}

/// The socket the cluster's shared recovery answered for: restored (same id, rooms, the
/// missed broadcasts queued behind the CONNECT reply, and the guard that holds the live
/// delivery until it has entered), or fresh. Returns whether middlewares are skipped.
fn shared_socket(
    ns: &Namespace,
    conn: ConnHandle,
    handshake: Arc<Handshake>,
    restore: SharedRestore,
) -> (Socket, bool, Option<ResumeGuard>) {
    let Some(pid) = recovery_claim(&handshake).map(|(pid, _)| Arc::<str>::from(pid)) else {
        return (fresh_socket(ns, conn, handshake), false, None);
    };
    let restored = match restore {
        SharedRestore::Restored(restored) => restored,
        SharedRestore::Unknown(why) => {
            tracing::debug!(namespace = ns.name(), why, "recovery: a fresh session");
            return (fresh_socket(ns, conn, handshake), false, None);
        }
        SharedRestore::TooMuchMissed => {
            tracing::warn!(
                namespace = ns.name(),
                "recovery refused: the missed packets exceed the outbound budget"
            );
            return (fresh_socket(ns, conn, handshake), false, None);
        }
    };
    let skip =
        ns.0.recovery
            .as_ref()
            .is_some_and(|log| log.lock().config().skip_middlewares);
    let session = restored.session;
    let socket = Socket::new(session.sid, ns.clone(), conn, handshake, Some(pid), true);
    socket.restore_dedupe_state(serde_json::from_value(session.extra).unwrap_or_default());
    for room in session.rooms {
        let _ = socket.join(room);
    }
    // Within the budget (the store checked it), so none is refused.
    for frames in restored.missed {
        let _ = socket.send_frames(&frames, Class::Reliable);
    }
    (socket, skip, Some(restored.resume))
}

/// A fresh socket, or the one connection state recovery restores (same id and rooms, the
/// missed broadcasts queued behind the CONNECT reply). Returns whether middlewares are
/// skipped (a recovered socket, when so configured).
pub(crate) fn new_socket(
    ns: &Namespace,
    conn: ConnHandle,
    handshake: Arc<Handshake>,
) -> (Socket, bool) {
    let fresh_id = || -> Arc<str> { sid_from_entropy(rand::random()).into() };
    let Some(log) = &ns.0.recovery else {
        return (
            Socket::new(fresh_id(), ns.clone(), conn, handshake, None, false),
            false,
        );
    };
    let auth = &handshake.auth;
    let claim = auth
        .get("pid")
        .and_then(serde_json::Value::as_str)
        .zip(auth.get("offset").and_then(serde_json::Value::as_str));
    let budget = ns.config().max_buffered_bytes;
    let restored = claim.and_then(|(pid, offset)| {
        let now = std::time::Instant::now();
        match log.lock().restore(pid, offset, now, budget) {
            Restore::Restored(restored) => Some((Arc::<str>::from(pid), restored)),
            Restore::Unknown => None,
            Restore::TooMuchMissed => {
                // Replaying part of it would be a gap: a fresh session instead.
                tracing::warn!(
                    namespace = ns.name(),
                    "recovery refused: the missed packets exceed the outbound budget"
                );
                None
            }
        }
    });
    let Some((pid, restored)) = restored else {
        let socket = Socket::new(
            fresh_id(),
            ns.clone(),
            conn,
            handshake,
            Some(fresh_id()),
            false,
        );
        return (socket, false);
    };
    let skip = log.lock().config().skip_middlewares;
    let socket = Socket::new(restored.sid, ns.clone(), conn, handshake, Some(pid), true);
    socket.restore_dedupe_state(restored.dedupe);
    for room in restored.rooms {
        let _ = socket.join(room);
    }
    // Within the budget (checked above), so none is refused.
    for frames in restored.missed {
        let _ = socket.send_frames(&frames, Class::Reliable);
    }
    (socket, skip)
}

/// Why a socket that passed the middlewares did not enter its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotEntered {
    /// The connection went away meanwhile.
    ConnectionGone,
    /// The namespace (a dynamic one, idle past its grace) was removed meanwhile.
    NamespaceGone,
}

/// The socket passed the middlewares: it enters the namespace and the connect handler runs
/// (registering its event handlers before the CONNECT reply goes out). When it cannot
/// enter, what the socket held is released and a restored session is kept for another try.
pub(crate) fn enter(ns: &Namespace, socket: &Socket) -> Result<(), NotEntered> {
    if socket.inner.conn.is_closed() {
        socket.close(DisconnectReason::TransportClose, false);
        return Err(NotEntered::ConnectionGone);
    }
    if !ns.insert_socket(socket) {
        socket.close(DisconnectReason::ServerNamespaceDisconnect, false);
        return Err(NotEntered::NamespaceGone);
    }
    (ns.0.setup.connect)(socket.clone());
    Ok(())
}

/// A namespace's admission actor (see the module's doc).
///
/// It holds its namespace weakly: the namespace holds the actor's address, and actix stops
/// an actor only once no address of it is left, so a strong reference back would keep a
/// namespace its server dropped (a reclaimed dynamic one, a replaced one) alive for ever,
/// with its actor and recovery log. What it is admitting keeps the namespace alive meanwhile
/// (a socket holds its namespace).
pub(crate) struct NamespaceActor {
    ns: WeakNamespace,
    /// The namespace's name, to refuse a request that comes in after it was dropped.
    name: String,
}

impl NamespaceActor {
    pub(crate) fn new(ns: WeakNamespace, name: String) -> NamespaceActor {
        NamespaceActor { ns, name }
    }

    fn admit(&mut self, msg: Admit, ctx: &mut Context<Self>) {
        let Some(ns) = self.ns.upgrade() else {
            // Dropped by its server after the request was queued: as if reclaimed.
            msg.conn.upcall(ToSession::Refused {
                nsp: self.name.clone(),
                error: ConnectError::new("Invalid namespace"),
            });
            return;
        };
        if let Some(shared) = claims_shared_session(&ns, &msg.handshake) {
            let budget = ns.config().max_buffered_bytes;
            let restore = recovery_claim(&msg.handshake)
                .map(|(pid, offset)| shared.restore(ns.name(), pid, offset, budget));
            let Some(restore) = restore else { return };
            ctx.spawn(restore.into_actor(self).map(move |restore, act, ctx| {
                let (socket, skip, guard) = shared_socket(&ns, msg.conn, msg.handshake, restore);
                act.check(socket, skip, guard, ctx);
            }));
            return;
        }
        let (socket, skip_middlewares) = new_socket(&ns, msg.conn, msg.handshake);
        self.check(socket, skip_middlewares, None, ctx);
    }

    /// Run the middlewares (unless skipped), then let the socket in or refuse it.
    fn check(
        &mut self,
        socket: Socket,
        skip_middlewares: bool,
        guard: Option<ResumeGuard>,
        ctx: &mut Context<Self>,
    ) {
        let middlewares = socket.ns().0.setup.middlewares.read().clone();
        if middlewares.is_empty() || skip_middlewares {
            self.finish(socket, Ok(()), guard, ctx);
            return;
        }
        let check = {
            let socket = socket.clone();
            async move {
                for middleware in middlewares {
                    middleware(socket.clone()).await?;
                }
                Ok(())
            }
        };
        ctx.spawn(
            check
                .into_actor(self)
                .map(move |result, act, ctx| act.finish(socket, result, guard, ctx)),
        );
    }

    fn finish(
        &mut self,
        socket: Socket,
        result: Result<(), ConnectError>,
        guard: Option<ResumeGuard>,
        ctx: &mut Context<Self>,
    ) {
        let ns = socket.ns().clone();
        // A restored socket that comes in after the cluster stopped holding its live
        // delivery would have a gap: it starts afresh instead.
        let socket = match &guard {
            Some(guard) if guard.expired() => {
                tracing::warn!(
                    namespace = ns.name(),
                    "recovery dropped: the socket took too long to enter"
                );
                let (conn, handshake) = (socket.inner.conn.clone(), socket.handshake_arc());
                socket.close(DisconnectReason::ServerNamespaceDisconnect, false);
                fresh_socket(&ns, conn, handshake)
            }
            _ => socket,
        };
        let conn = socket.inner.conn.clone();
        match result {
            // One upcall per CONNECT packet, which the client can send once per namespace.
            Ok(()) => match enter(&ns, &socket) {
                Ok(()) => self.hand_over(socket, ctx),
                Err(NotEntered::NamespaceGone) => conn.upcall(ToSession::Refused {
                    nsp: ns.name().to_owned(),
                    error: ConnectError::new("Invalid namespace"),
                }),
                Err(NotEntered::ConnectionGone) => {}
            },
            Err(error) => {
                socket.close(DisconnectReason::ServerNamespaceDisconnect, false);
                conn.upcall(ToSession::Refused {
                    nsp: ns.name().to_owned(),
                    error,
                });
            }
        }
    }

    /// Hand a socket that entered its namespace to its connection's session, which from then
    /// on closes it (on the client's DISCONNECT, or with the connection).
    ///
    /// The connection may end at any point after [`enter`] checked it: before the upcall is
    /// queued, or with the upcall still queued. Either the session's handler gets the socket
    /// (and closes it, at once when the connection is closing, else with the connection), or
    /// the upcall is dropped unhandled and the confirmation says so: the socket is closed
    /// here, so that it leaves its namespace and its disconnect handlers run. Never both, and
    /// never neither: the message is handled or dropped exactly once.
    fn hand_over(&self, socket: Socket, ctx: &mut Context<Self>) {
        let handed = socket
            .inner
            .conn
            .upcall_confirmed(ToSession::Admitted(socket.clone()));
        ctx.spawn(
            async move {
                if !handed.await {
                    socket.close(DisconnectReason::TransportClose, false);
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for NamespaceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(NAMESPACE_MAILBOX);
    }
}

/// A client asks to join a namespace that has middlewares.
///
/// Sent with `try_send` by the connection actor; when the mailbox is full the client gets
/// CONNECT_ERROR `server busy` at once.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Admit {
    pub(crate) conn: ConnHandle,
    pub(crate) handshake: Arc<Handshake>,
}

impl Handler<Admit> for NamespaceActor {
    type Result = ();

    fn handle(&mut self, msg: Admit, ctx: &mut Self::Context) {
        self.admit(msg, ctx);
    }
}
