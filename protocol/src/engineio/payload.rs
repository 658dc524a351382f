//! HTTP long-polling bodies.
//!
//! A v4 payload is the packets' text forms joined by the record separator `\x1e`; a binary
//! message is written `b` followed by the base64 of its bytes. There is no length prefix.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

use super::{DecodeError, Packet};

/// The record separator between packets of a polling payload.
pub const SEPARATOR: char = '\x1e';

/// Decode a polling POST body into its packets, in order.
///
/// `max_payload` bounds the whole body; a larger one is refused before any decoding.
pub fn decode(body: &str, max_payload: usize) -> Result<Vec<Packet>, DecodeError> {
    if body.len() > max_payload {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            max: max_payload,
        });
    }
    body.split(SEPARATOR).map(decode_one).collect()
}

fn decode_one(part: &str) -> Result<Packet, DecodeError> {
    match part.strip_prefix('b') {
        Some(b64) => STANDARD
            .decode(b64)
            .map(|bytes| Packet::Binary(Bytes::from(bytes)))
            .map_err(|_| DecodeError::InvalidBase64),
        None => Packet::decode_text(part),
    }
}

/// Append one packet to a polling body being built, adding the separator when needed.
pub fn push(body: &mut String, packet: &Packet) {
    match packet {
        Packet::Binary(bytes) => push_binary(body, bytes),
        other => {
            if let Some(text) = other.encode_text() {
                push_text_frame(body, &text);
            }
        }
    }
}

/// Append an already encoded text frame (`<digit><data>`).
pub fn push_text_frame(body: &mut String, frame: &str) {
    if !body.is_empty() {
        body.push(SEPARATOR);
    }
    body.push_str(frame);
}

/// Append a binary message as `b<base64>`.
pub fn push_binary(body: &mut String, bytes: &[u8]) {
    if !body.is_empty() {
        body.push(SEPARATOR);
    }
    body.push('b');
    STANDARD.encode_string(bytes, body);
}

/// Encode packets into one polling body.
pub fn encode<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut body = String::new();
    for packet in packets {
        push(&mut body, packet);
    }
    body
}

/// The length `push_binary` would add for `len` raw bytes (separator included), for
/// batching a response under a size budget.
pub fn binary_encoded_len(len: usize) -> usize {
    1 + 1 + len.div_ceil(3) * 4
}
