use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::Value;

use super::DecodeError;

/// The type digit of a Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketKind {
    /// `0`: join a namespace (client, with optional auth object) / accepted (server, `{"sid"}`).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event `[name, ...args]`.
    Event = 2,
    /// `3`: the answer to an event that carried an ack id: `[...args]`.
    Ack = 3,
    /// `4`: the server refused a namespace connection: `{"message", "data"?}`.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an ack with binary attachments.
    BinaryAck = 6,
}

impl PacketKind {
    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::ConnectError,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return Err(DecodeError::UnknownType),
        })
    }

    /// Whether packets of this kind carry attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketKind::BinaryEvent | PacketKind::BinaryAck)
    }
}

/// Limits applied while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeConfig {
    /// The most attachments one packet may announce (default 64).
    pub max_attachments: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_attachments: 64,
        }
    }
}

/// One Socket.IO packet.
///
/// `data` is the whole JSON payload: for events the array `[name, ...args]`, for acks the
/// array of arguments. Binary values stay as placeholder objects in `data`, and their bytes
/// are in `attachments`, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type. Binary kinds are used iff `attachments` is not empty.
    pub kind: PacketKind,
    /// The namespace, `/` by default.
    pub nsp: String,
    /// The ack id, on events that expect an answer and on acks.
    pub id: Option<u64>,
    /// The JSON payload, if any.
    pub data: Option<Value>,
    /// Binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
}

impl Packet {
    /// A CONNECT packet; `auth` from a client, `{"sid": ...}` from the server.
    pub fn connect(nsp: impl Into<String>, data: Option<Value>) -> Packet {
        Packet::simple(PacketKind::Connect, nsp, data)
    }

    /// A DISCONNECT packet.
    pub fn disconnect(nsp: impl Into<String>) -> Packet {
        Packet::simple(PacketKind::Disconnect, nsp, None)
    }

    /// A CONNECT_ERROR packet with `{"message": message, "data": data}` (`data` left out
    /// when `None`).
    pub fn connect_error(nsp: impl Into<String>, message: &str, data: Option<Value>) -> Packet {
        let mut obj = serde_json::Map::new();
        obj.insert("message".into(), Value::String(message.to_owned()));
        if let Some(data) = data {
            obj.insert("data".into(), data);
        }
        Packet::simple(PacketKind::ConnectError, nsp, Some(Value::Object(obj)))
    }

    /// An event `[event, ...args]`, binary if `attachments` is not empty.
    pub fn event(
        nsp: impl Into<String>,
        event: &str,
        args: impl IntoIterator<Item = Value>,
        attachments: Vec<Bytes>,
        id: Option<u64>,
    ) -> Packet {
        let mut array = vec![Value::String(event.to_owned())];
        array.extend(args);
        Packet {
            kind: if attachments.is_empty() {
                PacketKind::Event
            } else {
                PacketKind::BinaryEvent
            },
            nsp: nsp.into(),
            id,
            data: Some(Value::Array(array)),
            attachments,
        }
    }

    /// An ack for `id` carrying `args`, binary if `attachments` is not empty.
    pub fn ack(
        nsp: impl Into<String>,
        id: u64,
        args: Vec<Value>,
        attachments: Vec<Bytes>,
    ) -> Packet {
        Packet {
            kind: if attachments.is_empty() {
                PacketKind::Ack
            } else {
                PacketKind::BinaryAck
            },
            nsp: nsp.into(),
            id: Some(id),
            data: Some(Value::Array(args)),
            attachments,
        }
    }

    fn simple(kind: PacketKind, nsp: impl Into<String>, data: Option<Value>) -> Packet {
        Packet {
            kind,
            nsp: nsp.into(),
            id: None,
            data,
            attachments: Vec::new(),
        }
    }

    /// The event name of an EVENT / BINARY_EVENT (numbers are accepted as names, as the
    /// reference parser does, and read here as `None`).
    pub fn event_name(&self) -> Option<&str> {
        match (&self.kind, &self.data) {
            (PacketKind::Event | PacketKind::BinaryEvent, Some(Value::Array(a))) => {
                a.first().and_then(Value::as_str)
            }
            _ => None,
        }
    }

    /// The arguments: an event's elements after the name, an ack's whole array.
    pub fn args(&self) -> &[Value] {
        match (&self.kind, &self.data) {
            (PacketKind::Event | PacketKind::BinaryEvent, Some(Value::Array(a))) => {
                a.get(1..).unwrap_or(&[])
            }
            (PacketKind::Ack | PacketKind::BinaryAck, Some(Value::Array(a))) => a,
            _ => &[],
        }
    }

    /// Take the arguments out of the packet (see [`Packet::args`]).
    pub fn into_args(self) -> (Vec<Value>, Vec<Bytes>) {
        let args = match (self.kind, self.data) {
            (PacketKind::Event | PacketKind::BinaryEvent, Some(Value::Array(mut a))) => {
                if a.is_empty() {
                    a
                } else {
                    a.split_off(1)
                }
            }
            (PacketKind::Ack | PacketKind::BinaryAck, Some(Value::Array(a))) => a,
            _ => Vec::new(),
        };
        (args, self.attachments)
    }
}

/// Decode a packet's text form, as carried by one Engine.IO text message.
///
/// For a binary kind the returned packet's `attachments` is empty and the caller must collect
/// the announced number of binary messages: use [`super::Reassembler`], which does this.
/// Returns the packet and the number of attachments it announced.
pub fn decode_text(text: &str, config: &DecodeConfig) -> Result<Packet, DecodeError> {
    decode_header(text, config).map(|(packet, _)| packet)
}

pub(crate) fn decode_header(
    text: &str,
    config: &DecodeConfig,
) -> Result<(Packet, usize), DecodeError> {
    let Header {
        kind,
        attachments: expected,
        nsp,
        id,
        rest,
    } = header(text, config)?;
    let nsp = nsp.to_owned();
    let data = if rest.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(rest)
                .map_err(|e| DecodeError::InvalidJson(e.to_string()))?,
        )
    };
    if !payload_is_valid(kind, data.as_ref()) {
        return Err(DecodeError::InvalidPayload);
    }
    if kind.is_binary() && data.is_none() {
        return Err(DecodeError::InvalidPayload);
    }
    Ok((
        Packet {
            kind,
            nsp,
            id,
            data,
            attachments: Vec::new(),
        },
        expected,
    ))
}

/// What precedes a packet's JSON: its kind, announced attachments, namespace and ack id.
pub(crate) struct Header<'a> {
    pub(crate) kind: PacketKind,
    pub(crate) attachments: usize,
    pub(crate) nsp: &'a str,
    pub(crate) id: Option<u64>,
    /// The JSON after the header (empty when there is none).
    pub(crate) rest: &'a str,
}

pub(crate) fn header<'a>(text: &'a str, config: &DecodeConfig) -> Result<Header<'a>, DecodeError> {
    let bytes = text.as_bytes();
    let kind = PacketKind::from_byte(*bytes.first().ok_or(DecodeError::Empty)?)?;
    let mut i = 1;

    let mut attachments = 0;
    if kind.is_binary() {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || bytes.get(i) != Some(&b'-') {
            return Err(DecodeError::IllegalAttachments);
        }
        attachments = text[start..i]
            .parse::<usize>()
            .map_err(|_| DecodeError::IllegalAttachments)?;
        if attachments > config.max_attachments {
            return Err(DecodeError::IllegalAttachments);
        }
        i += 1;
    }

    let nsp = if bytes.get(i) == Some(&b'/') {
        let start = i;
        while i < bytes.len() && bytes[i] != b',' {
            i += 1;
        }
        let nsp = &text[start..i];
        if i < bytes.len() {
            i += 1; // the comma
        }
        nsp
    } else {
        "/"
    };

    let mut id = None;
    let start = i;
    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i > start {
        id = Some(
            text[start..i]
                .parse::<u64>()
                .map_err(|_| DecodeError::InvalidAckId)?,
        );
    }
    Ok(Header {
        kind,
        attachments,
        nsp,
        id,
        rest: &text[i..],
    })
}

/// Event names a client may not send: the library's own lifecycle events (the reference
/// parser refuses them too, so a client cannot fake a `disconnect`).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

fn payload_is_valid(kind: PacketKind, data: Option<&Value>) -> bool {
    match kind {
        PacketKind::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketKind::Disconnect => data.is_none(),
        PacketKind::ConnectError => matches!(data, Some(Value::Object(_) | Value::String(_))),
        PacketKind::Event | PacketKind::BinaryEvent => match data {
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
                Some(Value::Number(_)) => true,
                _ => false,
            },
            _ => false,
        },
        PacketKind::Ack | PacketKind::BinaryAck => matches!(data, Some(Value::Array(_))),
    }
}

/// Encode a packet's text form (without the Engine.IO `4` prefix).
pub fn encode(packet: &Packet) -> String {
    let mut out = String::new();
    encode_into(packet, &mut out);
    out
}

/// Append a packet's text form to `out` (e.g. after an Engine.IO `4`, so that a websocket
/// frame is built with one allocation).
pub fn encode_into(packet: &Packet, out: &mut String) {
    let kind = match (packet.kind, packet.attachments.is_empty()) {
        (PacketKind::Event, false) => PacketKind::BinaryEvent,
        (PacketKind::Ack, false) => PacketKind::BinaryAck,
        (kind, _) => kind,
    };
    out.push((b'0' + kind as u8) as char);
    if kind.is_binary() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{}-", packet.attachments.len());
    }
    if packet.nsp != "/" && !packet.nsp.is_empty() {
        out.push_str(&packet.nsp);
        out.push(',');
    }
    if let Some(id) = packet.id {
        let _ = write!(out, "{id}");
    }
    if let Some(data) = &packet.data {
        // A `Value` always serializes.
        let json = serde_json::to_string(data).unwrap_or_default();
        out.push_str(&json);
    }
}
