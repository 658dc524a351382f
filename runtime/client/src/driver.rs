//! The driver task: one per client. It owns the websocket and the handlers, and pumps
//! frames between the server, the [`Wire`] codec and the client's handles.
//!
//! ```text
//!  connect ──► Live ──(lost: reason)──► retried? ──no──► Closed
//!               ▲                         │yes
//!               └──── Reconnecting ◄──────┘  (backoff, attempts, refusal → Closed)
//! ```
//!
//! While live it waits on four things at once: a frame from the server, a control message
//! (handler registration, ack answer, disconnect), an emit from the queue, and the heartbeat
//! deadline (`pingInterval + pingTimeout` after the last ping). While reconnecting it serves
//! control messages only; emits wait in their bounded queue.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tickwire_protocol::engineio::Packet as EioPacket;
use tickwire_protocol::Codec;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::builder::Settings;
use super::handle::Inner;
use super::handlers::{AckResponder, AnyHandler, ConnectionHandler, EventHandler, Handlers};
use super::recovery::Recovery;
use super::wire::{Inbound, Outgoing, Wire, WsOut};
use super::{Client, ConnectionEvent, DisconnectReason, Error, ProtocolError, RawPayload};

/// Most queued emits written per wake-up before one flush.
const BATCH: usize = 64;
/// How long a goodbye (DISCONNECT, websocket close) may take.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The longest any wait is taken to be (a server may announce absurd timings).
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// The instant `wait` from now, with `wait` capped at [`FOREVER`] (so it cannot overflow).
fn after(wait: Duration) -> Instant {
    Instant::now() + wait.min(FOREVER)
}

/// Where the client is, as its handles see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    Connecting,
    /// Live, with this socket id.
    Connected(String),
    Reconnecting,
    Closed,
}

/// An emit from a handle, through the bounded queue (`try_send` from `emit`, `send().await`
/// from `emit_with_ack`; the driver reads it only while live).
pub(crate) struct Emit {
    pub(crate) event: String,
    pub(crate) payload: RawPayload,
    pub(crate) ack: Option<AckWaiter>,
}

/// Where the answer to an emit goes.
pub(crate) struct AckWaiter {
    pub(crate) id: u64,
    pub(crate) reply: oneshot::Sender<Result<RawPayload, Error>>,
}

/// A control message from a handle or an [`AckResponder`], through an unbounded channel:
/// its volume is bounded by user calls (registrations, one disconnect) and by the acks the
/// server asked for. Served while live and while reconnecting.
pub(crate) enum Control {
    On(String, EventHandler),
    Off(String),
    OnAny(AnyHandler),
    OnConnection(ConnectionHandler),
    /// An answer to the server's event `id` on connection `epoch`.
    Ack {
        epoch: u64,
        id: u64,
        payload: RawPayload,
    },
    /// The waiter of ack `id` gave up.
    ForgetAck(u64),
    Disconnect,
}

/// What applying a control message leaves for the caller to do.
enum Applied {
    Done,
    Ack {
        epoch: u64,
        id: u64,
        payload: RawPayload,
    },
    Disconnect,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One live connection: the websocket and its codec state.
struct Conn {
    ws: Ws,
    wire: Wire,
    /// `pingInterval + pingTimeout`: the longest wait for a ping.
    heartbeat: Duration,
    /// The server's `maxPayload`.
    max_payload: usize,
    sid: String,
    /// The private session id of connection state recovery, when the server has it on.
    pid: Option<String>,
}

/// The handshake JSON of the open packet (the fields a client uses).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenData {
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(default)]
    max_payload: Option<u64>,
}

pub(crate) struct Driver {
    settings: Arc<Settings>,
    handlers: Handlers,
    client: Weak<Inner>,
    emits: mpsc::Receiver<Emit>,
    control: mpsc::UnboundedReceiver<Control>,
    status: watch::Sender<Status>,
    pending: HashMap<u64, oneshot::Sender<Result<RawPayload, Error>>>,
    /// Bumped on each live connection; ack answers carry it.
    epoch: u64,
    /// The session to claim back on reconnection (JSON codec only).
    recovery: Recovery,
}

impl Driver {
    pub(crate) fn new(
        settings: Arc<Settings>,
        handlers: Handlers,
        client: Weak<Inner>,
        emits: mpsc::Receiver<Emit>,
        control: mpsc::UnboundedReceiver<Control>,
        status: watch::Sender<Status>,
    ) -> Driver {
        Driver {
            settings,
            handlers,
            client,
            emits,
            control,
            status,
            pending: HashMap::new(),
            epoch: 0,
            recovery: Recovery::default(),
        }
    }

    /// The whole life of the client. `first` learns how the first connection went.
    pub(crate) async fn run(mut self, first: oneshot::Sender<Result<(), Error>>) {
        let mut conn = match open(&self.settings, self.settings.auth.clone()).await {
            Ok(conn) => conn,
            Err(error) => {
                self.status.send_replace(Status::Closed);
                let _ = first.send(Err(error));
                return;
            }
        };
        self.went_live(&conn, None);
        let _ = first.send(Ok(()));
        loop {
            let reason = self.live(&mut conn).await;
            let retry = self.settings.reconnect.retries(reason);
            close(conn, reason).await;
            self.went_down(reason, retry);
            if !retry {
                break;
            }
            match self.reconnect().await {
                Some((next, attempts)) => {
                    conn = next;
                    self.went_live(&conn, Some(attempts));
                }
                None => break,
            }
        }
        self.status.send_replace(Status::Closed);
        tracing::debug!(namespace = %self.settings.namespace, "client closed");
    }

    /// Serve one live connection until it ends; returns why.
    async fn live(&mut self, conn: &mut Conn) -> DisconnectReason {
        let mut deadline = after(conn.heartbeat);
        loop {
            let step = tokio::select! {
                control = self.control.recv() => match control.map(|c| self.apply(c)) {
                    None | Some(Applied::Disconnect) => {
                        // What was emitted before `disconnect()` still goes out.
                        self.send_queued(conn, deadline).await;
                        Err(DisconnectReason::ClientDisconnect)
                    }
                    Some(Applied::Ack { epoch, id, payload }) => {
                        self.answer(conn, epoch, id, payload, deadline).await
                    }
                    Some(Applied::Done) => Ok(()),
                },
                frame = conn.ws.next() => self.on_frame(conn, frame, &mut deadline).await,
                emit = self.emits.recv() => match emit {
                    Some(emit) => self.send_emits(conn, emit, deadline).await,
                    // Every handle is gone.
                    None => Err(DisconnectReason::ClientDisconnect),
                },
                () = tokio::time::sleep_until(deadline) => Err(DisconnectReason::PingTimeout),
            };
            if let Err(reason) = step {
                return reason;
            }
        }
    }

    /// One websocket frame (or the end of the stream).
    async fn on_frame(
        &mut self,
        conn: &mut Conn,
        frame: Option<Result<Message, tungstenite::Error>>,
        deadline: &mut Instant,
    ) -> Result<(), DisconnectReason> {
        let packet = match frame {
            None | Some(Ok(Message::Close(_))) => return Err(DisconnectReason::TransportClose),
            Some(Err(error)) => {
                tracing::debug!(%error, "websocket failed");
                return Err(DisconnectReason::TransportError);
            }
            Some(Ok(Message::Text(text))) => match EioPacket::decode_text(&text) {
                Ok(packet) => packet,
                Err(error) => {
                    tracing::warn!(%error, "undecodable Engine.IO frame from the server");
                    return Err(DisconnectReason::ParseError);
                }
            },
            Some(Ok(Message::Binary(bytes))) => EioPacket::decode_binary(bytes),
            // Websocket-level ping / pong: tungstenite answers pings itself.
            Some(Ok(_)) => return Ok(()),
        };
        match packet {
            EioPacket::Ping(data) => {
                *deadline = after(conn.heartbeat);
                let pong = WsOut::engine(&EioPacket::Pong(data));
                send(&mut conn.ws, [pong], *deadline).await?;
                self.notify(&ConnectionEvent::Ping);
                Ok(())
            }
            EioPacket::Close => Err(DisconnectReason::TransportClose),
            message @ (EioPacket::Message(_) | EioPacket::Binary(_)) => {
                match conn.wire.decode(message) {
                    Ok(Some(inbound)) => self.on_inbound(inbound),
                    Ok(None) => Ok(()),
                    Err(error) => {
                        tracing::warn!(%error, "undecodable Socket.IO packet from the server");
                        Err(DisconnectReason::ParseError)
                    }
                }
            }
            // Open, pong, upgrade, noop: nothing for a websocket client to do.
            _ => Ok(()),
        }
    }

    fn on_inbound(&mut self, inbound: Inbound) -> Result<(), DisconnectReason> {
        match inbound {
            Inbound::Event { event, payload, id } => {
                let Some(inner) = self.client.upgrade() else {
                    return Err(DisconnectReason::ClientDisconnect);
                };
                self.recovery.event(&payload);
                let ack = AckResponder::new(id, self.epoch, inner.codec, inner.control.clone());
                let client = Client { inner };
                self.handlers.dispatch(&client, &event, payload, ack);
                Ok(())
            }
            Inbound::Ack { id, payload } => {
                match self.pending.remove(&id) {
                    Some(reply) => {
                        let _ = reply.send(Ok(payload));
                    }
                    None => tracing::debug!(id, "ack for no pending emit (timed out?)"),
                }
                Ok(())
            }
            Inbound::Disconnect => Err(DisconnectReason::ServerDisconnect),
            Inbound::Connect { .. } | Inbound::ConnectError { .. } => {
                tracing::debug!("CONNECT reply on a live connection; ignored");
                Ok(())
            }
        }
    }

    /// Encode and write `first` and whatever else is queued (up to [`BATCH`]), then flush.
    async fn send_emits(
        &mut self,
        conn: &mut Conn,
        first: Emit,
        deadline: Instant,
    ) -> Result<(), DisconnectReason> {
        let mut frames = Vec::new();
        self.encode_emit(conn, first, &mut frames);
        for _ in 1..BATCH {
            match self.emits.try_recv() {
                Ok(emit) => self.encode_emit(conn, emit, &mut frames),
                Err(_) => break,
            }
        }
        send(&mut conn.ws, frames, deadline).await
    }

    /// Write everything still queued (on the way out).
    async fn send_queued(&mut self, conn: &mut Conn, deadline: Instant) {
        let mut frames = Vec::new();
        while let Ok(emit) = self.emits.try_recv() {
            self.encode_emit(conn, emit, &mut frames);
        }
        let _ = send(&mut conn.ws, frames, deadline).await;
    }

    fn encode_emit(&mut self, conn: &Conn, emit: Emit, out: &mut Vec<WsOut>) {
        let Emit {
            event,
            payload,
            ack,
        } = emit;
        if ack.as_ref().is_some_and(|a| a.reply.is_closed()) {
            return; // Its caller timed out while it waited in the queue.
        }
        let packet = Outgoing::Event {
            event,
            payload,
            id: ack.as_ref().map(|a| a.id),
        };
        match checked(conn, packet) {
            Ok(frames) => {
                if let Some(AckWaiter { id, reply }) = ack {
                    self.pending.insert(id, reply);
                }
                out.extend(frames);
            }
            Err(error) => match ack {
                Some(waiter) => {
                    let _ = waiter.reply.send(Err(error));
                }
                None => tracing::warn!(%error, "emit dropped"),
            },
        }
    }

    /// Send an answer to the server's ack request, if it belongs to this connection.
    async fn answer(
        &mut self,
        conn: &mut Conn,
        epoch: u64,
        id: u64,
        payload: RawPayload,
        deadline: Instant,
    ) -> Result<(), DisconnectReason> {
        if epoch != self.epoch {
            tracing::debug!(id, "ack answer for a previous connection; dropped");
            return Ok(());
        }
        match checked(conn, Outgoing::Ack { id, payload }) {
            Ok(frames) => send(&mut conn.ws, frames, deadline).await,
            Err(error) => {
                tracing::warn!(%error, id, "ack answer dropped");
                Ok(())
            }
        }
    }

    fn apply(&mut self, control: Control) -> Applied {
        match control {
            Control::On(event, handler) => {
                self.handlers.events.insert(event, handler);
            }
            Control::Off(event) => {
                self.handlers.events.remove(&event);
            }
            Control::OnAny(handler) => self.handlers.any = Some(handler),
            Control::OnConnection(handler) => self.handlers.connection.push(handler),
            Control::ForgetAck(id) => {
                self.pending.remove(&id);
            }
            Control::Ack { epoch, id, payload } => return Applied::Ack { epoch, id, payload },
            Control::Disconnect => return Applied::Disconnect,
        }
        Applied::Done
    }

    /// Try again until a connection is live (with the attempts it took), or give up.
    async fn reconnect(&mut self) -> Option<(Conn, u32)> {
        let policy = self.settings.reconnect;
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            if !policy.allows(attempt) {
                self.notify(&ConnectionEvent::ReconnectFailed);
                return None;
            }
            if self.client.strong_count() == 0 {
                return None;
            }
            let delay = policy.delay(attempt, rand::random::<f64>());
            self.notify(&ConnectionEvent::Reconnecting { attempt, delay });
            self.wait_offline(tokio::time::sleep(delay)).await?;
            let settings = self.settings.clone();
            let auth = self.recovery.auth(settings.auth.as_ref());
            match self.wait_offline(open(&settings, auth)).await? {
                Ok(conn) => return Some((conn, attempt)),
                Err(error) => {
                    let refused = matches!(error, Error::ConnectRefused { .. });
                    self.notify(&ConnectionEvent::ReconnectError { attempt, error });
                    if refused {
                        self.notify(&ConnectionEvent::ReconnectFailed);
                        return None;
                    }
                }
            }
        }
    }

    /// Await `fut` while serving control messages; `None` if the client was closed
    /// meanwhile.
    async fn wait_offline<F: std::future::Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Some(out),
                control = self.control.recv() => match control.map(|c| self.apply(c)) {
                    None | Some(Applied::Disconnect) => return None,
                    Some(Applied::Ack { id, .. }) => {
                        tracing::debug!(id, "ack answer while disconnected; dropped");
                    }
                    Some(Applied::Done) => {}
                },
            }
        }
    }

    fn went_live(&mut self, conn: &Conn, attempts: Option<u32>) {
        self.epoch += 1;
        if self.settings.codec == Codec::Json {
            let recovered = self.recovery.connected(conn.pid.clone());
            if let Some(inner) = self.client.upgrade() {
                inner.recovered.store(recovered, Ordering::Release);
            }
        }
        self.status
            .send_replace(Status::Connected(conn.sid.clone()));
        let sid = conn.sid.clone();
        self.notify(&match attempts {
            None => ConnectionEvent::Connected { sid },
            Some(attempts) => ConnectionEvent::Reconnected { sid, attempts },
        });
    }

    fn went_down(&mut self, reason: DisconnectReason, retry: bool) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(Error::Disconnected));
        }
        self.status.send_replace(if retry {
            Status::Reconnecting
        } else {
            Status::Closed
        });
        self.notify(&ConnectionEvent::Disconnected(reason));
    }

    fn notify(&mut self, event: &ConnectionEvent) {
        if self.handlers.connection.is_empty() {
            return;
        }
        if let Some(inner) = self.client.upgrade() {
            self.handlers.connection_event(&Client { inner }, event);
        }
    }
}

/// Encode `packet`, refusing it if a frame is over the server's `maxPayload`.
fn checked(conn: &Conn, packet: Outgoing) -> Result<Vec<WsOut>, Error> {
    let frames = conn.wire.encode(packet)?;
    match frames.iter().map(WsOut::len).max() {
        Some(size) if size > conn.max_payload => Err(Error::TooLarge {
            size,
            max: conn.max_payload,
        }),
        _ => Ok(frames),
    }
}

/// Write `frames` and flush, by `deadline` (a write stuck past the heartbeat deadline is a
/// dead connection too).
async fn send(
    ws: &mut Ws,
    frames: impl IntoIterator<Item = WsOut>,
    deadline: Instant,
) -> Result<(), DisconnectReason> {
    let write = async {
        for frame in frames {
            let message = match frame {
                WsOut::Text(text) => Message::text(text),
                WsOut::Binary(bytes) => Message::Binary(bytes),
            };
            ws.feed(message).await?;
        }
        ws.flush().await
    };
    match tokio::time::timeout_at(deadline, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "websocket write failed");
            Err(DisconnectReason::TransportError)
        }
        Err(_) => Err(DisconnectReason::PingTimeout),
    }
}

/// Say goodbye as the reason asks: leave the namespace when the client chose to, and close
/// the websocket when it is still sound.
async fn close(mut conn: Conn, reason: DisconnectReason) {
    let deadline = Instant::now() + CLOSE_GRACE;
    match reason {
        DisconnectReason::ClientDisconnect => {
            if let Ok(frames) = conn.wire.encode(Outgoing::Disconnect) {
                let _ = send(&mut conn.ws, frames, deadline).await;
            }
        }
        DisconnectReason::ServerDisconnect => {}
        _ => return,
    }
    // The closing handshake: our close frame, then read up to the server's. Dropping the
    // socket with unread data would reset the connection, and a reset can discard what the
    // server had not read yet (the DISCONNECT above); once the server answers our close, it
    // has read everything before it.
    let _ = tokio::time::timeout_at(deadline, async {
        if conn.ws.close(None).await.is_ok() {
            while let Some(Ok(message)) = conn.ws.next().await {
                if message.is_close() {
                    break;
                }
            }
        }
    })
    .await;
}

/// One connection attempt with `auth` in the CONNECT, within the connect timeout.
async fn open(settings: &Settings, auth: Option<Value>) -> Result<Conn, Error> {
    tokio::time::timeout(settings.connect_timeout, open_now(settings, auth))
        .await
        .unwrap_or(Err(Error::ConnectTimeout))
}

/// Websocket, Engine.IO open packet, namespace CONNECT and its answer.
async fn open_now(settings: &Settings, auth: Option<Value>) -> Result<Conn, Error> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(settings.max_message_size))
        .max_frame_size(Some(settings.max_message_size));
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(settings.url.as_str(), Some(config), true)
            .await
            .map_err(websocket_error)?;

    let open = match next_packet(&mut ws).await? {
        EioPacket::Open(json) => json,
        other => {
            return Err(Error::Handshake(format!(
                "the first packet must be the open packet, got {:?}",
                other.packet_type()
            )))
        }
    };
    let open: OpenData =
        serde_json::from_str(&open).map_err(|e| Error::Handshake(format!("open packet: {e}")))?;
    let heartbeat = Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout));
    let max_payload = open
        .max_payload
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(usize::MAX);

    let mut wire = Wire::new(
        settings.codec,
        &settings.namespace,
        settings.max_message_size,
        settings.max_attachments,
    );
    let deadline = after(settings.connect_timeout);
    let connect = wire.encode(Outgoing::Connect(auth))?;
    send(&mut ws, connect, deadline)
        .await
        .map_err(|reason| Error::Transport(format!("sending CONNECT: {}", reason.as_str())))?;
    loop {
        let message = match next_packet(&mut ws).await? {
            EioPacket::Ping(data) => {
                send(&mut ws, [WsOut::engine(&EioPacket::Pong(data))], deadline)
                    .await
                    .map_err(|r| Error::Transport(r.as_str().to_owned()))?;
                continue;
            }
            EioPacket::Close => {
                return Err(Error::Transport(
                    "the server closed the session before the namespace answered".into(),
                ))
            }
            message @ (EioPacket::Message(_) | EioPacket::Binary(_)) => message,
            _ => continue,
        };
        match wire.decode(message)? {
            Some(Inbound::Connect { sid, pid }) => {
                return Ok(Conn {
                    ws,
                    wire,
                    heartbeat,
                    max_payload,
                    sid: sid.unwrap_or_default(),
                    pid,
                })
            }
            Some(Inbound::ConnectError { message, data }) => {
                return Err(Error::ConnectRefused { message, data })
            }
            Some(Inbound::Disconnect) => {
                return Err(Error::ConnectRefused {
                    message: "the server removed the socket while connecting".into(),
                    data: None,
                })
            }
            Some(_) | None => {
                tracing::debug!("packet before the namespace answered; ignored");
            }
        }
    }
}

/// The next Engine.IO packet while connecting.
async fn next_packet(ws: &mut Ws) -> Result<EioPacket, Error> {
    loop {
        return match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                EioPacket::decode_text(&text).map_err(|e| Error::Protocol(ProtocolError::from(e)))
            }
            Some(Ok(Message::Binary(bytes))) => Ok(EioPacket::decode_binary(bytes)),
            Some(Ok(Message::Close(_))) | None => Err(Error::Transport(
                "the server closed the websocket while connecting".into(),
            )),
            Some(Ok(_)) => continue,
            Some(Err(error)) => Err(websocket_error(error)),
        };
    }
}

fn websocket_error(error: tungstenite::Error) -> Error {
    match error {
        tungstenite::Error::Http(response) => Error::Refused {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        },
        tungstenite::Error::Url(e) => Error::InvalidUrl(e.to_string()),
        other => Error::Transport(other.to_string()),
    }
}
