//! A websocket run by its connection actor's own task ([`ActorWs`]): a session opened on a
//! websocket of [`crate::Server`] reads, hands its messages to the actor and writes without a
//! task of its own. Each message is handled as it is read (no mailbox in between, no second
//! task to wake), and the connection holds one task instead of two.
//!
//! The actor keeps the websocket while the session lives ([`AttachWs`], [`DriveWs`]). When the
//! session ends, the websocket still has its close frame to write and its client's close to
//! wait for: it finishes in a task of its own ([`detach`]), as the actor stops.
//!
//! Upgrades keep a task per websocket: a probe may arrive on another thread than its
//! session's actor, and its messages go through the actor's mailbox.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix::{ActorFuture, Addr, Handler, Message};

use super::super::connection::{Connection, WsIn};

/// A websocket driven by its connection actor's task: `poll` reads, hands each message to
/// `to` (the actor), and writes; `Ready` once the websocket is done with.
pub(crate) trait ActorWs: Send {
    fn poll(&mut self, cx: &mut Context<'_>, to: &mut dyn FnMut(WsIn)) -> Poll<()>;
}

/// Give `ws` to the actor at `addr`, whose task runs it from then on.
pub(super) fn attach(addr: &Addr<Connection>, ws: Box<dyn ActorWs>) {
    // Once per connection, as it opens: bounded by construction.
    addr.do_send(AttachWs(ws));
}

/// A websocket for the actor's task to run (see [`attach`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AttachWs(pub(crate) Box<dyn ActorWs>);

impl Handler<AttachWs> for Connection {
    type Result = ();
    fn handle(&mut self, msg: AttachWs, ctx: &mut Self::Context) {
        self.on_attach_ws(msg.0, ctx);
    }
}

/// The actor's side of an attached websocket: each time the actor's task runs, the
/// websocket gets its turn ([`Connection::poll_ws`]).
pub(crate) struct DriveWs;

impl ActorFuture<Connection> for DriveWs {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Connection,
        ctx: &mut actix::Context<Connection>,
        task: &mut Context<'_>,
    ) -> Poll<()> {
        act.poll_ws(ctx, task)
    }
}

/// Finish `ws` in a task of its own: its session ended, the actor stops, and what the
/// websocket still reads goes nowhere.
pub(crate) fn detach(ws: Box<dyn ActorWs>) {
    actix_rt::spawn(Detached(ws));
}

struct Detached(Box<dyn ActorWs>);

impl Future for Detached {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.poll(cx, &mut |_| {})
    }
}
