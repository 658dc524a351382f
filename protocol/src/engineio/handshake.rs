//! Request validation and the open packet.

use serde::Serialize;

use super::RequestError;

/// The transport a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// The Engine.IO parameters of a request's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeQuery {
    /// The transport of this request.
    pub transport: TransportKind,
    /// The session id, absent on a handshake.
    pub sid: Option<String>,
}

impl HandshakeQuery {
    /// Validate the decoded `(key, value)` pairs of a query string.
    ///
    /// `EIO` must be `4` (code 5 otherwise), `transport` must be `polling` or `websocket`
    /// (code 0 otherwise). Other keys are the application's and are ignored here.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HandshakeQuery, RequestError> {
        let (mut eio, mut transport, mut sid) = (None, None, None);
        for (key, value) in pairs {
            match key {
                "EIO" => eio = Some(value),
                "transport" => transport = Some(value),
                "sid" => sid = Some(value),
                _ => {}
            }
        }
        let transport = match transport {
            Some("polling") => TransportKind::Polling,
            Some("websocket") => TransportKind::WebSocket,
            _ => return Err(RequestError::TransportUnknown),
        };
        if eio != Some("4") {
            return Err(RequestError::UnsupportedProtocolVersion);
        }
        let sid = match sid {
            Some("") => return Err(RequestError::SessionIdUnknown),
            other => other.map(str::to_owned),
        };
        Ok(HandshakeQuery { transport, sid })
    }
}

/// The handshake JSON of the open packet: exactly these five keys, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket<'a> {
    /// The new session id.
    pub sid: &'a str,
    /// `["websocket"]` for a polling session, `[]` for a websocket session.
    pub upgrades: &'a [&'a str],
    /// Milliseconds between server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
    /// The largest payload the server accepts, in bytes.
    pub max_payload: u64,
}

impl OpenPacket<'_> {
    /// The upgrades to advertise for a session that starts on `transport`.
    pub fn upgrades_for(transport: TransportKind) -> &'static [&'static str] {
        match transport {
            TransportKind::Polling => &["websocket"],
            TransportKind::WebSocket => &[],
        }
    }

    /// The open packet's text form: `0{...}`.
    pub fn encode(&self) -> String {
        let mut out = String::from("0");
        // Serializing a struct of strings and integers cannot fail.
        out.push_str(&serde_json::to_string(self).unwrap_or_default());
        out
    }
}

/// Make a session id from caller-supplied entropy: URL-safe base64, 20 characters.
pub fn sid_from_entropy(entropy: [u8; 15]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(entropy)
}
