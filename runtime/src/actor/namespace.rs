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
        let sid: Arc<str> = sid_from_entropy(rand::random()).into();
        let socket = Socket::new(sid, self.ns.clone(), msg.conn, msg.handshake);
        let middlewares = self.ns.0.setup.middlewares.read().clone();
        if middlewares.is_empty() {
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
            Ok(()) if !conn.outbox.is_closed() => {
                self.ns.insert_socket(&socket);
                (self.ns.0.setup.connect)(socket.clone());
                // One per CONNECT packet, which the client can send once per namespace.
                conn.addr.do_send(Admitted { socket });
            }
            Ok(()) => {}
            Err(error) => conn.addr.do_send(Refused {
                nsp: self.ns.name().to_owned(),
                error,
            }),
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
