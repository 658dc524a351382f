//! The client's errors and disconnect reasons.

use serde_json::Value;
use thiserror::Error;
use tickwire_protocol::{compact, engineio, socketio};

use tickwire_protocol::Codec;

/// Why a client call failed. Each variant says what to do about it.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http://host[:port]` or `ws://host[:port]`, or it carries a path.
    /// Fix the URL: the endpoint path goes in `ClientBuilder::path`, the namespace in
    /// `ClientBuilder::namespace`.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// This build cannot do what was asked (e.g. TLS: `https://` / `wss://`).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The server could not be reached, or the websocket failed. Transient: try again later
    /// (automatic reconnection does).
    #[error("transport: {0}")]
    Transport(String),
    /// The server answered the websocket request with an HTTP error (e.g. 400 for a codec
    /// it does not know, 403 from an origin check). Fix the request; retrying will not help.
    #[error("the server refused the websocket with HTTP {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body (the Engine.IO error JSON, for a tickwire server).
        body: String,
    },
    /// The server does not speak Engine.IO v4 on websocket: its first frame was not an open
    /// packet, or the handshake JSON lacks `sid` / `pingInterval` / `pingTimeout`.
    #[error("bad Engine.IO handshake: {0}")]
    Handshake(String),
    /// The server sent something that does not decode. The connection is closed (reason
    /// [`DisconnectReason::ParseError`]) and, if reconnection is on, opened again.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The namespace refused the connection (a CONNECT_ERROR, e.g. from an auth middleware).
    /// The client does not retry a refusal: fix the auth or namespace and connect again.
    #[error("namespace refused the connection: {message}")]
    ConnectRefused {
        /// The refusal's message.
        message: String,
        /// The data the server attached, if any.
        data: Option<Value>,
    },
    /// The websocket, the handshake and the namespace CONNECT together took longer than the
    /// connect timeout. Transient, like [`Error::Transport`].
    #[error("connection timed out")]
    ConnectTimeout,
    /// No acknowledgement arrived within the timeout. A late one is dropped.
    #[error("ack timed out")]
    AckTimeout,
    /// The connection went down while the acknowledgement was pending: the event may or may
    /// not have reached the server.
    #[error("disconnected before the ack arrived")]
    Disconnected,
    /// The client is closed (`disconnect()`, the server removed the socket, a refusal, or
    /// reconnection gave up). Build a new client to go on.
    #[error("client is closed")]
    Closed,
    /// The outbound queue is full: the connection cannot keep up, or the client is
    /// reconnecting with a full backlog. Slow down, or drop the message.
    #[error("outbound queue is full")]
    QueueFull,
    /// The packet is larger than the server's `maxPayload`; it was not sent (the server
    /// would have closed the connection).
    #[error("packet of {size} bytes is over the server's limit of {max}")]
    TooLarge {
        /// The encoded size.
        size: usize,
        /// The server's `maxPayload`.
        max: usize,
    },
    /// The value does not serialize with the client's codec (postcard refuses some serde
    /// features, such as untagged enums or `flatten`).
    #[error("payload does not serialize: {0}")]
    Serialize(String),
    /// A received payload does not deserialize into the requested type.
    #[error("payload does not match the expected type: {0}")]
    Decode(String),
    /// A raw payload of one codec was handed to a client speaking the other.
    #[error("a {payload:?} payload cannot be sent by a {client:?} client")]
    CodecMismatch {
        /// The client's codec.
        client: Codec,
        /// The payload's codec.
        payload: Codec,
    },
}

/// A frame from the server that breaks the wire format, by layer.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not an Engine.IO v4 packet.
    #[error("Engine.IO: {0}")]
    EngineIo(#[from] engineio::DecodeError),
    /// Not a Socket.IO v5 packet (JSON codec).
    #[error("Socket.IO: {0}")]
    SocketIo(#[from] socketio::DecodeError),
    /// Not a compact-codec frame.
    #[error("compact codec: {0}")]
    Compact(#[from] compact::CompactError),
    /// A packet that decodes but makes no sense here (e.g. an ACK without an id).
    #[error("{0}")]
    Unexpected(&'static str),
}

/// Why the client's connection to its namespace ended (Socket.IO's reason strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// `disconnect()` was called, or every handle to the client was dropped. Final.
    ClientDisconnect,
    /// The server removed the socket from the namespace (a DISCONNECT packet). Final unless
    /// [`Reconnect::after_server_disconnect`](super::Reconnect::after_server_disconnect).
    ServerDisconnect,
    /// The server closed the connection (close packet or websocket close). Reconnects.
    TransportClose,
    /// The websocket failed. Reconnects.
    TransportError,
    /// No ping from the server within `pingInterval + pingTimeout`. Reconnects.
    PingTimeout,
    /// The server sent a frame that does not decode. Reconnects.
    ParseError,
}

impl DisconnectReason {
    /// The reason as the Socket.IO JS client spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientDisconnect => "io client disconnect",
            DisconnectReason::ServerDisconnect => "io server disconnect",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
        }
    }
}
