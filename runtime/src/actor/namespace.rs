//! The namespace actor: admits connections (middlewares, then the connect handler).
//!
//! Admission is serialized through one bounded mailbox per namespace, so a connect storm
//! queues at most `NAMESPACE_MAILBOX` requests; beyond that clients are refused with
//! CONNECT_ERROR `server busy`. Middlewares run concurrently (spawned in the actor's
//! context), so a slow async check never blocks other admissions.

use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, WrapFuture};
use tickwire_protocol::engineio::handshake::sid_from_entropy;

use crate::actor::connection::{Admitted, ConnHandle, Refused};
use crate::error::ConnectError;
use crate::namespace::Namespace;
use crate::socket::{Handshake, Socket};

/// Pending admissions one namespace queues before refusing.
pub(crate) const NAMESPACE_MAILBOX: usize = 4096;

pub(crate) struct NamespaceActor {
    ns: Namespace,
}

impl NamespaceActor {
    pub(crate) fn new(ns: Namespace) -> NamespaceActor {
        NamespaceActor { ns }
    }

    fn admit(&mut self, msg: Admit, ctx: &mut Context<Self>) {
        let (socket, skip_middlewares) = self.new_socket(msg);
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

    /// A fresh socket, or the one connection state recovery restores (same id and rooms, the
    /// missed broadcasts queued behind the CONNECT reply). Returns whether middlewares are
    /// skipped.
    fn new_socket(&mut self, msg: Admit) -> (Socket, bool) {
        let Some(log) = &self.ns.0.recovery else {
            let sid: Arc<str> = sid_from_entropy(rand::random()).into();
            let socket = Socket::new(sid, self.ns.clone(), msg.conn, msg.handshake, None, false);
            return (socket, false);
        };
        let auth = &msg.handshake.auth;
        let claim = auth
            .get("pid")
            .and_then(serde_json::Value::as_str)
            .zip(auth.get("offset").and_then(serde_json::Value::as_str));
        let restored = claim.and_then(|(pid, offset)| {
            let restored = log.lock().restore(pid, offset, std::time::Instant::now())?;
            Some((Arc::<str>::from(pid), restored))
        });
        match restored {
            Some((pid, restored)) => {
                let skip = log.lock().config().skip_middlewares;
                let socket = Socket::new(
                    restored.sid,
                    self.ns.clone(),
                    msg.conn,
                    msg.handshake,
                    Some(pid),
                    true,
                );
                for room in restored.rooms {
                    let _ = socket.join(room);
                }
                for frames in restored.missed {
                    let _ = socket.send_frames(&frames, crate::outbox::Class::Reliable);
                }
                (socket, skip)
            }
            None => {
                let sid: Arc<str> = sid_from_entropy(rand::random()).into();
                let pid: Arc<str> = sid_from_entropy(rand::random()).into();
                let socket = Socket::new(
                    sid,
                    self.ns.clone(),
                    msg.conn,
                    msg.handshake,
                    Some(pid),
                    false,
                );
                (socket, false)
            }
        }
    }

    fn finish(&mut self, socket: Socket, result: Result<(), ConnectError>) {
        let conn = socket.inner.conn.clone();
        match result {
            Ok(()) if !conn.outbox.is_closed() => {
                self.ns.insert_socket(&socket);
                (self.ns.0.setup.connect)(socket.clone());
                // One per CONNECT packet, which the client can send once per namespace.
                conn.addr.do_send(Admitted { socket });
            }
            // The connection went away meanwhile: drop what the socket holds (rooms of a
            // restored socket), and keep its session for another try.
            Ok(()) => socket.close(crate::socket::DisconnectReason::TransportClose, false),
            Err(error) => {
                socket.close(
                    crate::socket::DisconnectReason::ServerNamespaceDisconnect,
                    false,
                );
                conn.addr.do_send(Refused {
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

/// A client asks to join the namespace.
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
