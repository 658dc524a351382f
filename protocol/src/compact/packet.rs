use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde_json::Value;

use super::CompactError;
use crate::socketio::PacketKind;

/// The kind of a compact packet: the five non-binary Socket.IO packet types.
///
/// BINARY_EVENT and BINARY_ACK do not exist in the compact format: its payloads are bytes
/// already, so there is nothing to split into attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CompactKind {
    /// `0`: join a namespace (client, optional JSON auth object) / accepted (server,
    /// `{"sid", "pid"?}` as JSON).
    Connect = 0,
    /// `1`: leave a namespace. No payload.
    Disconnect = 1,
    /// `2`: an event; its payload is the postcard encoding of the argument.
    Event = 2,
    /// `3`: the answer to an event that carried an ack id; postcard payload.
    Ack = 3,
    /// `4`: the server refused a namespace connection; JSON `{"message", "data"?}` payload.
    ConnectError = 4,
}

impl CompactKind {
    pub(super) fn from_bits(bits: u8) -> Option<CompactKind> {
        Some(match bits {
            0 => CompactKind::Connect,
            1 => CompactKind::Disconnect,
            2 => CompactKind::Event,
            3 => CompactKind::Ack,
            4 => CompactKind::ConnectError,
            _ => return None,
        })
    }
}

impl From<CompactKind> for PacketKind {
    fn from(kind: CompactKind) -> PacketKind {
        match kind {
            CompactKind::Connect => PacketKind::Connect,
            CompactKind::Disconnect => PacketKind::Disconnect,
            CompactKind::Event => PacketKind::Event,
            CompactKind::Ack => PacketKind::Ack,
            CompactKind::ConnectError => PacketKind::ConnectError,
        }
    }
}

/// The Socket.IO kinds map onto compact kinds with the binary ones folded into their plain
/// counterparts (a compact payload is binary already).
impl From<PacketKind> for CompactKind {
    fn from(kind: PacketKind) -> CompactKind {
        match kind {
            PacketKind::Connect => CompactKind::Connect,
            PacketKind::Disconnect => CompactKind::Disconnect,
            PacketKind::Event | PacketKind::BinaryEvent => CompactKind::Event,
            PacketKind::Ack | PacketKind::BinaryAck => CompactKind::Ack,
            PacketKind::ConnectError => CompactKind::ConnectError,
        }
    }
}

/// How an EVENT names its event on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventName {
    /// The event's name, as in the JSON codec (`"state"`).
    Name(Cow<'static, str>),
    /// A numeric id standing for a name, from a table the application shares with its clients
    /// (the id is the name's index in that table). For hot events: an id below 64 takes one
    /// byte where the name takes its length plus one.
    Id(u32),
}

impl EventName {
    /// The name, if the event is named rather than numbered.
    pub fn as_name(&self) -> Option<&str> {
        match self {
            EventName::Name(name) => Some(name),
            EventName::Id(_) => None,
        }
    }
}

impl From<&'static str> for EventName {
    fn from(name: &'static str) -> EventName {
        EventName::Name(Cow::Borrowed(name))
    }
}

impl From<String> for EventName {
    fn from(name: String) -> EventName {
        EventName::Name(Cow::Owned(name))
    }
}

impl From<u32> for EventName {
    fn from(id: u32) -> EventName {
        EventName::Id(id)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventName::Name(name) => f.write_str(name),
            EventName::Id(id) => write!(f, "#{id}"),
        }
    }
}

/// The main namespace.
pub(super) const MAIN_NSP: &str = "/";

/// One Socket.IO packet in the compact format.
///
/// `payload` is opaque here: postcard bytes for EVENT and ACK (see
/// [`to_payload`](super::to_payload) / [`from_payload`](super::from_payload)), UTF-8 JSON for
/// CONNECT and CONNECT_ERROR (see [`CompactPacket::json`]), empty for DISCONNECT. An empty
/// EVENT or ACK payload means "no argument". A decoded packet's payload is a slice of the
/// frame it came from, not a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactPacket {
    /// The packet kind.
    pub kind: CompactKind,
    /// The namespace, `/` by default.
    pub nsp: Cow<'static, str>,
    /// The ack id: optional on EVENT, required on ACK, absent otherwise.
    pub id: Option<u64>,
    /// The event: present on EVENT only.
    pub event: Option<EventName>,
    /// The payload bytes.
    pub payload: Bytes,
}

impl CompactPacket {
    /// A CONNECT packet: `auth` from a client, `{"sid": ...}` from the server, as JSON.
    pub fn connect(nsp: impl Into<Cow<'static, str>>, data: Option<&Value>) -> CompactPacket {
        CompactPacket::simple(CompactKind::Connect, nsp, data.map(json_bytes))
    }

    /// A DISCONNECT packet.
    pub fn disconnect(nsp: impl Into<Cow<'static, str>>) -> CompactPacket {
        CompactPacket::simple(CompactKind::Disconnect, nsp, None)
    }

    /// A CONNECT_ERROR packet with the JSON `{"message": message, "data": data}` (`data` left
    /// out when `None`), as the JSON codec writes it.
    pub fn connect_error(
        nsp: impl Into<Cow<'static, str>>,
        message: &str,
        data: Option<Value>,
    ) -> CompactPacket {
        let mut obj = serde_json::Map::new();
        obj.insert("message".into(), Value::String(message.to_owned()));
        if let Some(data) = data {
            obj.insert("data".into(), data);
        }
        let payload = json_bytes(&Value::Object(obj));
        CompactPacket::simple(CompactKind::ConnectError, nsp, Some(payload))
    }

    /// An EVENT carrying `payload` (postcard bytes; empty for no argument), with an ack id if
    /// the sender wants an answer.
    pub fn event(
        nsp: impl Into<Cow<'static, str>>,
        event: impl Into<EventName>,
        payload: Bytes,
        id: Option<u64>,
    ) -> CompactPacket {
        CompactPacket {
            kind: CompactKind::Event,
            nsp: nsp.into(),
            id,
            event: Some(event.into()),
            payload,
        }
    }

    /// An ACK for `id` carrying `payload` (postcard bytes; empty for no argument).
    pub fn ack(nsp: impl Into<Cow<'static, str>>, id: u64, payload: Bytes) -> CompactPacket {
        CompactPacket {
            kind: CompactKind::Ack,
            nsp: nsp.into(),
            id: Some(id),
            event: None,
            payload,
        }
    }

    fn simple(
        kind: CompactKind,
        nsp: impl Into<Cow<'static, str>>,
        payload: Option<Bytes>,
    ) -> CompactPacket {
        CompactPacket {
            kind,
            nsp: nsp.into(),
            id: None,
            event: None,
            payload: payload.unwrap_or_default(),
        }
    }

    /// The JSON payload of a CONNECT or CONNECT_ERROR: `None` when the payload is empty.
    ///
    /// Checks what the JSON codec checks: a CONNECT carries an object, a CONNECT_ERROR an
    /// object or a string. Other kinds carry postcard, not JSON, and are refused.
    pub fn json(&self) -> Result<Option<Value>, CompactError> {
        if self.payload.is_empty() {
            return match self.kind {
                CompactKind::ConnectError => Err(CompactError::MissingPayload),
                _ => Ok(None),
            };
        }
        let value: Value = serde_json::from_slice(&self.payload)
            .map_err(|e| CompactError::InvalidJson(e.to_string()))?;
        let fits = match self.kind {
            CompactKind::Connect => value.is_object(),
            CompactKind::ConnectError => value.is_object() || value.is_string(),
            _ => false,
        };
        if fits {
            Ok(Some(value))
        } else {
            Err(CompactError::InvalidJson(format!(
                "a {:?} packet does not carry this JSON",
                self.kind
            )))
        }
    }
}

fn json_bytes(value: &Value) -> Bytes {
    // A `Value` always serializes.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}
