//! [`WsStream`]: the socket under a taken-over websocket, plain TCP ([`SharedTcp`]) or TLS
//! over TCP.
//!
//! [`RawWs`](super::raw) is generic over it and monomorphized for each, so neither path pays
//! for the other: no dynamic dispatch, no per-frame allocation. Plain TCP reads straight from
//! the kernel into the thread's scratch buffer when the socket is readable, and its socket
//! can be lent to the outbox for direct writes ([`Wire`]); TLS reads decrypted bytes from
//! rustls into the same scratch buffer, and every byte goes through rustls in the task.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_rt::net::TcpStream;
use actix_tls::accept::rustls_0_23::TlsStream;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::wire::Wire;

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

    /// The socket, for the outbox's direct writes, if the stream can share it (plain TCP;
    /// TLS records are sealed in the task).
    fn wire(&self) -> Option<&Wire> {
        None
    }
}

/// A plain TCP socket that its websocket's task shares with the outbox ([`Wire`]): every
/// operation takes `&TcpStream`, so writes from elsewhere need no lock on the task.
pub(crate) struct SharedTcp(Wire);

impl SharedTcp {
    pub(crate) fn new(stream: TcpStream) -> SharedTcp {
        SharedTcp(Wire(Arc::new(stream)))
    }

    fn socket(&self) -> &TcpStream {
        &(self.0).0
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.socket().poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match self.socket().try_write(buf) {
                // Readiness was stale: wait for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Plain TCP buffers nothing of its own.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Shut down after the close frame, once the wire is back from the outbox for good
        // (the task took it back to write that frame); if it were still shared, closing the
        // socket on drop ends the stream all the same.
        match Arc::get_mut(&mut self.get_mut().0 .0) {
            Some(stream) => Pin::new(stream).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl WsStream for SharedTcp {
    #[inline]
    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.socket().poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            let read: io::Result<usize> = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let n = self.socket().try_read(&mut scratch)?;
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

    fn wire(&self) -> Option<&Wire> {
        Some(&self.0)
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
