//! The connection actor: one per Engine.IO session, whatever its transport.
//!
//! It drives the sans-IO [`Session`] (heartbeats, upgrade, close), hands messages to its
//! [`SessionHandler`] (the protocol above: Socket.IO, or an echo), and owns the connection's
//! lifecycle. Outbound frames do not pass through its mailbox: producers push
//! into the bounded [`Outbox`], drained by the websocket or the parked poll. A session that
//! opened on a websocket of [`crate::Server`] has its websocket run by this actor's own task
//! ([`ActorWs`], [`Connection::poll_ws`]); when the session ends, the websocket finishes its
//! close in a task of its own.
//!
//! Lifecycle: `open` (polling or websocket) → optionally `upgrading` (a probe websocket) →
//! `closed` (the outbox is closed, sockets disconnect, the registry entry is removed, the
//! actor stops). Every path to `closed` goes through [`Connection::teardown`].

use std::any::Any;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, SpawnHandle};
use bytes::Bytes;
use bytestring::ByteString;
use tickwire_protocol::engineio::{
    payload, CloseReason, Event, Packet, RequestError, Session, TransportKind,
};

use super::cork::Cork;
use super::handle::cut_slow_consumer;
use super::limiter::{InboundLimiter, Verdict};
use super::outbox::{Class, Farewell, Frame, Outbox};
use super::sessions::{Engine, SessionId};
use super::upper::{AfterUpcall, CloseCause, LocalFuture, RequestInfo, SessionHandler};
use super::websocket::{detach, ActorWs, DriveWs, WsLink};
use super::{Codec, ConnHandle};

/// Inbound messages one connection's mailbox holds before its transport reader waits.
pub(crate) const CONNECTION_MAILBOX: usize = 64;

struct Ws {
    id: u64,
    link: Arc<WsLink>,
}

/// What a connection actor starts with: the request that opened the session and the
/// session's handle, for the protocol above, and the websocket it opened on, if it did.
struct Starting {
    request: RequestInfo,
    ws: Option<Ws>,
    /// The session's handle, for the protocol above.
    handle: ConnHandle,
}

pub(crate) struct Connection {
    sid: SessionId,
    engine: Arc<Engine>,
    session: Session,
    outbox: Arc<Outbox>,
    /// The protocol above, opened when the actor starts.
    handler: Option<Box<dyn SessionHandler>>,
    /// What the actor starts with (boxed: the actor lives long, this only until then).
    starting: Option<Box<Starting>>,
    active_ws: Option<u64>,
    /// The websocket probing an upgrade (boxed: most sessions never upgrade, and every
    /// idle one would carry its room).
    probe: Option<Box<Ws>>,
    /// The session's next deadline, and the timer set for it.
    timer: Option<(Instant, SpawnHandle)>,
    /// The protocol above must be established by then, or the connection is closed (the
    /// same timer serves both deadlines: an idle connection keeps one).
    establish_by: Option<Instant>,
    closed: bool,
    /// The client abandoned a parked poll: it is gone, nothing waits for a farewell.
    poll_aborted: bool,
    /// The write timeout armed by the last polling GET (each GET re-arms it: one timer,
    /// however fast a client polls).
    write_timer: Option<SpawnHandle>,
    codec: Codec,
    limiter: InboundLimiter,
    /// The websocket this actor's task runs, if the session opened on one of
    /// [`crate::Server`]'s (see [`ActorWs`]).
    ws: Option<Box<dyn ActorWs>>,
}

impl Connection {
    /// Start a connection actor on the current arbiter. For a websocket session, `ws` is the
    /// socket it starts on; the open packet is queued first.
    pub(crate) fn start(
        engine: Arc<Engine>,
        sid: SessionId,
        transport: TransportKind,
        request: RequestInfo,
        ws: Option<(u64, Arc<WsLink>)>,
        codec: Codec,
    ) -> ConnHandle {
        let config = &engine.config;
        let outbox = Arc::new(Outbox::new(
            transport,
            config.max_buffered_bytes,
            engine.metrics.outbox.clone(),
        ));
        engine.metrics.connections_opened.inc();
        let limiter = InboundLimiter::new(&engine.inbound, Instant::now());
        let session = Session::new(engine.session_config.clone(), transport, Instant::now());
        // The context comes first, for the address: the handle the actor starts its
        // protocol above with is the one the caller gets, so both share one sender.
        let ctx = Context::new();
        let handle = ConnHandle {
            addr: Arc::new(ctx.address()),
            outbox: outbox.clone(),
            codec,
        };
        let actor = Connection {
            sid,
            engine: engine.clone(),
            session,
            outbox,
            handler: None,
            starting: Some(Box::new(Starting {
                request,
                ws: ws.map(|(id, link)| Ws { id, link }),
                handle: handle.clone(),
            })),
            active_ws: None,
            probe: None,
            timer: None,
            establish_by: None,
            closed: false,
            poll_aborted: false,
            write_timer: None,
            codec,
            limiter,
            ws: None,
        };
        ctx.run(actor);
        handle
    }

    /// Run what the session decided: control packets out, events in, the next deadline.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        while let Some(packet) = self.session.poll_transmit() {
            if let Some(text) = packet.encode_text() {
                // The session's own packets (one pending ping, a noop) are bounded by
                // construction: never refused.
                let _ = self
                    .outbox
                    .push(&[Frame::Text(ByteString::from(text))], Class::Protocol);
            }
        }
        while let Some(packet) = self.session.poll_probe_transmit() {
            if let (Some(probe), Some(text)) = (self.probe.as_ref(), packet.encode_text()) {
                probe.link.send(Frame::Text(ByteString::from(text)));
            }
        }
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Message(text) => self.on_message(Frame::Text(ByteString::from(text)), ctx),
                Event::Binary(bytes) => self.on_message(Frame::Binary(bytes), ctx),
                Event::Upgraded => self.upgraded(),
                Event::UpgradeAborted => self.close_probe(),
                Event::Closed(reason) => {
                    let farewell = match reason {
                        CloseReason::TransportClose => Farewell::Noop,
                        _ => Farewell::Close,
                    };
                    self.teardown(reason.into(), farewell, ctx);
                }
            }
        }
        self.reschedule(ctx);
    }

    /// Keep one timer for the session's next deadline. A timer already set no later than
    /// that deadline stays (firing early only re-checks the session and sets the next one),
    /// so a busy connection does not re-arm a timer per message.
    fn reschedule(&mut self, ctx: &mut Context<Self>) {
        if self.establish_by.is_some() && self.handler.as_ref().is_some_and(|h| h.is_established())
        {
            self.establish_by = None;
        }
        let deadline = if self.closed {
            None
        } else {
            match (self.session.poll_timeout(), self.establish_by) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        match (self.timer.as_ref(), deadline) {
            (Some((at, _)), Some(deadline)) if *at <= deadline => return,
            (None, None) => return,
            _ => {}
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(deadline) = deadline {
            let delay = deadline.saturating_duration_since(Instant::now());
            let handle = ctx.run_later(delay, |act, ctx| {
                act.timer = None;
                act.on_deadline(ctx);
            });
            self.timer = Some((deadline, handle));
        }
    }

    /// The timer fired: close a connection whose protocol above is not established in
    /// time, else let the session handle its deadline.
    fn on_deadline(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let late = self.establish_by.is_some_and(|by| now >= by);
        if late && self.handler.as_ref().is_some_and(|h| !h.is_established()) {
            self.teardown(CloseCause::ForcedClose, Farewell::Close, ctx);
            return;
        }
        self.session.handle_timeout(now);
        self.drive(ctx);
    }

    fn on_message(&mut self, frame: Frame, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let limits = &self.engine.inbound;
        let (len, verdict) = match &frame {
            Frame::Text(text) => (text.len(), self.limiter.text(limits, text, now)),
            // A compact packet is one binary message: it pays like a whole text packet.
            Frame::Binary(bytes) if self.codec == Codec::Compact => {
                (bytes.len(), self.limiter.packet(limits, bytes.len(), now))
            }
            Frame::Binary(bytes) => (
                bytes.len(),
                self.limiter.attachment(limits, bytes.len(), now),
            ),
        };
        self.engine.metrics.bytes_in.inc_by(len as u64);
        match verdict {
            Verdict::Accept => {}
            Verdict::Drop => {
                self.engine.metrics.inbound_drop("rate");
                return;
            }
            Verdict::DropPacket => {
                self.engine.metrics.inbound_drop("rate");
                if let Some(handler) = self.handler.as_mut() {
                    handler.abandon_partial();
                }
                return;
            }
            Verdict::Disconnect => {
                tracing::warn!(sid = %self.sid, "client far over its inbound rate limit; disconnecting");
                self.teardown(CloseCause::RateLimited, Farewell::Close, ctx);
                return;
            }
        }
        let result = match self.handler.as_mut() {
            Some(handler) => handler.on_message(frame),
            None => Ok(None),
        };
        match result {
            Ok(Some(handler)) => spawn_handler(handler),
            Ok(None) => {}
            Err(violation) => {
                tracing::debug!(sid = %self.sid, reason = %violation.0, "closing connection: invalid packet");
                self.session.close(CloseReason::ParseError);
                self.drive(ctx);
            }
        }
    }

    fn upgraded(&mut self) {
        self.outbox.set_transport(TransportKind::WebSocket);
        if let Some(ws) = self.probe.take() {
            self.active_ws = Some(ws.id);
            ws.link.activate();
        }
    }

    fn close_probe(&mut self) {
        if self.session.transport() == TransportKind::Polling && !self.closed {
            self.outbox.set_transport(TransportKind::Polling);
        }
        if let Some(ws) = self.probe.take() {
            ws.link.close();
        }
    }

    /// Close everything once: the outbox (polls get `farewell`), the sockets, the probe,
    /// the registry entry; then stop.
    fn teardown(&mut self, cause: CloseCause, farewell: Farewell, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.engine.metrics.disconnected(cause.as_str());
        self.session.close(CloseReason::ForcedClose);
        self.outbox.close(farewell);
        if let Some(handler) = self.handler.as_mut() {
            handler.on_close(cause);
        }
        self.close_probe();
        // Who ends the session decides whether the next poll still finds it: the client's
        // close and a server-side `disconnect(true)` leave a farewell for the next poll to
        // collect, as the reference server does; protocol errors, timeouts and shutdown
        // forget the sid at once.
        let farewell_pending =
            matches!(cause, CloseCause::TransportClose | CloseCause::ForcedClose)
                && self.session.transport() == TransportKind::Polling
                && !self.outbox.poll_parked()
                && !self.poll_aborted;
        if farewell_pending {
            // No poll is parked to carry the farewell (and the next GET may be racing on
            // another worker): keep the sid known until a poll collects it (that poll
            // unregisters), or for one ping timeout at most.
            let (engine, sid) = (self.engine.clone(), self.sid.clone());
            let grace = self.session.config().ping_timeout;
            actix_rt::spawn(async move {
                tokio::time::sleep(grace).await;
                engine.unregister(&sid);
            });
        } else {
            self.engine.unregister(&self.sid);
        }
        if let Some((_, handle)) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(handle) = self.write_timer.take() {
            ctx.cancel_future(handle);
        }
        if let Some(ws) = self.ws.take() {
            // Its close frame is still to be written, and its client's close waited for.
            detach(ws);
        }
        ctx.stop();
    }

    /// The session's websocket is run by this actor's task from now on.
    pub(crate) fn on_attach_ws(&mut self, ws: Box<dyn ActorWs>, ctx: &mut Context<Self>) {
        if self.closed {
            detach(ws);
            return;
        }
        self.ws = Some(ws);
        ctx.spawn(DriveWs);
    }

    /// The attached websocket's turn: its messages are handled as it reads them.
    pub(crate) fn poll_ws(
        &mut self,
        ctx: &mut Context<Self>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        let Some(mut ws) = self.ws.take() else {
            return Poll::Ready(());
        };
        let done = ws.poll(task, &mut |msg| {
            // Once the session has ended, what the websocket still reads goes nowhere.
            if !self.closed {
                self.on_ws(msg, ctx);
            }
        });
        if done.is_ready() {
            if self.outbox.is_slow() {
                // The websocket cut its client as a slow consumer.
                self.teardown(CloseCause::SlowConsumer, Farewell::Close, ctx);
            }
            return done;
        }
        if self.closed {
            // The session ended while the websocket ran.
            detach(ws);
            return Poll::Ready(());
        }
        self.ws = Some(ws);
        Poll::Pending
    }

    fn on_ws(&mut self, msg: WsIn, ctx: &mut Context<Self>) {
        // What the message's handling sends to any websocket leaves in one write per socket.
        let _cork = Cork::new();
        let now = Instant::now();
        self.session.handle_timeout(now);
        let from_probe = self.probe.as_ref().map(|p| p.id) == Some(msg.ws);
        let from_active = self.active_ws == Some(msg.ws);
        match msg.frame {
            WsFrame::Closed | WsFrame::Error if from_probe => self.session.abort_upgrade(),
            WsFrame::Closed if from_active => self
                .session
                .handle_transport_closed(CloseReason::TransportClose),
            WsFrame::Error if from_active => self
                .session
                .handle_transport_closed(CloseReason::TransportError),
            WsFrame::Text(text) if from_probe || from_active => match Packet::decode_text(&text) {
                Ok(packet) if from_probe => match self.session.handle_probe_packet(packet) {
                    Ok(()) if self.session.polls_answer_noop() => self.outbox.set_noop_polls(),
                    Ok(()) => {}
                    Err(_) => self.close_probe(),
                },
                Ok(packet) => {
                    let _ = self.session.handle_packet(now, packet);
                }
                Err(_) if from_probe => self.session.abort_upgrade(),
                Err(_) => self.session.close(CloseReason::ParseError),
            },
            WsFrame::Binary(bytes) if from_active => {
                let _ = self.session.handle_packet(now, Packet::Binary(bytes));
            }
            WsFrame::Binary(_) if from_probe => self.session.abort_upgrade(),
            _ => {}
        }
        self.drive(ctx);
    }

    fn on_post(&mut self, body: &[u8], ctx: &mut Context<Self>) -> Result<(), RequestError> {
        let now = Instant::now();
        self.session.handle_timeout(now);
        if self.session.is_closed() || self.session.transport() != TransportKind::Polling {
            self.drive(ctx);
            return Err(RequestError::SessionIdUnknown);
        }
        let decoded = std::str::from_utf8(body)
            .ok()
            .and_then(|text| payload::decode(text, self.session.config().max_payload).ok());
        let Some(packets) = decoded else {
            self.session.close(CloseReason::ParseError);
            self.drive(ctx);
            return Err(RequestError::BadRequest);
        };
        for packet in packets {
            if self.session.handle_packet(now, packet).is_err() {
                break;
            }
            // Process each message before the next so a close after data sees the data.
            self.drive(ctx);
        }
        self.drive(ctx);
        Ok(())
    }

    fn on_poll_begin(&mut self, ctx: &mut Context<Self>) -> Result<(), RequestError> {
        self.session.handle_timeout(Instant::now());
        if self.session.is_closed() {
            self.drive(ctx);
            return Err(RequestError::SessionIdUnknown);
        }
        if self.session.transport() != TransportKind::Polling {
            return Err(RequestError::BadRequest);
        }
        if self.outbox.set_poll_parked(true) {
            // Two GETs at once: the protocol closes the session; the parked one gets `1`.
            self.session.close(CloseReason::TransportError);
            self.drive(ctx);
            return Err(RequestError::BadRequest);
        }
        self.drive(ctx);
        Ok(())
    }

    fn on_upcall(&mut self, message: Box<dyn Any + Send>, ctx: &mut Context<Self>) {
        let Some(handler) = self.handler.as_mut() else {
            return;
        };
        if let AfterUpcall::Close(cause) = handler.on_upcall(message, self.closed) {
            self.teardown(cause, Farewell::Close, ctx);
        }
    }

    /// A websocket arrived for this session: probe it, if the session can upgrade now.
    fn on_begin_upgrade(
        &mut self,
        ws: u64,
        link: Arc<WsLink>,
        ctx: &mut Context<Self>,
    ) -> Result<(), ()> {
        let result = self.session.begin_upgrade(Instant::now()).map_err(|_| ());
        if result.is_ok() {
            self.probe = Some(Box::new(Ws { id: ws, link }));
        }
        self.drive(ctx);
        result
    }

    fn on_poll_end(&mut self, aborted: bool, ctx: &mut Context<Self>) {
        if aborted {
            // An answered GET unparked itself before its answer went out.
            self.outbox.set_poll_parked(false);
        }
        if self.closed || self.session.transport() != TransportKind::Polling {
            return;
        }
        if aborted {
            self.poll_aborted = true;
            self.session
                .handle_transport_closed(CloseReason::TransportClose);
            self.drive(ctx);
            return;
        }
        self.arm_write_timeout(ctx);
    }

    /// After a GET: if frames are waiting and no GET has come for them within the write
    /// timeout, the client is not draining its queue.
    fn arm_write_timeout(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.write_timer.take() {
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(self.engine.config.write_timeout, |act, ctx| {
            act.write_timer = None;
            let stalled = !act.closed
                && !act.outbox.poll_parked()
                && act.session.transport() == TransportKind::Polling
                && act.outbox.depth().0 > 0;
            if stalled {
                tracing::debug!(sid = %act.sid, "no poll within the write timeout");
                cut_slow_consumer(&act.outbox, Some(&ctx.address()));
            }
        });
        self.write_timer = Some(handle);
    }
}

/// Run an event handler on this worker thread: inline when it finishes on its first poll
/// (most handlers do), as a task when it awaits something. Polling again after a first
/// `Pending` is allowed, and the task's own first poll registers its real waker.
///
/// A handler that panics takes down only its own event: on its first poll the panic is
/// caught here (it would otherwise unwind through this connection's actor and its worker
/// thread), and as a task the runtime catches it.
fn spawn_handler(mut handler: LocalFuture) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.as_mut().poll(&mut cx).is_pending()
    }));
    match first {
        Ok(true) => {
            actix_rt::spawn(handler);
        }
        Ok(false) => {}
        Err(_) => tracing::error!("an event handler panicked; the connection goes on"),
    }
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(CONNECTION_MAILBOX);
        self.engine.metrics.actor_started();
        if let Some(starting) = self.starting.take() {
            let Starting {
                request,
                ws,
                handle,
            } = *starting;
            self.handler = Some(self.engine.upper.open(handle, request));
            if let Some(ws) = ws {
                self.active_ws = Some(ws.id);
                ws.link.activate();
            }
        }
        self.establish_by = self
            .engine
            .upper
            .establish_timeout()
            .map(|timeout| Instant::now() + timeout);
        self.reschedule(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.engine.metrics.actor_stopped();
    }
}

/// A frame (or the end) of one of this connection's websockets.
///
/// Sent with `send().await` by a websocket in a task of its own: when the mailbox is full the
/// reader stops reading, so a flooding client is held back by TCP, not buffered here. A
/// websocket run by the actor's own task hands its frames over directly ([`ActorWs`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct WsIn {
    pub(crate) ws: u64,
    pub(crate) frame: WsFrame,
}

pub(crate) enum WsFrame {
    Text(ByteString),
    Binary(Bytes),
    Closed,
    Error,
}

impl Handler<WsIn> for Connection {
    type Result = ();
    fn handle(&mut self, msg: WsIn, ctx: &mut Self::Context) {
        self.on_ws(msg, ctx);
    }
}

/// A websocket arrived with this session's id: probe it for an upgrade.
///
/// Sent with `send().await` by the websocket handler (one per upgrade request).
#[derive(Message)]
#[rtype(result = "Result<(), ()>")]
pub(crate) struct BeginUpgrade {
    pub(crate) ws: u64,
    pub(crate) link: Arc<WsLink>,
}

impl Handler<BeginUpgrade> for Connection {
    type Result = Result<(), ()>;
    fn handle(&mut self, msg: BeginUpgrade, ctx: &mut Self::Context) -> Result<(), ()> {
        self.on_begin_upgrade(msg.ws, msg.link, ctx)
    }
}

/// A polling GET wants to park. Sent with `send().await` by the GET handler.
#[derive(Message)]
#[rtype(result = "Result<(), RequestError>")]
pub(crate) struct PollBegin;

impl Handler<PollBegin> for Connection {
    type Result = Result<(), RequestError>;
    fn handle(&mut self, _: PollBegin, ctx: &mut Self::Context) -> Self::Result {
        self.on_poll_begin(ctx)
    }
}

/// A parked GET ended: answered, or `aborted` when the client went away before the answer.
///
/// Sent with `do_send` by the GET handler's guard: one per GET, and Engine.IO allows one GET
/// at a time.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PollEnd {
    pub(crate) aborted: bool,
}

impl Handler<PollEnd> for Connection {
    type Result = ();
    fn handle(&mut self, msg: PollEnd, ctx: &mut Self::Context) {
        self.on_poll_end(msg.aborted, ctx);
    }
}

/// A polling POST body. Sent with `send().await` by the POST handler (one at a time).
#[derive(Message)]
#[rtype(result = "Result<(), RequestError>")]
pub(crate) struct PollPost {
    pub(crate) body: Bytes,
}

impl Handler<PollPost> for Connection {
    type Result = Result<(), RequestError>;
    fn handle(&mut self, msg: PollPost, ctx: &mut Self::Context) -> Self::Result {
        self.on_post(&msg.body, ctx)
    }
}

/// A message of the upper's own for the session's handler
/// ([`SessionHandler::on_upcall`]).
///
/// Sent with `do_send` through [`ConnHandle::upcall`]: one per server-side socket event (an
/// admission, a refusal, a server-side disconnect), bounded by what server code does.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Upcall(pub(crate) Box<dyn Any + Send>);

impl Handler<Upcall> for Connection {
    type Result = ();
    fn handle(&mut self, msg: Upcall, ctx: &mut Self::Context) {
        self.on_upcall(msg.0, ctx);
    }
}

/// Tear down for a runtime reason (slow consumer, shutdown, server code). Sent with
/// `do_send`: a slow consumer is cut once (guarded by its flag), shutdowns and closes once
/// per call by server code, and teardown itself happens once.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Kill(pub(crate) CloseCause);

impl Handler<Kill> for Connection {
    type Result = ();
    fn handle(&mut self, msg: Kill, ctx: &mut Self::Context) {
        self.teardown(msg.0, Farewell::Close, ctx);
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// An idle connection is, first of all, its actor's task, for as long as it lives: the
    /// task is the actor's future (actix's context with the actor inside) behind tokio's
    /// header, in allocations of whole 128-byte lines. Up to 656 bytes of future, the task
    /// takes 768 bytes; past that, 896 (benches/README, "Idle memory, byte by byte").
    #[test]
    fn the_actor_task_stays_in_its_size_class() {
        let future = std::mem::size_of::<actix::dev::ContextFut<Connection, Context<Connection>>>();
        assert!(
            future <= 656,
            "the connection actor's future is {future} bytes"
        );
    }
}
