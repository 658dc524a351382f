//! [`WsStream`]: the socket under a taken-over websocket, plain TCP or TLS over TCP.
//!
//! [`RawWs`](super::raw) is generic over it and monomorphized for each, so neither path pays
//! for the other: no dynamic dispatch, no per-frame allocation. Plain TCP reads straight from
//! the kernel into the thread's scratch buffer when the socket is readable (as before TLS
//! existed); TLS reads decrypted bytes from rustls into the same scratch buffer.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_rt::net::TcpStream;
use actix_tls::accept::rustls_0_23::TlsStream;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket per read call (a stack-like buffer per thread; only what is
/// left of a partial frame is kept by the websocket).
const READ_CHUNK: usize = 4096;

thread_local! {
    /// One read buffer per thread, shared by its websockets: a read lands here, and only
    /// the bytes read are copied to the websocket's own input.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// A byte stream a websocket runs on once actix-http handed it over: writes through
/// [`AsyncWrite`] (whose `poll_flush` pushes out what the stream itself still buffers, TLS
/// records; plain TCP buffers nothing), reads through [`WsStream::poll_read_into`].
pub(crate) trait WsStream: AsyncWrite + Unpin + 'static {
    /// Read what has arrived (at most [`READ_CHUNK`] bytes) and append it to `buf`:
    /// `Ready(Ok(n))` with `n > 0`, `Ready(Ok(0))` at the end of the stream.
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>>;
}

impl WsStream for TcpStream {
    #[inline]
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            let read: io::Result<usize> = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let n = self.try_read(&mut scratch)?;
                buf.extend_from_slice(&scratch[..n]);
                Ok(n)
            });
            match read {
                // Readiness was stale: wait for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                read => return Poll::Ready(read),
            }
        }
    }
}

impl WsStream for TlsStream<TcpStream> {
    #[inline]
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *self).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    buf.extend_from_slice(read.filled());
                    Poll::Ready(Ok(read.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    }
}
