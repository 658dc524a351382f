//! [`WsStream`]: the socket under a taken-over websocket, plain TCP ([`SharedTcp`]) or TLS
//! over TCP.
//!
//! [`RawWs`](super::raw) is generic over it and monomorphized for each, so neither path pays
//! for the other: no dynamic dispatch, no per-frame allocation. Plain TCP reads straight from
//! the kernel into the thread's scratch buffer when the socket is readable, and its socket
//! can be lent to the outbox for direct writes ([`Wire`]); TLS reads decrypted bytes from
//! rustls into the same scratch buffer, and every byte goes through rustls in the task.

use std::cell::RefCell;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_rt::net::TcpStream;
use actix_tls::accept::rustls_0_23::TlsStream;
use bytes::BytesMut;
use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

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
pub(crate) trait WsStream: AsyncWrite + Unpin + Send + 'static {
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
                let n = recv_once(self.socket(), &mut scratch)?;
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

/// One `recv` into `into`. A short read means the kernel's buffer is drained (epoll reports
/// edges): the socket's readiness is then cleared, as tokio's own `poll_read` does, so that
/// the next poll waits for the next arrival instead of making a `recv` that can only fail
/// with `EAGAIN` (one system call less per message a client sends). The end of the stream
/// is never missed: tokio keeps a socket's read-closed readiness through a clear.
fn recv_once(socket: &TcpStream, into: &mut [u8]) -> io::Result<usize> {
    let mut drained = None;
    let read = socket.try_io(Interest::READABLE, || {
        let n = (&*SockRef::from(socket)).read(into)?;
        if 0 < n && n < into.len() {
            drained = Some(n);
            // Not a failure: this is how `try_io` learns that the socket is drained.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match (read, drained) {
        (Err(e), Some(n)) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
        (read, _) => read,
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

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    /// After a short read the socket waits for the next arrival (no `recv` that can only
    /// fail); a read that fills the buffer leaves it readable; what comes next, and the end
    /// of the stream, are still read.
    #[actix_rt::test]
    async fn a_drained_socket_waits_for_the_next_bytes_and_the_end() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0u8; 8];

        client.write_all(b"hello").await.unwrap();
        server.readable().await.unwrap();
        assert_eq!(recv_once(&server, &mut buf).unwrap(), 5);
        assert!(server.poll_read_ready(&mut cx).is_pending());

        client.write_all(b"12345678").await.unwrap();
        server.readable().await.unwrap();
        assert_eq!(recv_once(&server, &mut buf).unwrap(), 8);
        assert_eq!(&buf, b"12345678");
        // A full buffer says nothing about what is left: the socket stays readable, and
        // the next read finds it empty.
        assert!(server.poll_read_ready(&mut cx).is_ready());
        let empty = recv_once(&server, &mut buf).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        assert!(server.poll_read_ready(&mut cx).is_pending());

        client.write_all(b"world!").await.unwrap();
        drop(client);
        server.readable().await.unwrap();
        assert_eq!(recv_once(&server, &mut buf).unwrap(), 6);
        assert_eq!(&buf[..6], b"world!");
        // The end arrived with the bytes or after them: the socket is readable for it.
        server.readable().await.unwrap();
        assert_eq!(recv_once(&server, &mut buf).unwrap(), 0);
    }
}
