//! [`Wire`]: a plain-TCP websocket's socket, lent to the connection's outbox while the
//! websocket's own task is not running, so that whoever produces a frame (a match's tick, a
//! broadcast, an ack) writes it straight to the socket: one write per member (a `send` of
//! one buffer for small units, a `writev` for larger ones), with no wake-up of the member's
//! task in between.
//!
//! The lending rules keep the byte stream whole and in order (see
//! [`Outbox`](super::super::outbox::Outbox)):
//! - the task lends the wire only when it holds no unwritten bytes and the outbox is empty,
//!   and takes it back first thing whenever it runs;
//! - a producer writes only while the wire is lent and nothing is queued before it;
//! - a write the socket does not take whole leaves its rest behind for the task
//!   ([`Written::Part`]), and the wire goes back to the task; a socket that takes nothing
//!   ([`Written::Nothing`]) gets the frames queued as before.

use std::io::{self, IoSlice};
use std::sync::Arc;

use actix_http::ws::OpCode;
use actix_rt::net::TcpStream;

use super::super::outbox::Frame;
use super::frame::header;

/// The most frames one direct write carries (a packet and its binary attachments, or what a
/// [`Cork`](super::super::cork::Cork) held); longer units are queued for the task.
pub(crate) const MAX_FRAMES: usize = 16;

/// A plain-TCP websocket's socket, shared between its task and the producers it is lent to.
#[derive(Debug, Clone)]
pub(crate) struct Wire(pub(super) Arc<TcpStream>);

/// What a direct write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Every byte is on the socket (this many).
    All(usize),
    /// Only the first bytes are (this many): the rest, already framed, is for the
    /// websocket's task to write before anything else.
    Part(usize, Box<[u8]>),
    /// Nothing was written (the socket is full, or failed: the task finds out which).
    Nothing,
}

impl Wire {
    /// Write `frames` as websocket frames in one system call, without waiting.
    pub(crate) fn write<'a, I>(&self, frames: I) -> Written
    where
        I: IntoIterator<Item = &'a Frame>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let frames = frames.into_iter();
        let count = frames.len();
        if count > MAX_FRAMES {
            return Written::Nothing;
        }
        let mut headers = [([0u8; 10], 0usize); MAX_FRAMES];
        for (frame, slot) in frames.clone().zip(headers.iter_mut()) {
            *slot = match frame {
                Frame::Text(text) => header(OpCode::Text, text.len()),
                Frame::Binary(bytes) => header(OpCode::Binary, bytes.len()),
            };
        }
        let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES];
        let mut total = 0;
        for (i, (frame, (head, len))) in frames.zip(headers.iter()).enumerate() {
            let payload: &[u8] = match frame {
                Frame::Text(text) => text.as_bytes(),
                Frame::Binary(bytes) => bytes,
            };
            slices[2 * i] = IoSlice::new(&head[..*len]);
            slices[2 * i + 1] = IoSlice::new(payload);
            total += len + payload.len();
        }
        let slices = &slices[..2 * count];
        if total <= GATHER {
            // Small units (a snapshot, an ack) go out as one buffer: `send` costs the kernel
            // less than `writev`, and the copy is cheaper than the difference.
            let mut joined = [0u8; GATHER];
            let mut at = 0;
            for slice in slices {
                joined[at..at + slice.len()].copy_from_slice(slice);
                at += slice.len();
            }
            let joined = &joined[..total];
            return written(self.0.try_write(joined), total, |n| joined[n..].into());
        }
        written(self.0.try_write_vectored(slices), total, |n| {
            rest(slices, n)
        })
    }
}

/// Units up to this many bytes are copied into one buffer and sent with one `send`.
const GATHER: usize = 1024;

/// What a write that returned `result` of `total` bytes did; `rest(n)` is what is left after
/// `n` were written.
fn written(
    result: io::Result<usize>,
    total: usize,
    rest: impl FnOnce(usize) -> Box<[u8]>,
) -> Written {
    match result {
        Ok(n) if n == total => Written::All(n),
        Ok(n) if n > 0 => Written::Part(n, rest(n)),
        Ok(_) => Written::Nothing,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Written::Nothing,
        Err(_) => Written::Nothing,
    }
}

/// The bytes of `slices` after the first `written`.
fn rest(slices: &[IoSlice<'_>], mut written: usize) -> Box<[u8]> {
    let mut out = Vec::new();
    for slice in slices {
        if written >= slice.len() {
            written -= slice.len();
        } else {
            out.extend_from_slice(&slice[written..]);
            written = 0;
        }
    }
    out.into_boxed_slice()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use actix_http::ws::Parser;
    use bytes::{Bytes, BytesMut};
    use bytestring::ByteString;
    use std::task::Context;
    use tokio::io::AsyncReadExt;

    #[test]
    fn the_rest_of_a_partial_write_is_exactly_the_unwritten_bytes() {
        let parts: [&[u8]; 4] = [b"ab", b"cde", b"", b"fgh"];
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        for written in 0..=8 {
            assert_eq!(
                &*rest(&slices, written),
                &b"abcdefgh"[written..],
                "{written}"
            );
        }
    }

    /// What a client receives on `client` until the server end closes, as (opcode, payload).
    pub(crate) async fn frames_read(mut client: tokio::net::TcpStream) -> Vec<(OpCode, Vec<u8>)> {
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        let mut buf = BytesMut::from(&got[..]);
        let mut parsed = Vec::new();
        while let Some((fin, opcode, data)) = Parser::parse(&mut buf, false, usize::MAX).unwrap() {
            assert!(fin);
            parsed.push((opcode, data.unwrap_or_default().to_vec()));
        }
        assert!(buf.is_empty(), "a frame was cut");
        parsed
    }

    /// A connected pair on loopback: the server end (seen writable once, as a websocket's
    /// task sees it) and the client end.
    async fn pair() -> (TcpStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.writable().await.unwrap();
        (server, client)
    }

    /// A wire lent by a websocket on loopback, and the client's end.
    pub(crate) async fn wire_pair() -> (Wire, tokio::net::TcpStream) {
        let (server, client) = pair().await;
        (Wire(Arc::new(server)), client)
    }

    /// Write all of `bytes` on `socket`, as the websocket's task does.
    async fn write_all(socket: &TcpStream, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            socket.writable().await.unwrap();
            match socket.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// A client that stops reading fills the socket: the frame it did not take whole is
    /// finished by the task before the frames queued behind it, and the client gets every
    /// frame whole and in order; for frames written with `writev` and for the small ones
    /// joined into one `send`.
    #[actix_rt::test]
    async fn a_full_socket_hands_the_rest_to_the_task_in_order() {
        full_socket_keeps_frames_whole_in_order(50_000).await;
        full_socket_keeps_frames_whole_in_order(700).await;
    }

    async fn full_socket_keeps_frames_whole_in_order(size: usize) {
        use super::super::super::outbox::{Class, Drained, Outbox};
        use super::super::frame::write_outbox_frame;

        let (server, client) = pair().await;
        let wire = Wire(Arc::new(server));
        let outbox = Arc::new(Outbox::new(
            tickwire_protocol::engineio::TransportKind::WebSocket,
            64 << 20,
            Default::default(),
        ));
        let frame = |i: usize| Frame::Binary(Bytes::from(vec![i as u8; size]));
        outbox.lend_wire(&wire);
        // Nothing reads yet: the kernel's buffers fill, then frames queue.
        let mut sent = 0;
        while outbox.depth().0 < 3 {
            outbox.push(&[frame(sent)], Class::Reliable).unwrap();
            sent += 1;
            assert!(sent * size < 256 << 20, "the socket never filled");
        }
        // The task runs: the rest of the cut frame first, then the queue.
        let mut out = outbox.reclaim_wire().map(Vec::from).unwrap_or_default();
        let mut drained = Drained::default();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.poll_ws(&mut cx, &mut drained).is_ready());
        drained.for_each(|frame| write_outbox_frame(&mut out, frame));
        let reader = tokio::spawn(frames_read(client));
        write_all(&wire.0, &out).await;
        drop(wire);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), sent);
        for (i, (opcode, payload)) in got.iter().enumerate() {
            assert_eq!(*opcode, OpCode::Binary);
            assert_eq!(payload, &vec![i as u8; size], "frame {i}");
        }
        assert_eq!(
            outbox.stats.bytes_out.get() as usize + out.len(),
            sent * (size + 4)
        );
    }

    /// Frames written directly parse back as the client reads them, in order.
    #[actix_rt::test]
    async fn direct_frames_parse_back_in_order() {
        let (server, client) = pair().await;
        let wire = Wire(Arc::new(server));
        let long = "x".repeat(300);
        let frames = [
            Frame::Text(ByteString::from("42[\"a\"]")),
            Frame::Binary(Bytes::from_static(&[1, 2, 3])),
            Frame::Text(ByteString::from(long.clone())),
        ];
        assert!(matches!(wire.write(&frames[..2]), Written::All(_)));
        assert!(matches!(wire.write(&frames[2..]), Written::All(_)));
        drop(wire);
        assert_eq!(
            frames_read(client).await,
            vec![
                (OpCode::Text, b"42[\"a\"]".to_vec()),
                (OpCode::Binary, vec![1, 2, 3]),
                (OpCode::Text, long.into_bytes()),
            ]
        );
    }
}
