//! [`WsCore`]: one websocket's work, whatever carries its bytes: the client's frames parsed
//! and handed to the connection actor (straight to it when the actor's task runs the
//! websocket; otherwise through its mailbox, and reading stops while that is full), pings
//! answered, and the outbox framed into one buffer for one write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix::prelude::SendError;
use actix::{Addr, MailboxError};
use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use bytes::BytesMut;
use bytestring::ByteString;

use super::super::connection::{Connection, WsFrame, WsIn};
use super::super::outbox::{Drained, Outbox};
use super::super::sessions::Engine;
use super::frame::{write_outbox_frame, write_ws_frame};
use super::link::WsLink;

/// Frames one poll handles before it yields to the other connections of its thread.
pub(super) const FRAMES_PER_POLL: usize = 128;

/// The longest websocket frame header: 2 bytes, a 64-bit length, a 4-byte mask.
const MAX_FRAME_HEADER: usize = 14;

/// Outbound bytes one poll frames before it lets the dispatcher write them.
pub(super) const CHUNK_BYTES: usize = 64 * 1024;

type Delivery = Pin<Box<dyn Future<Output = Result<(), MailboxError>> + Send>>;

/// Where a websocket's messages go.
pub(super) enum Deliver<'a> {
    /// The actor's mailbox: the websocket runs in a task of its own (an upgrade's probe, or
    /// a websocket inside actix-web's dispatcher). A full mailbox pauses reading.
    Mailbox,
    /// The actor itself, whose task runs the websocket ([`super::ActorWs`]): each message is
    /// handled as it is read, with no queue in between.
    Actor(&'a mut dyn FnMut(WsIn)),
}

/// One websocket's work, whatever carries its bytes: frames in to the actor, the outbox out
/// as frames. Driven by [`WsBody`] (inside actix-web's dispatcher) or [`RawWs`] (on a socket
/// taken over at the upgrade).
pub(crate) struct WsCore {
    pub(super) id: u64,
    /// What the actor says to this websocket until the session writes through it (then
    /// the outbox says everything, and the link is let go).
    pub(super) link: Option<Arc<WsLink>>,
    pub(super) outbox: Arc<Outbox>,
    /// The actor's mailbox, for a websocket in a task of its own. `None` once the actor's
    /// own task runs the websocket: its messages are handed over directly, and the actor
    /// learns how it ended when it is done.
    pub(super) addr: Option<Addr<Connection>>,
    /// The server: its limits and counters.
    pub(super) engine: Arc<Engine>,
    /// The client's bytes are still read (not after a close, an error or the end).
    pub(super) reading: bool,
    /// Received bytes not yet parsed into a whole frame.
    pub(super) inbuf: BytesMut,
    /// A fragmented message being reassembled: its opcode and the bytes so far (boxed: most
    /// websockets never see one, and every idle one would carry its room).
    pub(super) fragments: Option<Box<(OpCode, BytesMut)>>,
    /// A frame waiting for room in the actor's mailbox: nothing else is read meanwhile.
    pub(super) delivery: Option<Delivery>,
    /// The actor was told this websocket ended.
    pub(super) told_end: bool,
    /// The session writes through this websocket (seen on the link once; it never reverts).
    pub(super) active: bool,
    /// Framed bytes for the dispatcher to write: handed over whole (no copy, no shared
    /// buffer to keep), so an idle websocket holds no write buffer either.
    pub(super) out: Vec<u8>,
    pub(super) drained: Drained,
    /// A close frame is written: end once it is out.
    pub(super) finished: bool,
}

impl WsCore {
    pub(super) fn new(
        id: u64,
        link: Arc<WsLink>,
        outbox: Arc<Outbox>,
        addr: Addr<Connection>,
        engine: &Arc<Engine>,
    ) -> WsCore {
        WsCore {
            id,
            link: Some(link),
            outbox,
            addr: Some(addr),
            engine: engine.clone(),
            reading: true,
            inbuf: BytesMut::new(),
            fragments: None,
            delivery: None,
            told_end: false,
            active: false,
            out: Vec::new(),
            drained: Drained::default(),
            finished: false,
        }
    }

    /// The largest message the client may send.
    fn max_payload(&self) -> usize {
        self.engine.config.engine.max_payload
    }

    /// Read and hand over the client's frames until `fill` has no more bytes, the mailbox is
    /// full, the output is large enough to be written first, or this poll's budget is spent.
    /// `fill` appends what arrived: `Ready(true)`, or `Ready(false)` once the peer is gone.
    pub(super) fn read(
        &mut self,
        cx: &mut Context<'_>,
        to: &mut Deliver<'_>,
        mut fill: impl FnMut(&mut Context<'_>, &mut BytesMut) -> Poll<bool>,
    ) -> bool {
        let mut budget = FRAMES_PER_POLL;
        loop {
            if let Some(delivery) = self.delivery.as_mut() {
                match delivery.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => self.delivery = None,
                    Poll::Ready(Err(_)) => {
                        self.delivery = None;
                        self.end(to, None);
                        return false;
                    }
                    Poll::Pending => return false,
                }
            }
            if !self.reading {
                return false;
            }
            if self.out.len() >= CHUNK_BYTES {
                // The caller writes first, then reads on.
                return true;
            }
            if budget == 0 {
                // More may be buffered: come back after the others had their turn.
                cx.waker().wake_by_ref();
                return false;
            }
            let max_payload = self.max_payload();
            match Parser::parse(&mut self.inbuf, true, max_payload) {
                Ok(Some((fin, opcode, data))) => {
                    budget -= 1;
                    self.on_frame(to, fin, opcode, data.unwrap_or_default());
                    continue;
                }
                // An unfinished frame already longer than any allowed one: refuse it now,
                // rather than buffer what its header announces.
                Ok(None) if self.inbuf.len() > max_payload + MAX_FRAME_HEADER => {
                    self.protocol_error(to, &ProtocolError::Overflow);
                    return false;
                }
                Ok(None) => {}
                Err(error) => {
                    self.protocol_error(to, &error);
                    return false;
                }
            }
            if self.inbuf.is_empty() {
                // Nothing partial is held: an idle websocket keeps no read buffer.
                self.inbuf = BytesMut::new();
            }
            match fill(cx, &mut self.inbuf) {
                Poll::Ready(true) => {}
                // The peer went away: a transport close, like a close frame.
                Poll::Ready(false) => {
                    self.end(to, None);
                    return false;
                }
                Poll::Pending => return false,
            }
        }
    }

    fn on_frame(&mut self, to: &mut Deliver<'_>, fin: bool, opcode: OpCode, data: BytesMut) {
        match opcode {
            OpCode::Ping => write_ws_frame(&mut self.out, OpCode::Pong, &data),
            OpCode::Pong => {}
            OpCode::Close => {
                // Answer with the client's own code, then end.
                let code = Parser::try_parse_close_payload(&data)
                    .ok()
                    .flatten()
                    .map(|reason| reason.code);
                self.end(to, code.map(CloseReason::from));
            }
            OpCode::Text | OpCode::Binary if self.fragments.is_some() => {
                self.protocol_error(to, &ProtocolError::ContinuationNotStarted);
            }
            OpCode::Text | OpCode::Binary if !fin => {
                self.fragments = Some(Box::new((opcode, data)))
            }
            OpCode::Text | OpCode::Binary => self.message(to, opcode, data),
            OpCode::Continue => match self.fragments.take() {
                None => self.protocol_error(to, &ProtocolError::ContinuationNotStarted),
                Some(fragments) if fragments.1.len() + data.len() > self.max_payload() => {
                    self.protocol_error(to, &ProtocolError::Overflow);
                }
                Some(mut fragments) => {
                    fragments.1.extend_from_slice(&data);
                    if fin {
                        let (first, so_far) = *fragments;
                        self.message(to, first, so_far);
                    } else {
                        self.fragments = Some(fragments);
                    }
                }
            },
            OpCode::Bad => self.protocol_error(to, &ProtocolError::BadOpCode),
        }
    }

    /// A whole message: to the actor, or wait for its mailbox to have room.
    fn message(&mut self, to: &mut Deliver<'_>, opcode: OpCode, data: BytesMut) {
        let frame = if opcode == OpCode::Text {
            match ByteString::try_from(data.freeze()) {
                Ok(text) => WsFrame::Text(text),
                Err(_) => {
                    self.fail(to, CloseCode::Invalid, "invalid utf-8 in a text frame");
                    return;
                }
            }
        } else {
            WsFrame::Binary(data.freeze())
        };
        let msg = WsIn { ws: self.id, frame };
        let closed = match (&mut *to, &self.addr) {
            (Deliver::Actor(actor), _) => {
                actor(msg);
                false
            }
            (Deliver::Mailbox, Some(addr)) => match addr.try_send(msg) {
                Ok(()) => false,
                Err(SendError::Full(msg)) => {
                    self.delivery = Some(Box::pin(addr.send(msg)));
                    false
                }
                Err(SendError::Closed(_)) => true,
            },
            (Deliver::Mailbox, None) => true,
        };
        if closed {
            // The actor is gone.
            self.end(to, None);
        }
    }

    /// Tell the actor how this websocket ended, once.
    fn tell_end(&mut self, to: &mut Deliver<'_>, frame: WsFrame) {
        if self.told_end {
            return;
        }
        self.told_end = true;
        let msg = WsIn { ws: self.id, frame };
        match (to, &self.addr) {
            (Deliver::Actor(actor), _) => actor(msg),
            // Once per websocket: bounded by construction.
            (Deliver::Mailbox, Some(addr)) => addr.do_send(msg),
            (Deliver::Mailbox, None) => {}
        }
    }

    fn protocol_error(&mut self, to: &mut Deliver<'_>, error: &ProtocolError) {
        tracing::debug!(%error, "websocket protocol error");
        match error {
            ProtocolError::Overflow => self.fail(to, CloseCode::Size, "message too big"),
            _ => self.fail(to, CloseCode::Protocol, "websocket protocol error"),
        }
    }

    /// Close with `code` and tell the actor this websocket failed.
    fn fail(&mut self, to: &mut Deliver<'_>, code: CloseCode, description: &str) {
        self.tell_end(to, WsFrame::Error);
        let reason = CloseReason {
            code,
            description: Some(description.to_owned()),
        };
        self.stop(Some(reason));
    }

    /// The websocket ended (a close frame, the peer gone, the actor gone): tell the actor,
    /// answer with a close frame and stop.
    pub(super) fn end(&mut self, to: &mut Deliver<'_>, reason: Option<CloseReason>) {
        self.tell_end(to, WsFrame::Closed);
        self.stop(reason);
    }

    /// Write the close frame (once) and read no more.
    pub(super) fn stop(&mut self, reason: Option<CloseReason>) {
        self.reading = false;
        self.delivery = None;
        self.fragments = None;
        self.inbuf = BytesMut::new();
        if !self.finished {
            self.finished = true;
            let mut body = Vec::new();
            if let Some(reason) = reason {
                body.extend_from_slice(&u16::from(reason.code).to_be_bytes());
                body.extend_from_slice(reason.description.unwrap_or_default().as_bytes());
            }
            write_ws_frame(&mut self.out, OpCode::Close, &body);
        }
    }

    /// Frame what is to be sent: probe answers, then (once active) the outbox.
    pub(super) fn write(&mut self, cx: &mut Context<'_>) {
        if self.finished {
            return;
        }
        let mut close = false;
        if let (false, Some(link)) = (self.active, self.link.as_ref()) {
            // Until the session moves here, the link says what to write (once active, the
            // outbox says everything, closing included).
            let direct = {
                let mut st = link.state.lock();
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                self.active = st.active;
                close = st.close;
                std::mem::take(&mut st.direct)
            };
            for frame in &direct {
                write_outbox_frame(&mut self.out, frame);
            }
            if self.active {
                // Nothing more comes on the link: an active websocket does not keep it.
                self.link = None;
            }
        }
        if self.active {
            match self.outbox.poll_ws(cx, &mut self.drained) {
                Poll::Ready(true) => {
                    let before = self.out.len();
                    let out = &mut self.out;
                    self.drained
                        .for_each(|frame| write_outbox_frame(out, frame));
                    self.engine
                        .metrics
                        .outbox
                        .bytes_out
                        .inc_by((self.out.len() - before) as u64);
                }
                Poll::Ready(false) => close = true,
                Poll::Pending => {}
            }
        }
        if close {
            // Closed by the server: the client learns it with a close frame, the actor
            // already knows.
            self.told_end = true;
            self.stop(None);
        }
    }
}

impl Drop for WsCore {
    fn drop(&mut self) {
        // The socket was dropped (an I/O error, a server shutdown): once per
        // websocket, the actor learns it ended.
        if let (false, Some(addr)) = (self.told_end, &self.addr) {
            addr.do_send(WsIn {
                ws: self.id,
                frame: WsFrame::Closed,
            });
        }
    }
}
