use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{CompactError, Field};
use super::packet::{CompactKind, CompactPacket, EventName, MAIN_NSP};
use super::varint;

/// The format version this module writes and the only one it reads.
pub const VERSION: u8 = 1;

/// Byte 1: the packet kind.
const KIND_MASK: u8 = 0b0000_0111;
/// Byte 1: a namespace other than `/` follows.
const FLAG_NSP: u8 = 0b0000_1000;
/// Byte 1: an ack id follows.
const FLAG_ACK_ID: u8 = 0b0001_0000;
/// Byte 1: bits that must be zero in version 1.
const RESERVED: u8 = 0b1110_0000;

/// Limits applied while decoding (and, for names, while encoding, so that a frame this side
/// writes is one its peer reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest frame accepted, header and payload (default 1,000,000 bytes, the server's
    /// default max payload).
    pub max_frame_len: usize,
    /// The longest namespace, in bytes (default 256).
    pub max_namespace_len: usize,
    /// The longest event name, in bytes (default 256).
    pub max_event_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: 1_000_000,
            max_namespace_len: 256,
            max_event_len: 256,
        }
    }
}

/// No limits: what [`encode`] checks lengths against.
const UNBOUNDED: Limits = Limits {
    max_frame_len: usize::MAX,
    max_namespace_len: usize::MAX,
    max_event_len: usize::MAX,
};

/// Encode `packet` as one frame (one websocket binary message).
///
/// The frame is allocated once, at its exact size, and the payload copied in after the header.
/// Fails, writing nothing, on a packet that breaks the format's rules (see [`encode_into`]);
/// lengths are not limited here: use [`encode_into`] to check them against the peer's
/// [`Limits`].
pub fn encode(packet: &CompactPacket) -> Result<Bytes, CompactError> {
    let header = header_len(packet, &UNBOUNDED)?;
    let mut out = BytesMut::with_capacity(header + packet.payload.len());
    write(packet, &mut out);
    Ok(out.freeze())
}

/// Append `packet`'s frame to `out`, checking it against `limits` first.
///
/// Refused, with `out` untouched: an invalid namespace, a name or frame over the limits, an
/// ack id on a kind that takes none, an ACK without one, an EVENT without an event (or another
/// kind with one), a DISCONNECT with a payload, a CONNECT_ERROR without one.
pub fn encode_into(
    packet: &CompactPacket,
    out: &mut BytesMut,
    limits: &Limits,
) -> Result<(), CompactError> {
    header_len(packet, limits)?;
    write(packet, out);
    Ok(())
}

/// Check `packet` and return the length of its header.
fn header_len(packet: &CompactPacket, limits: &Limits) -> Result<usize, CompactError> {
    let mut len = 2;
    if packet.nsp != MAIN_NSP {
        check_namespace(packet.nsp.as_bytes())?;
        check_len(Field::Namespace, packet.nsp.len(), limits.max_namespace_len)?;
        len += varint::len(packet.nsp.len() as u64) + packet.nsp.len();
    }
    match (packet.kind, packet.id) {
        (CompactKind::Ack, None) => return Err(CompactError::MissingAckId),
        (CompactKind::Event | CompactKind::Ack, Some(id)) => len += varint::len(id),
        (CompactKind::Event, None) => {}
        (kind, Some(_)) => return Err(CompactError::UnexpectedAckId(kind)),
        (_, None) => {}
    }
    match (packet.kind, &packet.event) {
        (CompactKind::Event, Some(EventName::Name(name))) => {
            check_len(Field::Event, name.len(), limits.max_event_len)?;
            len += varint::len((name.len() as u64) << 1) + name.len();
        }
        (CompactKind::Event, Some(EventName::Id(id))) => {
            len += varint::len((u64::from(*id) << 1) | 1);
        }
        (CompactKind::Event, None) | (_, Some(_)) => return Err(CompactError::EventMismatch),
        (_, None) => {}
    }
    match packet.kind {
        CompactKind::Disconnect if !packet.payload.is_empty() => {
            return Err(CompactError::TrailingBytes {
                kind: packet.kind,
                len: packet.payload.len(),
            })
        }
        CompactKind::ConnectError if packet.payload.is_empty() => {
            return Err(CompactError::MissingPayload)
        }
        _ => {}
    }
    let total = len + packet.payload.len();
    if total > limits.max_frame_len {
        return Err(CompactError::FrameTooLarge {
            len: total,
            max: limits.max_frame_len,
        });
    }
    Ok(len)
}

fn check_len(field: Field, len: usize, max: usize) -> Result<(), CompactError> {
    if len > max {
        return Err(CompactError::TooLong {
            field,
            len: len as u64,
            max,
        });
    }
    Ok(())
}

/// A namespace written out starts with `/`, is not `/` alone and has no `,`.
fn check_namespace(nsp: &[u8]) -> Result<(), CompactError> {
    if nsp.first() != Some(&b'/') || nsp.len() == 1 || nsp.contains(&b',') {
        return Err(CompactError::InvalidNamespace);
    }
    Ok(())
}

/// Write a packet already checked by [`header_len`].
fn write(packet: &CompactPacket, out: &mut BytesMut) {
    let mut kind = packet.kind as u8;
    let explicit_nsp = packet.nsp != MAIN_NSP;
    if explicit_nsp {
        kind |= FLAG_NSP;
    }
    if packet.id.is_some() {
        kind |= FLAG_ACK_ID;
    }
    out.put_u8(VERSION);
    out.put_u8(kind);
    if explicit_nsp {
        varint::put(out, packet.nsp.len() as u64);
        out.put_slice(packet.nsp.as_bytes());
    }
    if let Some(id) = packet.id {
        varint::put(out, id);
    }
    match &packet.event {
        Some(EventName::Name(name)) => {
            varint::put(out, (name.len() as u64) << 1);
            out.put_slice(name.as_bytes());
        }
        Some(EventName::Id(id)) => varint::put(out, (u64::from(*id) << 1) | 1),
        None => {}
    }
    out.put_slice(&packet.payload);
}

/// Decode one frame.
///
/// The payload of the returned packet is a slice of `frame` (no copy); the namespace (unless
/// `/`) and the event name are copied out, and nothing else is allocated. Every length is
/// checked against its limit and against the bytes left before anything is read or allocated.
/// The format is canonical: a frame that decodes encodes back to the very same bytes.
pub fn decode(frame: Bytes, limits: &Limits) -> Result<CompactPacket, CompactError> {
    if frame.len() > limits.max_frame_len {
        return Err(CompactError::FrameTooLarge {
            len: frame.len(),
            max: limits.max_frame_len,
        });
    }
    let mut cursor = Cursor {
        input: &frame,
        pos: 0,
    };

    let version = cursor.byte(Field::Version)?;
    if version != VERSION {
        return Err(CompactError::UnsupportedVersion(version));
    }
    let flags = cursor.byte(Field::Kind)?;
    if flags & RESERVED != 0 {
        return Err(CompactError::ReservedBits(flags));
    }
    let kind = CompactKind::from_bits(flags & KIND_MASK)
        .ok_or(CompactError::UnknownKind(flags & KIND_MASK))?;

    let nsp = if flags & FLAG_NSP != 0 {
        let bytes = cursor.prefixed(Field::Namespace, limits.max_namespace_len)?;
        check_namespace(bytes)?;
        Cow::Owned(utf8(bytes, Field::Namespace)?.to_owned())
    } else {
        Cow::Borrowed(MAIN_NSP)
    };

    let id = if flags & FLAG_ACK_ID != 0 {
        if !matches!(kind, CompactKind::Event | CompactKind::Ack) {
            return Err(CompactError::UnexpectedAckId(kind));
        }
        Some(cursor.varint(Field::AckId)?)
    } else if kind == CompactKind::Ack {
        return Err(CompactError::MissingAckId);
    } else {
        None
    };

    let event = if kind == CompactKind::Event {
        let tag = cursor.varint(Field::Event)?;
        if tag & 1 == 1 {
            let id = tag >> 1;
            Some(EventName::Id(
                u32::try_from(id).map_err(|_| CompactError::EventIdOutOfRange(id))?,
            ))
        } else {
            let bytes = cursor.take(Field::Event, tag >> 1, limits.max_event_len)?;
            Some(EventName::Name(Cow::Owned(
                utf8(bytes, Field::Event)?.to_owned(),
            )))
        }
    } else {
        None
    };

    let start = cursor.pos;
    let rest = frame.len() - start;
    match kind {
        CompactKind::Disconnect if rest > 0 => {
            return Err(CompactError::TrailingBytes { kind, len: rest })
        }
        CompactKind::ConnectError if rest == 0 => return Err(CompactError::MissingPayload),
        _ => {}
    }
    Ok(CompactPacket {
        kind,
        nsp,
        id,
        event,
        payload: frame.slice(start..),
    })
}

fn utf8(bytes: &[u8], field: Field) -> Result<&str, CompactError> {
    std::str::from_utf8(bytes).map_err(|_| CompactError::InvalidUtf8 { field })
}

/// A read position in a frame; every read checks the bytes left first.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self, field: Field) -> Result<u8, CompactError> {
        let byte = *self
            .input
            .get(self.pos)
            .ok_or(CompactError::Truncated { field })?;
        self.pos += 1;
        Ok(byte)
    }

    fn varint(&mut self, field: Field) -> Result<u64, CompactError> {
        let (value, used) = varint::get(&self.input[self.pos..], field)?;
        self.pos += used;
        Ok(value)
    }

    /// `len` bytes, refused if over `max` or past the end of the frame.
    fn take(&mut self, field: Field, len: u64, max: usize) -> Result<&'a [u8], CompactError> {
        if len > max as u64 {
            return Err(CompactError::TooLong { field, len, max });
        }
        let len = len as usize;
        if len > self.input.len() - self.pos {
            return Err(CompactError::Truncated { field });
        }
        let bytes = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }

    /// A varint length, then that many bytes.
    fn prefixed(&mut self, field: Field, max: usize) -> Result<&'a [u8], CompactError> {
        let len = self.varint(field)?;
        self.take(field, len, max)
    }
}
