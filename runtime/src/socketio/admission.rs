//! Admission to a namespace: middlewares, then the connect handler.
//!
//! A namespace with middlewares admits through its actor: one bounded mailbox per namespace,
//! so a connect storm queues at most `NAMESPACE_MAILBOX` requests (beyond that clients are
//! refused with CONNECT_ERROR `server busy`), and middlewares run concurrently (spawned in
//! the actor's context), so a slow async check never blocks other admissions. A namespace
//! without middlewares has nothing to wait for: the connection admits inline
//! ([`new_socket`] then [`enter`]), with no hop to another thread.

use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use tickwire_protocol::engineio::handshake::sid_from_entropy;

use super::disconnect::DisconnectReason;
use super::error::ConnectError;
use super::handshake::Handshake;
use super::namespace::Namespace;
use super::recovery::Restore;
use super::session::ToSession;
use super::socket::Socket;
use crate::engine::{Class, ConnHandle};

/// Pending admissions one namespace queues before refusing.
pub(crate) const NAMESPACE_MAILBOX: usize = 4096;

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

pub(crate) struct NamespaceActor {
    ns: Namespace,
}

impl NamespaceActor {
    pub(crate) fn new(ns: Namespace) -> NamespaceActor {
        NamespaceActor { ns }
    }

    fn admit(&mut self, msg: Admit, ctx: &mut Context<Self>) {
        let (socket, skip_middlewares) = new_socket(&self.ns, msg.conn, msg.handshake);
        let middlewares = self.ns.0.setup.middlewares.read().clone();
        if middlewares.is_empty() || skip_middlewares {
            self.finish(socket, Ok(()));
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
                .map(move |result, act, _| act.finish(socket, result)),
        );
    }

    fn finish(&mut self, socket: Socket, result: Result<(), ConnectError>) {
        let conn = socket.inner.conn.clone();
        match result {
            // One upcall per CONNECT packet, which the client can send once per namespace.
            Ok(()) => match enter(&self.ns, &socket) {
                Ok(()) => conn.upcall(ToSession::Admitted(socket)),
                Err(NotEntered::NamespaceGone) => conn.upcall(ToSession::Refused {
                    nsp: self.ns.name().to_owned(),
                    error: ConnectError::new("Invalid namespace"),
                }),
                Err(NotEntered::ConnectionGone) => {}
            },
            Err(error) => {
                socket.close(DisconnectReason::ServerNamespaceDisconnect, false);
                conn.upcall(ToSession::Refused {
                    nsp: self.ns.name().to_owned(),
                    error,
                });
            }
        }
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
