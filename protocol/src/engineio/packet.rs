use bytes::Bytes;

use super::DecodeError;

/// The type digit of an Engine.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// `0`: sent by the server once, with the handshake JSON.
    Open = 0,
    /// `1`: either side closes the session.
    Close = 1,
    /// `2`: the server's heartbeat, or the client's `2probe` during an upgrade.
    Ping = 2,
    /// `3`: the client's heartbeat answer, or the server's `3probe`.
    Pong = 3,
    /// `4`: application data (a Socket.IO packet).
    Message = 4,
    /// `5`: the client completes the upgrade to websocket.
    Upgrade = 5,
    /// `6`: no-op, ends a poll cleanly during an upgrade.
    Noop = 6,
}

impl PacketType {
    /// The ASCII digit of this type.
    pub fn digit(self) -> char {
        (b'0' + self as u8) as char
    }

    fn from_char(c: char) -> Result<Self, DecodeError> {
        Ok(match c {
            '0' => PacketType::Open,
            '1' => PacketType::Close,
            '2' => PacketType::Ping,
            '3' => PacketType::Pong,
            '4' => PacketType::Message,
            '5' => PacketType::Upgrade,
            '6' => PacketType::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }
}

/// One Engine.IO packet.
///
/// Text packets travel as `<type digit><data>`; a binary message travels as a websocket binary
/// frame with no prefix, or as `b<base64>` inside a polling payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// The open packet carrying the handshake JSON (see [`super::OpenPacket`]).
    Open(String),
    /// Close the session.
    Close,
    /// Heartbeat or probe; the data is `""` or `"probe"`.
    Ping(String),
    /// Heartbeat answer or probe answer.
    Pong(String),
    /// A text message.
    Message(String),
    /// A binary message.
    Binary(Bytes),
    /// Upgrade complete.
    Upgrade,
    /// No-op.
    Noop,
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) | Packet::Binary(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// Decode a websocket text frame (or one text packet of a polling payload).
    ///
    /// Data after the type digit of `close`, `upgrade` and `noop` is ignored, as the
    /// reference implementation does.
    pub fn decode_text(frame: &str) -> Result<Packet, DecodeError> {
        let mut chars = frame.chars();
        let first = chars.next().ok_or(DecodeError::Empty)?;
        let data = chars.as_str();
        Ok(match PacketType::from_char(first)? {
            PacketType::Open => Packet::Open(data.to_owned()),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(data.to_owned()),
            PacketType::Pong => Packet::Pong(data.to_owned()),
            PacketType::Message => Packet::Message(data.to_owned()),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Decode a websocket binary frame: always a binary message.
    pub fn decode_binary(frame: Bytes) -> Packet {
        Packet::Binary(frame)
    }

    /// The text form `<digit><data>`, or `None` for a binary message.
    pub fn encode_text(&self) -> Option<String> {
        let data: &str = match self {
            Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) | Packet::Message(d) => d,
            Packet::Binary(_) => return None,
            Packet::Close | Packet::Upgrade | Packet::Noop => "",
        };
        let mut out = String::with_capacity(1 + data.len());
        out.push(self.packet_type().digit());
        out.push_str(data);
        Some(out)
    }

    /// Prefix a Socket.IO packet's text with the Engine.IO message digit, without copying
    /// the packet twice: the result is the websocket text frame.
    pub fn message_frame(socketio_text: &str) -> String {
        let mut out = String::with_capacity(1 + socketio_text.len());
        out.push('4');
        out.push_str(socketio_text);
        out
    }
}
