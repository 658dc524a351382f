//! WebSocket: a session opened directly on websocket, or an upgrade of a polling session.
//!
//! A websocket has no task of its own. It is the streaming body of the `101` response, so the
//! HTTP dispatcher that owns the socket polls it, and each poll does all the websocket's work:
//! - parse the client's frames out of the request payload and hand them to the connection
//!   actor (when its bounded mailbox is full, reading stops and the rest waits in TCP);
//! - answer pings;
//! - frame whatever the outbox holds into one chunk, which the dispatcher writes with one
//!   syscall.
//!
//! A frame pushed from any thread thus reaches the socket in one wake of the connection's
//! own dispatcher task, with no channel or writer task in between.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix::prelude::SendError;
use actix::{Addr, MailboxError};
use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use actix_web::body::{BodySize, MessageBody};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use parking_lot::Mutex;
use tickwire_protocol::engineio::{OpenPacket, RequestError, TransportKind};

use super::{base_handshake, error_response, new_sid};
use crate::actor::connection::{BeginUpgrade, Connection, WsFrame, WsIn};
use crate::codec::Codec;
use crate::metrics::Metrics;
use crate::outbox::{Class, Drained, Frame, Outbox};
use crate::server::ServerInner;

/// Frames one poll handles before it yields to the other connections of its thread.
const FRAMES_PER_POLL: usize = 128;

/// Outbound bytes one poll frames before it lets the dispatcher write them.
const CHUNK_BYTES: usize = 64 * 1024;

pub(super) fn open(
    req: &HttpRequest,
    body: web::Payload,
    query: Vec<(String, String)>,
    server: Arc<ServerInner>,
    codec: Codec,
) -> HttpResponse {
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return error_response(RequestError::BadRequest);
    };
    let sid = new_sid();
    let engine = server.config.engine;
    let open = OpenPacket {
        sid: &sid,
        upgrades: OpenPacket::upgrades_for(TransportKind::WebSocket),
        ping_interval: engine.ping_interval.as_millis() as u64,
        ping_timeout: engine.ping_timeout.as_millis() as u64,
        max_payload: engine.max_payload as u64,
    }
    .encode();
    let ws_id = server.next_ws_id();
    // The session starts on this websocket: it writes the outbox from its first poll.
    let link = WsLink::new(true);
    let handle = Connection::start(
        server.clone(),
        sid.clone(),
        TransportKind::WebSocket,
        base_handshake(req, query),
        Some((ws_id, link.clone())),
        codec,
    );
    let _ = handle
        .outbox
        .push(&[Frame::Text(ByteString::from(open))], Class::Control);
    let ws = WsBody::new(
        ws_id,
        link,
        handle.outbox.clone(),
        handle.addr.clone(),
        body,
        &server,
    );
    server.register(sid, handle);
    respond(&mut response, ws)
}

pub(super) async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
    sid: &str,
    server: Arc<ServerInner>,
) -> HttpResponse {
    let Some(handle) = server.lookup(sid) else {
        return error_response(RequestError::SessionIdUnknown);
    };
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return error_response(RequestError::BadRequest);
    };
    let ws_id = server.next_ws_id();
    // A probe: it answers the probe packets only, until the session moves onto it.
    let link = WsLink::new(false);
    let begin = BeginUpgrade {
        ws: ws_id,
        link: link.clone(),
    };
    if !matches!(handle.addr.send(begin).await, Ok(Ok(()))) {
        // The session is not upgradable (already on websocket, or upgrading): complete the
        // handshake and close this websocket at once; the session's own transport goes on.
        link.close();
    }
    let ws = WsBody::new(ws_id, link, handle.outbox, handle.addr, body, &server);
    respond(&mut response, ws)
}

fn respond(response: &mut actix_http::ResponseBuilder, ws: WsBody) -> HttpResponse {
    match response.message_body(ws) {
        Ok(response) => HttpResponse::from(response).map_into_boxed_body(),
        Err(_) => error_response(RequestError::BadRequest),
    }
}

/// What the connection actor says to one of its websockets besides the outbox.
pub(crate) struct WsLink {
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    /// Frames for this websocket only (the answers to upgrade probes).
    direct: Vec<Frame>,
    /// The session writes through this websocket: drain the outbox.
    active: bool,
    /// Send a close frame and end.
    close: bool,
    waker: Option<Waker>,
}

impl WsLink {
    fn new(active: bool) -> Arc<WsLink> {
        Arc::new(WsLink {
            state: Mutex::new(LinkState {
                active,
                ..LinkState::default()
            }),
        })
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        let waker = {
            let mut st = self.state.lock();
            f(&mut st);
            st.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Write `frame` on this websocket, outside the outbox (a probe's answer).
    pub(crate) fn send(&self, frame: Frame) {
        self.update(|st| st.direct.push(frame));
    }

    /// The session moved onto this websocket: write its outbox from now on.
    pub(crate) fn activate(&self) {
        self.update(|st| st.active = true);
    }

    /// Close this websocket (a probe that did not become the transport).
    pub(crate) fn close(&self) {
        self.update(|st| st.close = true);
    }
}

/// The websocket cut its client off as a slow consumer; the dispatcher drops the socket.
#[derive(Debug)]
struct SlowConsumerCut;

impl std::fmt::Display for SlowConsumerCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("slow consumer: connection cut")
    }
}

impl std::error::Error for SlowConsumerCut {}

type Delivery = Pin<Box<dyn Future<Output = Result<(), MailboxError>>>>;

/// One websocket: the response body of its `101`, and the reader of its request payload.
struct WsBody {
    id: u64,
    link: Arc<WsLink>,
    outbox: Arc<Outbox>,
    addr: Addr<Connection>,
    metrics: Arc<Metrics>,
    max_payload: usize,
    /// The client's bytes; `None` once reading is over.
    payload: Option<web::Payload>,
    /// Received bytes not yet parsed into a whole frame.
    inbuf: BytesMut,
    /// A fragmented message being reassembled: its opcode and the bytes so far.
    fragments: Option<(OpCode, BytesMut)>,
    /// A frame waiting for room in the actor's mailbox: nothing else is read meanwhile.
    delivery: Option<Delivery>,
    /// The actor was told this websocket ended.
    told_end: bool,
    /// The session writes through this websocket (seen on the link once; it never reverts).
    active: bool,
    /// Framed bytes for the dispatcher to write: handed over whole (no copy, no shared
    /// buffer to keep), so an idle websocket holds no write buffer either.
    out: Vec<u8>,
    drained: Drained,
    /// A close frame is written: end the body once it is out.
    finished: bool,
    done: bool,
}

impl WsBody {
    fn new(
        id: u64,
        link: Arc<WsLink>,
        outbox: Arc<Outbox>,
        addr: Addr<Connection>,
        payload: web::Payload,
        server: &ServerInner,
    ) -> WsBody {
        WsBody {
            id,
            link,
            outbox,
            addr,
            metrics: server.metrics.clone(),
            max_payload: server.config.engine.max_payload,
            payload: Some(payload),
            inbuf: BytesMut::new(),
            fragments: None,
            delivery: None,
            told_end: false,
            active: false,
            out: Vec::new(),
            drained: Drained::default(),
            finished: false,
            done: false,
        }
    }

    /// Read and hand over the client's frames until the payload has no more, the mailbox
    /// is full, or this poll's budget is spent.
    fn read(&mut self, cx: &mut Context<'_>) {
        let mut budget = FRAMES_PER_POLL;
        loop {
            if let Some(delivery) = self.delivery.as_mut() {
                match delivery.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => self.delivery = None,
                    Poll::Ready(Err(_)) => {
                        self.delivery = None;
                        self.end(None);
                        return;
                    }
                    Poll::Pending => return,
                }
            }
            if self.payload.is_none() {
                return;
            }
            if budget == 0 || self.out.len() >= CHUNK_BYTES {
                // More may be buffered: come back after the others had their turn.
                cx.waker().wake_by_ref();
                return;
            }
            match Parser::parse(&mut self.inbuf, true, self.max_payload) {
                Ok(Some((fin, opcode, data))) => {
                    budget -= 1;
                    self.on_frame(fin, opcode, data.unwrap_or_default());
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    self.protocol_error(&error);
                    return;
                }
            }
            if self.inbuf.is_empty() {
                // Nothing partial is held: an idle websocket keeps no read buffer.
                self.inbuf = BytesMut::new();
            }
            let Some(payload) = self.payload.as_mut() else {
                return;
            };
            match Pin::new(payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.inbuf.extend_from_slice(&chunk),
                // The peer went away: a transport close, like a close frame.
                Poll::Ready(Some(Err(_)) | None) => {
                    self.end(None);
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    fn on_frame(&mut self, fin: bool, opcode: OpCode, data: BytesMut) {
        match opcode {
            OpCode::Ping => write_header(&mut self.out, OpCode::Pong, &data),
            OpCode::Pong => {}
            OpCode::Close => {
                // Answer with the client's own code, then end.
                let code = Parser::try_parse_close_payload(&data)
                    .ok()
                    .flatten()
                    .map(|reason| reason.code);
                self.end(code.map(CloseReason::from));
            }
            OpCode::Text | OpCode::Binary if self.fragments.is_some() => {
                self.protocol_error(&ProtocolError::ContinuationNotStarted);
            }
            OpCode::Text | OpCode::Binary if !fin => self.fragments = Some((opcode, data)),
            OpCode::Text | OpCode::Binary => self.message(opcode, data),
            OpCode::Continue => match self.fragments.take() {
                None => self.protocol_error(&ProtocolError::ContinuationNotStarted),
                Some((_, so_far)) if so_far.len() + data.len() > self.max_payload => {
                    self.protocol_error(&ProtocolError::Overflow);
                }
                Some((first, mut so_far)) => {
                    so_far.extend_from_slice(&data);
                    if fin {
                        self.message(first, so_far);
                    } else {
                        self.fragments = Some((first, so_far));
                    }
                }
            },
            OpCode::Bad => self.protocol_error(&ProtocolError::BadOpCode),
        }
    }

    /// A whole message: to the actor, or wait for its mailbox to have room.
    fn message(&mut self, opcode: OpCode, data: BytesMut) {
        let frame = if opcode == OpCode::Text {
            match ByteString::try_from(data.freeze()) {
                Ok(text) => WsFrame::Text(text),
                Err(_) => {
                    self.fail(CloseCode::Invalid, "invalid utf-8 in a text frame");
                    return;
                }
            }
        } else {
            WsFrame::Binary(data.freeze())
        };
        let msg = WsIn { ws: self.id, frame };
        match self.addr.try_send(msg) {
            Ok(()) => {}
            Err(SendError::Full(msg)) => self.delivery = Some(Box::pin(self.addr.send(msg))),
            Err(SendError::Closed(_)) => self.end(None),
        }
    }

    fn protocol_error(&mut self, error: &ProtocolError) {
        tracing::debug!(%error, "websocket protocol error");
        match error {
            ProtocolError::Overflow => self.fail(CloseCode::Size, "message too big"),
            _ => self.fail(CloseCode::Protocol, "websocket protocol error"),
        }
    }

    /// Close with `code` and tell the actor this websocket failed.
    fn fail(&mut self, code: CloseCode, description: &str) {
        if !self.told_end {
            self.told_end = true;
            self.addr.do_send(WsIn {
                ws: self.id,
                frame: WsFrame::Error,
            });
        }
        let reason = CloseReason {
            code,
            description: Some(description.to_owned()),
        };
        self.stop(Some(reason));
    }

    /// The websocket ended (a close frame, the peer gone, the actor gone): tell the actor,
    /// answer with a close frame and stop.
    fn end(&mut self, reason: Option<CloseReason>) {
        if !self.told_end {
            self.told_end = true;
            self.addr.do_send(WsIn {
                ws: self.id,
                frame: WsFrame::Closed,
            });
        }
        self.stop(reason);
    }

    /// Write the close frame (once) and read no more.
    fn stop(&mut self, reason: Option<CloseReason>) {
        self.payload = None;
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
            write_header(&mut self.out, OpCode::Close, &body);
        }
    }

    /// Frame what is to be sent: probe answers, then (once active) the outbox.
    fn write(&mut self, cx: &mut Context<'_>) {
        if self.finished {
            return;
        }
        let mut close = false;
        if !self.active {
            // Until the session moves here, the link says what to write (once active, the
            // outbox says everything, closing included).
            let direct = {
                let mut st = self.link.state.lock();
                if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    st.waker = Some(cx.waker().clone());
                }
                self.active = st.active;
                close = st.close;
                std::mem::take(&mut st.direct)
            };
            for frame in &direct {
                write_frame(&mut self.out, frame);
            }
        }
        if self.active {
            match self.outbox.poll_ws(cx, &mut self.drained) {
                Poll::Ready(true) => {
                    let before = self.out.len();
                    let out = &mut self.out;
                    self.drained.for_each(|frame| write_frame(out, frame));
                    self.metrics
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

fn write_frame(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Text(text) => write_header(out, OpCode::Text, text.as_bytes()),
        Frame::Binary(bytes) => write_header(out, OpCode::Binary, bytes),
    }
}

/// One whole, unmasked server frame (RFC 6455 §5.2): FIN + opcode, the length in 7, 16 or
/// 64 bits, the payload.
fn write_header(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let len = payload.len();
    out.reserve(len + 10);
    out.push(0x80 | u8::from(opcode));
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

impl MessageBody for WsBody {
    type Error = SlowConsumerCut;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.outbox.is_slow() {
            // Cut: nothing more is written, the dispatcher drops the socket at once.
            this.done = true;
            return Poll::Ready(Some(Err(SlowConsumerCut)));
        }
        this.read(cx);
        this.write(cx);
        if !this.out.is_empty() {
            return Poll::Ready(Some(Ok(Bytes::from(std::mem::take(&mut this.out)))));
        }
        if this.finished {
            this.done = true;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl Drop for WsBody {
    fn drop(&mut self) {
        // The dispatcher dropped the socket (an I/O error, a server shutdown): once per
        // websocket, the actor learns it ended.
        if !self.told_end {
            self.addr.do_send(WsIn {
                ws: self.id,
                frame: WsFrame::Closed,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_back_at_every_length_encoding() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            write_header(&mut out, OpCode::Binary, &payload);
            let mut buf = BytesMut::from(&out[..]);
            // As a client reads it: unmasked, whole.
            let (fin, opcode, data) = Parser::parse(&mut buf, false, usize::MAX)
                .expect("valid frame")
                .expect("whole frame");
            assert!(fin);
            assert_eq!(opcode, OpCode::Binary);
            assert_eq!(data.unwrap_or_default().as_ref(), &payload[..], "length {len}");
            assert!(buf.is_empty());
        }
    }
}
