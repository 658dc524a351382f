use std::fmt;

use thiserror::Error;

use super::CompactKind;

/// A header field of a compact frame, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Byte 0, the format version.
    Version,
    /// Byte 1, the packet kind and flags.
    Kind,
    /// The namespace (length and bytes).
    Namespace,
    /// The ack id.
    AckId,
    /// The event name or numeric event id.
    Event,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Version => "version",
            Field::Kind => "kind",
            Field::Namespace => "namespace",
            Field::AckId => "ack id",
            Field::Event => "event",
        })
    }
}

/// A compact frame that breaks the format, or a packet that cannot be written in it.
///
/// Decoding: every variant means the peer sent a frame this version of the format does not
/// allow. The runtime answers with a clean disconnect (Socket.IO's "parse error"); nothing of
/// the frame was applied. Encoding: the packet was built wrong by the caller (a bug, not a
/// peer's fault); nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompactError {
    /// The frame is longer than [`Limits::max_frame_len`](super::Limits::max_frame_len);
    /// refused before reading it.
    #[error("compact frame of {len} bytes is over the limit of {max}")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The frame ends inside a header field (or a length points past its end).
    #[error("compact frame truncated in the {field}")]
    Truncated {
        /// The field being read.
        field: Field,
    },
    /// Byte 0 is not a version this decoder knows. A peer speaking a newer format: it must
    /// fall back to a version the server announced, or to JSON.
    #[error("unsupported compact format version {0}")]
    UnsupportedVersion(u8),
    /// The kind bits of byte 1 are 5, 6 or 7 (the binary kinds do not exist in this format).
    #[error("unknown compact packet kind {0}")]
    UnknownKind(u8),
    /// One of the reserved bits 5..=7 of byte 1 is set.
    #[error("reserved bits set in compact kind byte {0:#04x}")]
    ReservedBits(u8),
    /// A varint is longer than ten bytes or its value does not fit in 64 bits.
    #[error("varint overflow in the {field}")]
    VarintOverflow {
        /// The field being read.
        field: Field,
    },
    /// A varint is not in its shortest form (a redundant trailing zero group).
    #[error("non-canonical varint in the {field}")]
    NonCanonicalVarint {
        /// The field being read.
        field: Field,
    },
    /// A length prefix is over its limit; refused before looking at the bytes it announces.
    #[error("{field} length {len} is over the limit of {max}")]
    TooLong {
        /// The field being read.
        field: Field,
        /// The announced (or, when encoding, actual) length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The namespace or event name is not UTF-8.
    #[error("invalid UTF-8 in the {field}")]
    InvalidUtf8 {
        /// The field being read.
        field: Field,
    },
    /// A namespace written out does not start with `/`, is `/` itself (the main namespace is
    /// written by leaving the flag clear) or contains a `,` (which the JSON codec could not
    /// carry, so the two codecs share one set of namespaces).
    #[error("invalid namespace")]
    InvalidNamespace,
    /// A numeric event id above `u32::MAX`.
    #[error("numeric event id {0} is out of range")]
    EventIdOutOfRange(u64),
    /// A CONNECT, DISCONNECT or CONNECT_ERROR with an ack id.
    #[error("{0:?} packets carry no ack id")]
    UnexpectedAckId(CompactKind),
    /// An ACK without an ack id.
    #[error("ACK packet without an ack id")]
    MissingAckId,
    /// Encoding only: an EVENT without an event, or another kind with one.
    #[error("an EVENT needs an event name or id, other kinds take none")]
    EventMismatch,
    /// Bytes after the header of a packet kind that has no payload (DISCONNECT).
    #[error("{len} trailing bytes after a {kind:?} packet")]
    TrailingBytes {
        /// The packet kind.
        kind: CompactKind,
        /// How many bytes were left.
        len: usize,
    },
    /// A CONNECT_ERROR with an empty payload.
    #[error("CONNECT_ERROR packet without a payload")]
    MissingPayload,
    /// The JSON payload of a CONNECT or CONNECT_ERROR does not parse, or is not what the kind
    /// requires (an object for CONNECT; an object or a string for CONNECT_ERROR).
    #[error("invalid JSON payload: {0}")]
    InvalidJson(String),
}

/// A postcard payload that does not match the type asked for.
///
/// The frame around it was well formed, so this is about the application's types: a client
/// built against other event types, or a hostile one. The runtime refuses the event (and may
/// disconnect the client); it never reaches a handler.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// postcard refused to serialize or deserialize the value (truncated input, bad bool or
    /// option tag, invalid UTF-8, a varint out of range, a type postcard cannot carry, ...).
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// The value ended before the payload did.
    #[error("{0} trailing bytes after the payload value")]
    TrailingBytes(usize),
}
