//! Server frames of RFC 6455, written straight into the outgoing buffer.

use actix_http::ws::OpCode;

use super::super::outbox::Frame;

#[inline]
pub(super) fn write_outbox_frame(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Text(text) => write_ws_frame(out, OpCode::Text, text.as_bytes()),
        Frame::Binary(bytes) => write_ws_frame(out, OpCode::Binary, bytes),
    }
}

/// One whole, unmasked server frame (RFC 6455 §5.2): its header, then the payload.
#[inline]
pub(super) fn write_ws_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let (head, len) = header(opcode, payload.len());
    out.reserve(len + payload.len());
    out.extend_from_slice(&head[..len]);
    out.extend_from_slice(payload);
}

/// The header of an unmasked server frame carrying `len` bytes: FIN + opcode, the length in
/// 7, 16 or 64 bits. The header is the first `.1` bytes of `.0`.
#[inline]
pub(super) fn header(opcode: OpCode, len: usize) -> ([u8; 10], usize) {
    let mut head = [0u8; 10];
    head[0] = 0x80 | u8::from(opcode);
    if len < 126 {
        head[1] = len as u8;
        (head, 2)
    } else if let Ok(len) = u16::try_from(len) {
        head[1] = 126;
        head[2..4].copy_from_slice(&len.to_be_bytes());
        (head, 4)
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (head, 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::Parser;
    use bytes::BytesMut;

    #[test]
    fn frames_parse_back_at_every_length_encoding() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            write_ws_frame(&mut out, OpCode::Binary, &payload);
            let mut buf = BytesMut::from(&out[..]);
            // As a client reads it: unmasked, whole.
            let (fin, opcode, data) = Parser::parse(&mut buf, false, usize::MAX)
                .expect("valid frame")
                .expect("whole frame");
            assert!(fin);
            assert_eq!(opcode, OpCode::Binary);
            assert_eq!(
                data.unwrap_or_default().as_ref(),
                &payload[..],
                "length {len}"
            );
            assert!(buf.is_empty());
        }
    }
}
