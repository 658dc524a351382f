//! Harness shared by the runtime behaviour tests.
//!
//! - [`serve`]: a real actix-web `HttpServer` on `127.0.0.1:0`, inside the test's actix
//!   `System`, mounting one or more [`SocketIo`] servers; returns the port.
//! - [`WsClient`]: a raw Engine.IO / Socket.IO client over a websocket (`awc`).
//! - [`PollingClient`]: the same over HTTP long-polling.
//! - [`Events`]: what server-side handlers observed, sent through a channel.
//! - [`SioPacket`]: a small Socket.IO packet parser, independent of the crate under test.
//!
//! Every wait is bounded by [`WAIT`]; running out of time fails the test. Nothing sleeps to
//! let a handler run: tests await frames on the wire or events from the handlers.
#![allow(dead_code)]

pub(crate) mod proxy;
pub(crate) mod redis;

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use actix_web::{App, HttpServer};
use awc::ws;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tickwire::SocketIo;
use tokio::sync::mpsc;

/// A `shout` handler on `socket`: broadcast the text to every other socket, then ack `sent`.
pub(crate) fn on_shout(socket: &tickwire::Socket) {
    socket.on(
        "shout",
        |socket, tickwire::Data(text): tickwire::Data<String>, ack| async move {
            socket.broadcast().emit("shout", &text).unwrap();
            ack.send(&"sent").unwrap();
        },
    );
}

/// What each of `n` clients should receive: `frame` for the clients at `to`, nothing for the
/// others.
pub(crate) fn only(n: usize, to: &[usize], frame: &str) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| {
            if to.contains(&i) {
                vec![frame.to_owned()]
            } else {
                Vec::new()
            }
        })
        .collect()
}

/// The longest a test waits for anything (a frame, a response, a handler's event).
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// Await `fut`, failing the test if it takes longer than [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Wait until `cond` holds, re-checking each time the test's task is polled again. Only for
/// server state that settles right after something the test already awaited (e.g. the
/// registry entry removed just after a disconnect handler ran); fails after [`WAIT`].
pub(crate) async fn settled(what: &str, cond: impl Fn() -> bool) {
    within(what, async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
}

/// Two workers on an ephemeral port of 127.0.0.1, no signal handling, no shutdown wait;
/// spawned into the test's `System`. Evaluates to the port. (A macro: `tickwire::Server`
/// and `actix_web::HttpServer` have the same builder methods but no common trait.)
macro_rules! start_on_loopback {
    ($server:expr) => {{
        let server = $server
            .workers(2)
            .disable_signals()
            .shutdown_timeout(0)
            .bind(("127.0.0.1", 0))
            .expect("bind 127.0.0.1:0");
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        port
    }};
}

/// Start a [`tickwire::Server`] on an ephemeral port of 127.0.0.1 serving `servers`
/// (each mounted with `SocketIo::service`, its websockets taken over). It lives until the
/// test's `System` ends.
pub(crate) fn serve_all(servers: &[&SocketIo]) -> u16 {
    let services: Vec<_> = servers.iter().map(|io| io.service()).collect();
    let mut server = tickwire::Server::new(servers[0], move || {
        let mut app = App::new();
        for service in &services {
            app = app.configure(service.clone());
        }
        app
    });
    for io in &servers[1..] {
        server = server.with(io);
    }
    start_on_loopback!(server)
}

/// Start a plain `actix_web::HttpServer` (websockets inside its HTTP dispatcher) on an
/// ephemeral port of 127.0.0.1 serving `io`; returns its port.
pub(crate) fn serve_plain(io: &SocketIo) -> u16 {
    let service = io.service();
    start_on_loopback!(HttpServer::new(
        move || App::new().configure(service.clone())
    ))
}

/// Start a [`tickwire::Server`] for one [`SocketIo`]; returns its port.
pub(crate) fn serve(io: &SocketIo) -> u16 {
    serve_all(&[io])
}

/// Give `io`'s `/` an `echo` handler that acks its payload, and report each socket's
/// disconnect reason.
pub(crate) fn echo_reporting_disconnects(
    io: SocketIo,
) -> (SocketIo, Events<tickwire::DisconnectReason>) {
    let (tx, reasons) = events();
    io.ns("/", move |socket| {
        socket.on("echo", |_, payload: tickwire::Payload, ack| async move {
            // Refused only when the client is cut as a slow consumer, which tests look for.
            ack.send_payload(payload).ok();
        });
        let tx = tx.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = tx.send(reason);
        });
    });
    (io, reasons)
}

// ----- observing server-side handlers -----------------------------------------------------

/// A channel for server-side handlers to report what they saw; the sender is captured by
/// the handler closures, the receiver awaited by the test.
pub(crate) fn events<T>() -> (mpsc::UnboundedSender<T>, Events<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Events(rx))
}

/// The receiving side of [`events`].
pub(crate) struct Events<T>(mpsc::UnboundedReceiver<T>);

impl<T> Events<T> {
    /// The next event; fails the test after [`WAIT`].
    pub(crate) async fn next(&mut self) -> T {
        within("a server-side event", self.0.recv())
            .await
            .expect("every event sender was dropped")
    }

    /// An event already sent, if any (does not wait).
    pub(crate) fn try_next(&mut self) -> Option<T> {
        self.0.try_recv().ok()
    }
}

// ----- websocket client --------------------------------------------------------------------

/// A websocket message as the test client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Msg {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
    /// A close frame, with its code if any.
    Close(Option<u16>),
    /// The connection ended without a close frame (or failed).
    Ended,
}

impl Msg {
    pub(crate) fn is_text(&self, text: &str) -> bool {
        matches!(self, Msg::Text(t) if t == text)
    }

    pub(crate) fn text_starts_with(&self, prefix: &str) -> bool {
        matches!(self, Msg::Text(t) if t.starts_with(prefix))
    }
}

/// URL of the Socket.IO endpoint (default path) with `query`.
pub(crate) fn sio_url(scheme: &str, port: u16, query: &str) -> String {
    format!("{scheme}://127.0.0.1:{port}/socket.io/?{query}")
}

fn http_client() -> awc::Client {
    awc::Client::builder()
        .timeout(WAIT)
        // A fresh connector per client: no shared pool limit, no reuse between clients.
        .connector(awc::Connector::new().limit(0))
        .finish()
}

/// What `awc` returns for a websocket: a stream of frames and a sink of messages.
trait WsIo:
    futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
    + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<T> WsIo for T where
    T: futures_util::Stream<Item = Result<ws::Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<ws::Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

/// A raw Engine.IO client over one websocket.
pub(crate) struct WsClient {
    io: Box<dyn WsIo>,
    /// The Engine.IO session id (empty until an open packet was read).
    pub(crate) sid: String,
    /// The handshake JSON of the open packet, when one was read.
    pub(crate) handshake: Value,
}

impl WsClient {
    /// Open a websocket to `url` without reading anything. Fails (instead of panicking)
    /// when the server refuses the upgrade, so tests can check refusals.
    pub(crate) async fn try_connect(url: &str) -> Result<WsClient, awc::error::WsClientError> {
        let (_, io) = within(
            "the websocket handshake",
            http_client().ws(url).max_frame_size(64 << 20).connect(),
        )
        .await?;
        Ok(WsClient {
            io: Box::new(io),
            sid: String::new(),
            handshake: Value::Null,
        })
    }

    /// Open a websocket-only Engine.IO session on the Socket.IO path and read its open
    /// packet.
    pub(crate) async fn open(port: u16) -> WsClient {
        Self::open_url(&sio_url("ws", port, "EIO=4&transport=websocket")).await
    }

    /// Open a websocket-only Engine.IO session at `url` and read its open packet, which must
    /// be the first frame: `0{"sid":..,"upgrades":[],..}`.
    pub(crate) async fn open_url(url: &str) -> WsClient {
        let mut client = Self::try_connect(url).await.expect("websocket handshake");
        let first = client.recv_text().await;
        let json = first
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("the first frame must be the open packet, got {first:?}"));
        let handshake: Value = serde_json::from_str(json).expect("open packet JSON");
        client.sid = handshake["sid"]
            .as_str()
            .expect("open packet sid")
            .to_owned();
        client.handshake = handshake;
        client
    }

    /// Open a session and connect to Socket.IO namespace `/`; returns the client and the
    /// socket id of the CONNECT reply.
    pub(crate) async fn connect(port: u16) -> (WsClient, String) {
        let mut client = Self::open(port).await;
        let sid = client.sio_connect("/", None).await;
        (client, sid)
    }

    /// Send CONNECT for `nsp` (with `auth` JSON, if any) and read the reply, which must be
    /// exactly `40[<nsp>,]{"sid":"<id>"}`; returns the socket id.
    pub(crate) async fn sio_connect(&mut self, nsp: &str, auth: Option<&str>) -> String {
        self.send_text(&format!("40{}{}", nsp_prefix(nsp), auth.unwrap_or("")))
            .await;
        let reply = self.recv_text_skip_pings().await;
        connect_reply_sid(&reply, nsp)
    }

    /// Send a text frame.
    pub(crate) async fn send_text(&mut self, text: &str) {
        within(
            "sending a text frame",
            self.io.send(ws::Message::Text(text.to_owned().into())),
        )
        .await
        .expect("send text frame");
    }

    /// Send a binary frame.
    pub(crate) async fn send_binary(&mut self, bytes: &[u8]) {
        within(
            "sending a binary frame",
            self.io
                .send(ws::Message::Binary(Bytes::copy_from_slice(bytes))),
        )
        .await
        .expect("send binary frame");
    }

    /// Send a websocket close frame (normal closure).
    pub(crate) async fn close(&mut self) {
        let reason = ws::CloseReason {
            code: ws::CloseCode::Normal,
            description: None,
        };
        within(
            "sending a close frame",
            self.io.send(ws::Message::Close(Some(reason))),
        )
        .await
        .expect("send close frame");
    }

    /// The next message, whatever it is (websocket-level pings are answered and skipped).
    pub(crate) async fn recv(&mut self) -> Msg {
        within("the next websocket frame", self.recv_unbounded()).await
    }

    async fn recv_unbounded(&mut self) -> Msg {
        loop {
            match self.io.next().await {
                None | Some(Err(_)) => return Msg::Ended,
                Some(Ok(frame)) => match frame {
                    ws::Frame::Text(bytes) => {
                        return Msg::Text(String::from_utf8(bytes.to_vec()).expect("UTF-8 text"))
                    }
                    ws::Frame::Binary(bytes) => return Msg::Binary(bytes),
                    ws::Frame::Close(reason) => return Msg::Close(reason.map(|r| r.code.into())),
                    ws::Frame::Ping(data) => {
                        let _ = self.io.send(ws::Message::Pong(data)).await;
                    }
                    ws::Frame::Pong(_) => {}
                    ws::Frame::Continuation(_) => {
                        panic!("the server fragmented a message; one packet per frame expected")
                    }
                },
            }
        }
    }

    /// The next message other than an Engine.IO ping; pings (`2`) are answered with `3`.
    pub(crate) async fn recv_skip_pings(&mut self) -> Msg {
        loop {
            let msg = self.recv().await;
            if msg.is_text("2") {
                self.send_text("3").await;
                continue;
            }
            return msg;
        }
    }

    /// The next message, which must be a text frame.
    pub(crate) async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Msg::Text(text) => text,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text frame other than a ping (pings are answered).
    pub(crate) async fn recv_text_skip_pings(&mut self) -> String {
        match self.recv_skip_pings().await {
            Msg::Text(text) => text,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next message, which must be a binary frame.
    pub(crate) async fn recv_binary(&mut self) -> Bytes {
        match self.recv_skip_pings().await {
            Msg::Binary(bytes) => bytes,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// Skip messages (answering pings) until one matches `pred`; returns it. The connection
    /// ending first fails the test.
    pub(crate) async fn wait_for(&mut self, pred: impl Fn(&Msg) -> bool) -> Msg {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.recv_unbounded())
                .await
                .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for a frame"));
            if pred(&msg) {
                return msg;
            }
            match msg {
                Msg::Text(ref t) if t == "2" => self.send_text("3").await,
                Msg::Close(_) | Msg::Ended => panic!("connection closed while waiting: {msg:?}"),
                _ => {}
            }
        }
    }

    /// Skip messages (answering pings) until the text frame `text` arrives.
    pub(crate) async fn wait_for_text(&mut self, text: &str) {
        self.wait_for(|m| m.is_text(text)).await;
    }

    /// The connection must close now: the next messages may only be Engine.IO pings (not
    /// answered) before a close frame or the end of the stream. Returns the close code.
    pub(crate) async fn expect_closed(&mut self) -> Option<u16> {
        loop {
            match self.recv().await {
                Msg::Close(code) => return code,
                Msg::Ended => return None,
                Msg::Text(t) if t == "2" => {}
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }

    /// Assert the session is alive and in order: a Socket.IO event with an ack id, handled by
    /// an `echo` handler that acks its payload, comes back as the very next frame
    /// (pings aside).
    pub(crate) async fn assert_echo_ack(&mut self, nsp: &str, id: u64) {
        let p = nsp_prefix(nsp);
        self.send_text(&format!(r#"42{p}{id}["echo","alive"]"#))
            .await;
        assert_eq!(
            self.recv_text_skip_pings().await,
            format!(r#"43{p}{id}["alive"]"#)
        );
    }
}

/// `""` for `/`, `"<nsp>,"` otherwise: how a namespace prefixes a Socket.IO packet.
pub(crate) fn nsp_prefix(nsp: &str) -> String {
    if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    }
}

/// Check a CONNECT reply is exactly `40[<nsp>,]{"sid":"<id>"}` (no other key) and return
/// the id.
pub(crate) fn connect_reply_sid(frame: &str, nsp: &str) -> String {
    let prefix = format!("40{}", nsp_prefix(nsp));
    let json = frame
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected a CONNECT reply {prefix}{{..}}, got {frame:?}"));
    let data: Value = serde_json::from_str(json).expect("CONNECT reply JSON");
    let object = data.as_object().expect("CONNECT reply is an object");
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["sid"],
        "CONNECT reply keys: {frame}"
    );
    let sid = object["sid"].as_str().expect("sid is a string");
    assert!(!sid.is_empty());
    assert_eq!(frame, format!(r#"{prefix}{{"sid":"{sid}"}}"#));
    sid.to_owned()
}

// ----- polling client ------------------------------------------------------------------------

/// A raw Engine.IO client over HTTP long-polling.
pub(crate) struct PollingClient {
    http: awc::Client,
    port: u16,
    /// The Engine.IO session id.
    pub(crate) sid: String,
    /// The handshake JSON of the open packet.
    pub(crate) handshake: Value,
    /// The mount path, e.g. `/socket.io/`.
    path: String,
    /// Packets received but not yet consumed.
    buffered: VecDeque<String>,
}

/// An HTTP response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) content_type: String,
}

/// GET `http://127.0.0.1:<port><path_and_query>`.
pub(crate) async fn http_get(port: u16, path_and_query: &str) -> Reply {
    http_request(&http_client(), "GET", port, path_and_query, None, None).await
}

/// POST `body` to `http://127.0.0.1:<port><path_and_query>`.
pub(crate) async fn http_post(
    port: u16,
    path_and_query: &str,
    body: impl Into<Bytes>,
    content_type: &str,
) -> Reply {
    http_request(
        &http_client(),
        "POST",
        port,
        path_and_query,
        Some(body.into()),
        Some(content_type),
    )
    .await
}

/// PUT `body` to `http://127.0.0.1:<port><path_and_query>`.
pub(crate) async fn http_put(port: u16, path_and_query: &str, body: &'static str) -> Reply {
    http_request(
        &http_client(),
        "PUT",
        port,
        path_and_query,
        Some(Bytes::from_static(body.as_bytes())),
        Some("text/plain;charset=UTF-8"),
    )
    .await
}

async fn http_request(
    http: &awc::Client,
    method: &str,
    port: u16,
    path_and_query: &str,
    body: Option<Bytes>,
    content_type: Option<&str>,
) -> Reply {
    let url = format!("http://127.0.0.1:{port}{path_and_query}");
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method, &url);
    if let Some(ct) = content_type {
        request = request.insert_header(("content-type", ct));
    }
    let what = format!("the response to {url}");
    let mut response = within(&what, async {
        match body {
            Some(body) => request.send_body(body).await,
            None => request.send().await,
        }
    })
    .await
    .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = within(&what, response.body().limit(64 << 20))
        .await
        .expect("response body");
    Reply {
        status,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
        content_type,
    }
}

impl PollingClient {
    /// Polling handshake on the Socket.IO path: `GET ?EIO=4&transport=polling` must answer
    /// 200 with the open packet `0{..}` alone.
    pub(crate) async fn open(port: u16) -> PollingClient {
        Self::open_at(port, "/socket.io/").await
    }

    /// Polling handshake at `path` (e.g. `/engine.io/`).
    pub(crate) async fn open_at(port: u16, path: &str) -> PollingClient {
        let http = http_client();
        let reply = http_request(
            &http,
            "GET",
            port,
            &format!("{path}?EIO=4&transport=polling"),
            None,
            None,
        )
        .await;
        assert_eq!(reply.status, 200, "polling handshake: {reply:?}");
        let json = reply
            .body
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("handshake body must be the open packet: {reply:?}"));
        let handshake: Value = serde_json::from_str(json).expect("open packet JSON");
        let sid = handshake["sid"]
            .as_str()
            .expect("open packet sid")
            .to_owned();
        PollingClient {
            http,
            port,
            sid,
            handshake,
            path: path.to_owned(),
            buffered: VecDeque::new(),
        }
    }

    /// Path and query of this session's requests.
    pub(crate) fn session_query(&self) -> String {
        format!("{}?EIO=4&transport=polling&sid={}", self.path, self.sid)
    }

    /// One GET for this session (may park until the server has something).
    pub(crate) async fn get(&self) -> Reply {
        http_request(
            &self.http,
            "GET",
            self.port,
            &self.session_query(),
            None,
            None,
        )
        .await
    }

    /// One POST of `body` for this session.
    pub(crate) async fn post(&self, body: &str) -> Reply {
        http_request(
            &self.http,
            "POST",
            self.port,
            &self.session_query(),
            Some(Bytes::copy_from_slice(body.as_bytes())),
            Some("text/plain;charset=UTF-8"),
        )
        .await
    }

    /// POST `body`, which must be accepted: 200 with body `ok`.
    pub(crate) async fn send(&self, body: &str) {
        let reply = self.post(body).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "ok"),
            "POST {body:?}"
        );
    }

    /// The next packet of the session (one GET when none is buffered). Packets of a body are
    /// split on `\x1e`; binary ones keep their `b` + base64 form.
    pub(crate) async fn next_packet(&mut self) -> String {
        if let Some(packet) = self.buffered.pop_front() {
            return packet;
        }
        let reply = self.get().await;
        assert_eq!(reply.status, 200, "GET: {reply:?}");
        assert_eq!(reply.content_type, "text/plain; charset=UTF-8");
        self.buffered
            .extend(reply.body.split('\x1e').map(str::to_owned));
        self.buffered.pop_front().unwrap_or_default()
    }

    /// The next packet other than a ping; pings are answered with a POST of `3`.
    pub(crate) async fn next_packet_skip_pings(&mut self) -> String {
        loop {
            let packet = self.next_packet().await;
            if packet == "2" {
                self.send("3").await;
                continue;
            }
            return packet;
        }
    }

    /// Skip packets (answering pings) until `packet` arrives.
    pub(crate) async fn wait_for(&mut self, packet: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.next_packet_skip_pings())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for packet {packet:?}"));
            if next == packet {
                return;
            }
        }
    }

    /// POST CONNECT for `nsp` and read the reply, which must be exactly
    /// `40[<nsp>,]{"sid":"<id>"}`; returns the socket id.
    pub(crate) async fn sio_connect(&mut self, nsp: &str, auth: Option<&str>) -> String {
        self.send(&format!("40{}{}", nsp_prefix(nsp), auth.unwrap_or("")))
            .await;
        let reply = self.next_packet_skip_pings().await;
        connect_reply_sid(&reply, nsp)
    }

    /// Polling handshake and CONNECT to `/`.
    pub(crate) async fn connect(port: u16) -> (PollingClient, String) {
        let mut client = Self::open(port).await;
        let sid = client.sio_connect("/", None).await;
        (client, sid)
    }
}

// ----- Socket.IO packets ----------------------------------------------------------------------

/// A Socket.IO packet parsed from one Engine.IO message frame (`4...`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SioPacket {
    /// The packet type digit: 0 CONNECT .. 6 BINARY_ACK.
    pub(crate) kind: u8,
    /// Announced attachments (`N-`), 0 when none.
    pub(crate) attachments: usize,
    /// The namespace (`/` when absent).
    pub(crate) nsp: String,
    /// The ack id.
    pub(crate) id: Option<u64>,
    /// The JSON payload.
    pub(crate) data: Option<Value>,
}

/// Parse an Engine.IO message frame carrying a Socket.IO packet; fails the test when it is
/// not one.
pub(crate) fn parse_sio(frame: &str) -> SioPacket {
    let text = frame
        .strip_prefix('4')
        .unwrap_or_else(|| panic!("not an Engine.IO message: {frame:?}"));
    let kind = text
        .chars()
        .next()
        .and_then(|c| c.to_digit(10))
        .unwrap_or_else(|| panic!("no Socket.IO packet type in {frame:?}")) as u8;
    let mut rest = &text[1..];
    let mut attachments = 0;
    if kind == 5 || kind == 6 {
        let dash = rest
            .find('-')
            .unwrap_or_else(|| panic!("binary packet without attachment count: {frame:?}"));
        attachments = rest[..dash].parse().expect("attachment count");
        rest = &rest[dash + 1..];
    }
    let mut nsp = "/".to_owned();
    if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        nsp = rest[..end].to_owned();
        rest = &rest[(end + 1).min(rest.len())..];
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = (digits > 0).then(|| rest[..digits].parse().expect("ack id"));
    rest = &rest[digits..];
    let data = (!rest.is_empty()).then(|| serde_json::from_str(rest).expect("packet JSON"));
    SioPacket {
        kind,
        attachments,
        nsp,
        id,
        data,
    }
}

// ----- Node.js client scripts ------------------------------------------------------------------

/// Run `node <script>` from `runtime/tests/interop/js` against the server on `port`
/// (`TICKWIRE_URL`), bounded by `limit`; fails the test with the script's output unless it
/// exits 0. Tests that call it carry the `tickwire_missing_interop_js` ignore attribute, so
/// without node they are reported as ignored (and under `CI` they fail here).
pub(crate) async fn run_node_script(script: &str, port: u16, limit: Duration) {
    run_node_script_with(script, port, &[], limit).await
}

/// [`run_node_script`] with more environment variables for the script.
pub(crate) async fn run_node_script_with(
    script: &str,
    port: u16,
    env: &[(&str, String)],
    limit: Duration,
) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js");
    assert!(
        dir.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci` in {} (or .ci/setup)",
        dir.display()
    );
    let child = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&dir)
        .env("TICKWIRE_URL", format!("http://127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup"));
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {limit:?}"))
        .expect("node ran");
    assert!(
        output.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprint!("{}", String::from_utf8_lossy(&output.stdout));
}
