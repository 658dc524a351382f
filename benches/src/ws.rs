//! Minimal RFC 6455 framing, sans-IO: just what the load generator and the floor server need.
//!
//! No extensions (no per-message deflate), frames up to 2^63 bytes, fragmented messages
//! reassembled by the caller. Clients mask what they send; servers do not.

use base64::Engine as _;

/// Continuation frame.
pub const OP_CONT: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// The fixed GUID of the opening handshake (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Last frame of a message.
    pub fin: bool,
    /// The opcode (`OP_*`).
    pub opcode: u8,
    /// The masking key, when the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// Bytes of header before the payload.
    pub header_len: usize,
    /// Payload bytes after the header.
    pub payload_len: usize,
}

impl Head {
    /// Header plus payload.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.payload_len
    }
}

/// Why a frame header is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// RSV bits set: no extension was negotiated.
    Reserved,
    /// A length that does not fit in memory.
    TooLong,
}

/// Parse the header at the start of `buf`; `Ok(None)` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & 0x70 != 0 {
        return Err(HeadError::Reserved);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut len = [0u8; 8];
            len.copy_from_slice(b);
            (u64::from_be_bytes(len), 10)
        }
        n => (u64::from(n), 2),
    };
    let payload_len = usize::try_from(len).map_err(|_| HeadError::TooLong)?;
    if payload_len > isize::MAX as usize / 2 {
        return Err(HeadError::TooLong);
    }
    let mask = if masked {
        let Some(b) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        Some([b[0], b[1], b[2], b[3]])
    } else {
        None
    };
    Ok(Some(Head {
        fin,
        opcode,
        mask,
        header_len: at,
        payload_len,
    }))
}

/// XOR `payload` with `mask` (masking and unmasking are the same operation).
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Append one final frame carrying `payload` to `out`, masked with `mask` if given.
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], key);
        }
        None => out.extend_from_slice(payload),
    }
}

/// Bytes of header a frame of `len` payload bytes needs (without mask).
pub fn header_len(len: usize) -> usize {
    if len < 126 {
        2
    } else if len <= usize::from(u16::MAX) {
        4
    } else {
        10
    }
}

/// The `Sec-WebSocket-Accept` value answering `key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// The end of an HTTP head (index just past `\r\n\r\n`), if complete.
pub fn http_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The value of header `name` (case-insensitive) in an HTTP head.
pub fn http_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A client's upgrade request for `path` on `host`.
pub fn client_request(host: &str, path: &str, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip_at_every_length_class() {
        for len in [0usize, 1, 125, 126, 300, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                write_frame(&mut out, OP_TEXT, &payload, mask);
                // Incomplete headers are not frames yet.
                for cut in 0..2 {
                    assert_eq!(parse_head(&out[..cut]), Ok(None));
                }
                let head = parse_head(&out).unwrap().unwrap();
                assert!(head.fin);
                assert_eq!(head.opcode, OP_TEXT);
                assert_eq!(head.mask, mask);
                assert_eq!(head.payload_len, len);
                assert_eq!(head.frame_len(), out.len());
                let mut body = out[head.header_len..].to_vec();
                if let Some(key) = head.mask {
                    apply_mask(&mut body, key);
                }
                assert_eq!(body, payload);
            }
        }
    }

    #[test]
    fn rfc_masked_hello() {
        // RFC 6455 §5.7: a masked "Hello".
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let head = parse_head(&frame).unwrap().unwrap();
        let mut body = frame[head.header_len..].to_vec();
        apply_mask(&mut body, head.mask.unwrap());
        assert_eq!(body, b"Hello");
    }

    #[test]
    fn reserved_bits_are_refused() {
        assert_eq!(parse_head(&[0xC1, 0x00]), Err(HeadError::Reserved));
    }

    #[test]
    fn http_helpers() {
        let head = "GET / HTTP/1.1\r\nHost: x\r\nsec-websocket-key:  abc \r\n\r\n";
        assert_eq!(http_head_end(head.as_bytes()), Some(head.len()));
        assert_eq!(http_header(head, "Sec-WebSocket-Key"), Some("abc"));
        assert_eq!(http_header(head, "Upgrade"), None);
    }
}
