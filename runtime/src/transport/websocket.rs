//! WebSocket: a session opened directly on websocket, or an upgrade of a polling session.
//!
//! One task per websocket does all its work ([`WsCore`]):
//! - parse the client's frames and hand them to the connection actor (when its bounded
//!   mailbox is full, reading stops and the rest waits in TCP);
//! - answer pings;
//! - frame whatever the outbox holds into one buffer, written with one syscall.
//!
//! Two front ends carry the bytes:
//! - [`tickwire::Server`](crate::Server): actix-http hands the upgrade over and the socket is
//!   ours ([`RawWs`]); an idle websocket holds no buffer at all.
//! - mounted in a plain `actix_web::HttpServer`: the websocket is the streaming body of its
//!   `101` response ([`WsBody`]), polled by the HTTP dispatcher that owns the socket.
//!
//! Either way, a frame pushed from any thread reaches the socket in one wake of the
//! connection's own task, with no channel or writer task in between.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix::prelude::SendError;
use actix::{Addr, MailboxError};
use actix_codec::{Framed, FramedParts};
use actix_http::h1;
use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser, ProtocolError};
use actix_rt::net::TcpStream;
use actix_web::body::{BodySize, MessageBody};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use parking_lot::Mutex;
use tickwire_protocol::engineio::{OpenPacket, RequestError, TransportKind};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{base_handshake, error_response, new_sid, parse_query};
use crate::actor::connection::{
    cut_slow_consumer, BeginUpgrade, ConnHandle, Connection, WsFrame, WsIn,
};
use crate::codec::Codec;
use crate::metrics::Metrics;
use crate::outbox::{Class, Drained, Frame, Outbox};
use crate::server::ServerInner;
use crate::socket::Handshake;

/// Frames one poll handles before it yields to the other connections of its thread.
const FRAMES_PER_POLL: usize = 128;

/// The longest websocket frame header: 2 bytes, a 64-bit length, a 4-byte mask.
const MAX_FRAME_HEADER: usize = 14;

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
    let ip = req.peer_addr().map(|a| a.ip());
    if let Err(refusal) = server.admit(ip) {
        return super::cap_refused(refusal);
    }
    let handshake = base_handshake(req.headers(), req.peer_addr(), query);
    let core = start(&server, handshake, codec, ip);
    respond(&mut response, WsBody::new(core, body))
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
    let core = probe(&server, handle).await;
    respond(&mut response, WsBody::new(core, body))
}

/// Start a session on a new websocket, admitted for `ip`: its actor, its open packet (the
/// first frame), its registry entry.
fn start(
    server: &Arc<ServerInner>,
    handshake: Handshake,
    codec: Codec,
    ip: Option<std::net::IpAddr>,
) -> WsCore {
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
        handshake,
        Some((ws_id, link.clone())),
        codec,
    );
    // The first frame of the session: bounded by construction.
    let _ = handle
        .outbox
        .push(&[Frame::Text(ByteString::from(open))], Class::Protocol);
    let core = WsCore::new(
        ws_id,
        link,
        handle.outbox.clone(),
        handle.addr.clone(),
        server,
    );
    server.register(sid, handle, ip);
    core
}

/// A websocket for an existing session: a probe that answers the probe packets only, until
/// the session moves onto it.
async fn probe(server: &ServerInner, handle: ConnHandle) -> WsCore {
    let ws_id = server.next_ws_id();
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
    WsCore::new(ws_id, link, handle.outbox, handle.addr, server)
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

/// One websocket's work, whatever carries its bytes: frames in to the actor, the outbox out
/// as frames. Driven by [`WsBody`] (inside actix-web's dispatcher) or [`RawWs`] (on a socket
/// taken over at the upgrade).
pub(crate) struct WsCore {
    id: u64,
    link: Arc<WsLink>,
    outbox: Arc<Outbox>,
    addr: Addr<Connection>,
    metrics: Arc<Metrics>,
    max_payload: usize,
    /// The client's bytes are still read (not after a close, an error or the end).
    reading: bool,
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
    /// A close frame is written: end once it is out.
    finished: bool,
}

impl WsCore {
    fn new(
        id: u64,
        link: Arc<WsLink>,
        outbox: Arc<Outbox>,
        addr: Addr<Connection>,
        server: &ServerInner,
    ) -> WsCore {
        WsCore {
            id,
            link,
            outbox,
            addr,
            metrics: server.metrics.clone(),
            max_payload: server.config.engine.max_payload,
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

    /// Read and hand over the client's frames until `fill` has no more bytes, the mailbox is
    /// full, the output is large enough to be written first, or this poll's budget is spent.
    /// `fill` appends what arrived: `Ready(true)`, or `Ready(false)` once the peer is gone.
    fn read(
        &mut self,
        cx: &mut Context<'_>,
        mut fill: impl FnMut(&mut Context<'_>, &mut BytesMut) -> Poll<bool>,
    ) -> bool {
        let mut budget = FRAMES_PER_POLL;
        loop {
            if let Some(delivery) = self.delivery.as_mut() {
                match delivery.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => self.delivery = None,
                    Poll::Ready(Err(_)) => {
                        self.delivery = None;
                        self.end(None);
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
            match Parser::parse(&mut self.inbuf, true, self.max_payload) {
                Ok(Some((fin, opcode, data))) => {
                    budget -= 1;
                    self.on_frame(fin, opcode, data.unwrap_or_default());
                    continue;
                }
                // An unfinished frame already longer than any allowed one: refuse it now,
                // rather than buffer what its header announces.
                Ok(None) if self.inbuf.len() > self.max_payload + MAX_FRAME_HEADER => {
                    self.protocol_error(&ProtocolError::Overflow);
                    return false;
                }
                Ok(None) => {}
                Err(error) => {
                    self.protocol_error(&error);
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
                    self.end(None);
                    return false;
                }
                Poll::Pending => return false,
            }
        }
    }

    fn on_frame(&mut self, fin: bool, opcode: OpCode, data: BytesMut) {
        match opcode {
            OpCode::Ping => write_ws_frame(&mut self.out, OpCode::Pong, &data),
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
                write_outbox_frame(&mut self.out, frame);
            }
        }
        if self.active {
            match self.outbox.poll_ws(cx, &mut self.drained) {
                Poll::Ready(true) => {
                    let before = self.out.len();
                    let out = &mut self.out;
                    self.drained
                        .for_each(|frame| write_outbox_frame(out, frame));
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

fn write_outbox_frame(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Text(text) => write_ws_frame(out, OpCode::Text, text.as_bytes()),
        Frame::Binary(bytes) => write_ws_frame(out, OpCode::Binary, bytes),
    }
}

/// One whole, unmasked server frame (RFC 6455 §5.2): FIN + opcode, the length in 7, 16 or
/// 64 bits, the payload.
fn write_ws_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
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

/// The websocket as the streaming body of its `101` response: actix-web's dispatcher polls
/// it, and each poll reads the request payload and yields the framed output.
struct WsBody {
    core: WsCore,
    /// The client's bytes; `None` once reading is over.
    payload: Option<web::Payload>,
    done: bool,
}

impl WsBody {
    fn new(core: WsCore, payload: web::Payload) -> WsBody {
        WsBody {
            core,
            payload: Some(payload),
            done: false,
        }
    }
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
        let WsBody {
            core,
            payload,
            done,
        } = self.get_mut();
        if *done {
            return Poll::Ready(None);
        }
        if core.outbox.is_slow() {
            // Cut: nothing more is written, the dispatcher drops the socket at once.
            *done = true;
            return Poll::Ready(Some(Err(SlowConsumerCut)));
        }
        core.read(cx, |cx, buf| {
            let Some(source) = payload.as_mut() else {
                return Poll::Ready(false);
            };
            match Pin::new(source).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    buf.extend_from_slice(&chunk);
                    Poll::Ready(true)
                }
                Poll::Ready(Some(Err(_)) | None) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        });
        if !core.reading {
            *payload = None;
        }
        core.write(cx);
        if !core.out.is_empty() {
            return Poll::Ready(Some(Ok(Bytes::from(std::mem::take(&mut core.out)))));
        }
        if core.finished {
            *done = true;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl Drop for WsCore {
    fn drop(&mut self) {
        // The socket was dropped (an I/O error, a server shutdown): once per
        // websocket, the actor learns it ended.
        if !self.told_end {
            self.addr.do_send(WsIn {
                ws: self.id,
                frame: WsFrame::Closed,
            });
        }
    }
}

/// A websocket upgrade handed over by actix-http's dispatcher (see [`crate::Server`]): the
/// socket is ours from here on, without the dispatcher's buffers or its per-poll work.
///
/// Requests for another path, or that are not Engine.IO websockets, get an HTTP error.
pub(crate) async fn take_over(
    servers: Arc<[Arc<ServerInner>]>,
    req: actix_http::Request,
    framed: Framed<TcpStream, h1::Codec>,
) {
    // The dispatcher's two buffers go now; only bytes the client already sent are kept.
    let FramedParts {
        io: mut stream,
        read_buf: early,
        ..
    } = framed.into_parts();
    let path = req.path().trim_end_matches('/');
    let server = servers
        .iter()
        .find(|server| server.path().trim_end_matches('/') == path);
    let accepted = match server {
        Some(server) => accept(server, &req)
            .await
            .map(|accepted| (accepted, server.config.write_timeout)),
        None => Err(("404 Not Found".to_owned(), String::new())),
    };
    drop(req);
    match accepted {
        Ok(((mut core, accept_key), write_timeout)) => {
            core.out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept_key}\r\n\r\n"
            )
            .into_bytes();
            // Frames the client sent right behind its request (the first read drops the
            // buffer if it holds nothing).
            core.inbuf = early;
            // A task of its own, sized for the websocket alone: the HTTP dispatcher's task
            // (and its memory) ends here.
            actix_rt::spawn(RawWs {
                core,
                stream,
                written: 0,
                linger: None,
                write_timeout,
                stalled: None,
            });
        }
        Err((status, body)) => {
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// Check an upgrade request and start (or probe) its session: the websocket and the
/// `Sec-WebSocket-Accept` value, or the HTTP status and body of the refusal.
async fn accept(
    server: &Arc<ServerInner>,
    req: &actix_http::Request,
) -> Result<(WsCore, String), (String, String)> {
    let refuse = |error: RequestError| {
        let status = actix_web::http::StatusCode::from_u16(error.http_status())
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
        (status.to_string(), error.body())
    };
    if !server.check_origin(super::origin_of(&req.head().headers)) {
        return Err(refuse(RequestError::Forbidden));
    }
    let (query, pairs) = parse_query(req.uri().query().unwrap_or("")).map_err(refuse)?;
    if query.transport != TransportKind::WebSocket {
        return Err(refuse(RequestError::BadRequest));
    }
    let codec = Codec::from_query(&pairs).map_err(|_| refuse(RequestError::BadRequest))?;
    let handle = match &query.sid {
        Some(sid) => Some(
            server
                .lookup(sid)
                .ok_or_else(|| refuse(RequestError::SessionIdUnknown))?,
        ),
        None => None,
    };
    actix_http::ws::verify_handshake(req.head()).map_err(|_| refuse(RequestError::BadRequest))?;
    let key = req
        .head()
        .headers
        .get(actix_web::http::header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| refuse(RequestError::BadRequest))?;
    let accept_key =
        String::from_utf8_lossy(&actix_http::ws::hash_key(key.as_bytes())).into_owned();
    let core = match handle {
        Some(handle) => probe(server, handle).await,
        None => {
            let ip = req.peer_addr().map(|a| a.ip());
            server.admit(ip).map_err(|refusal| {
                let status = actix_web::http::StatusCode::SERVICE_UNAVAILABLE.to_string();
                (status, super::cap_refusal_body(refusal))
            })?;
            start(
                server,
                base_handshake(&req.head().headers, req.peer_addr(), pairs),
                codec,
                ip,
            )
        }
    };
    Ok((core, accept_key))
}

/// A websocket on a socket of its own: reads land in the core's input buffer only when
/// bytes arrive (an idle websocket holds no read or write buffer), and the framed output
/// goes out with one write per batch.
struct RawWs {
    core: WsCore,
    stream: TcpStream,
    /// Bytes of `core.out` already written.
    written: usize,
    /// After the close frame: how long the client's remaining bytes are still read (and
    /// dropped), so closing does not reset the connection under the close frame.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How long the socket may stay unwritable with bytes to write.
    write_timeout: std::time::Duration,
    /// Since when the socket has been unwritable with bytes to write (a timer to the write
    /// timeout), if it is.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long a closed websocket waits for its client to close too.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Bytes read from the socket per read call (a stack buffer; only what is left of a partial
/// frame is kept).
const READ_CHUNK: usize = 4096;

impl Future for RawWs {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let RawWs {
            core,
            stream,
            written,
            linger,
            write_timeout,
            stalled,
        } = self.get_mut();
        if let Some(deadline) = linger.as_mut() {
            return drain_until_closed(stream, deadline, cx);
        }
        if core.outbox.is_slow() {
            // Cut: nothing more is written; dropping the socket closes it.
            return Poll::Ready(());
        }
        loop {
            let reader = &*stream;
            let output_full = core.read(cx, |cx, buf| loop {
                match reader.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Pending => return Poll::Pending,
                }
                match read_into(reader, buf) {
                    Ok(0) => return Poll::Ready(false),
                    Ok(_) => return Poll::Ready(true),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Poll::Ready(false),
                }
            });
            loop {
                if *written == core.out.len() {
                    // All out: an idle websocket keeps no write buffer.
                    *written = 0;
                    core.out = Vec::new();
                    core.write(cx);
                    if core.out.is_empty() {
                        break;
                    }
                }
                match Pin::new(&mut *stream).poll_write(cx, &core.out[*written..]) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        *written += n;
                        *stalled = None;
                    }
                    // The peer is gone.
                    Poll::Ready(_) => {
                        core.end(None);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        // Unwritable with bytes to write: a client that reads nothing for
                        // the write timeout is not draining its queue.
                        let timer = stalled
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(*write_timeout)));
                        if timer.as_mut().poll(cx).is_ready() {
                            tracing::debug!("websocket unwritable for the write timeout");
                            cut_slow_consumer(&core.outbox, &core.addr);
                            return Poll::Ready(());
                        }
                        break;
                    }
                }
            }
            let flushed = *written == core.out.len();
            if core.finished && flushed {
                let _ = Pin::new(&mut *stream).poll_shutdown(cx);
                let deadline = linger.insert(Box::pin(tokio::time::sleep(LINGER)));
                return drain_until_closed(stream, deadline, cx);
            }
            if !(output_full && flushed) {
                return Poll::Pending;
            }
            // Reading paused on the output limit, and the output is out: read on.
        }
    }
}

thread_local! {
    /// One read buffer per thread, shared by its websockets: a read lands here, and only
    /// the bytes read are copied to the websocket's own input.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Read what the socket has (up to [`READ_CHUNK`]) and append it to `buf`.
fn read_into(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let n = stream.try_read(&mut scratch)?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    })
}

/// Read and drop what the client still sends until it closes or `deadline` passes.
fn drain_until_closed(
    stream: &TcpStream,
    deadline: &mut Pin<Box<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if deadline.as_mut().poll(cx).is_ready() {
        return Poll::Ready(());
    }
    for _ in 0..FRAMES_PER_POLL {
        match stream.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
        let mut dropped = BytesMut::new();
        match read_into(stream, &mut dropped) {
            Ok(0) => return Poll::Ready(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(()),
        }
    }
    // Still sending: the other connections get their turn first.
    cx.waker().wake_by_ref();
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_back_at_every_length_encoding() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            write_ws_frame(&mut out, OpCode::Binary, &payload);
            let mut buf = BytesMut::from(&out[..]);
            // As a client reads it: unmasked, whole.
            let (fin, opcode, data) = Parser::parse(&mut buf, false, usize::MAX)
                .expect("valid frame")
                .expect("whole frame");
            assert!(fin);
            assert_eq!(opcode, OpCode::Binary);
            assert_eq!(
                data.unwrap_or_default().as_ref(),
                &payload[..],
                "length {len}"
            );
            assert!(buf.is_empty());
        }
    }
}
