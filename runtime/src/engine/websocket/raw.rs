//! The front end of [`crate::Server`]: actix-http hands the websocket upgrade over, and the
//! socket is ours ([`RawWs`]): no dispatcher buffers, no per-poll work, and an idle websocket
//! holds no read or write buffer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_codec::{Framed, FramedParts};
use actix_http::h1;
use actix_rt::net::TcpStream;
use bytes::BytesMut;
use tickwire_protocol::engineio::{RequestError, TransportKind};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::super::handle::cut_slow_consumer;
use super::super::http::{cap_refusal_body, origin_of, parse_query, request_info};
use super::super::sessions::Engine;
use super::super::Codec;
use super::core::{WsCore, FRAMES_PER_POLL};
use super::{probe, start};

/// A websocket upgrade handed over by actix-http's dispatcher (see [`crate::Server`]): the
/// socket is ours from here on, without the dispatcher's buffers or its per-poll work.
///
/// Requests for another path, or that are not Engine.IO websockets, get an HTTP error.
pub(crate) async fn take_over(
    servers: Arc<[Arc<Engine>]>,
    req: actix_http::Request,
    framed: Framed<TcpStream, h1::Codec>,
) {
    // The dispatcher's two buffers go now; only bytes the client already sent are kept.
    let FramedParts {
        io: mut stream,
        read_buf: early,
        ..
    } = framed.into_parts();
    let path = req.path().trim_end_matches('/');
    let server = servers
        .iter()
        .find(|server| server.path().trim_end_matches('/') == path);
    let accepted = match server {
        Some(server) => accept(server, &req)
            .await
            .map(|accepted| (accepted, server.config.write_timeout)),
        None => Err(("404 Not Found".to_owned(), String::new())),
    };
    drop(req);
    match accepted {
        Ok(((mut core, accept_key), write_timeout)) => {
            core.out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept_key}\r\n\r\n"
            )
            .into_bytes();
            // Frames the client sent right behind its request (the first read drops the
            // buffer if it holds nothing).
            core.inbuf = early;
            // A task of its own, sized for the websocket alone: the HTTP dispatcher's task
            // (and its memory) ends here.
            actix_rt::spawn(RawWs {
                core,
                stream,
                written: 0,
                linger: None,
                write_timeout,
                stalled: None,
            });
        }
        Err((status, body)) => {
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// Check an upgrade request and start (or probe) its session: the websocket and the
/// `Sec-WebSocket-Accept` value, or the HTTP status and body of the refusal.
async fn accept(
    server: &Arc<Engine>,
    req: &actix_http::Request,
) -> Result<(WsCore, String), (String, String)> {
    let refuse = |error: RequestError| {
        let status = actix_web::http::StatusCode::from_u16(error.http_status())
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
        (status.to_string(), error.body())
    };
    if !server.check_origin(origin_of(&req.head().headers)) {
        return Err(refuse(RequestError::Forbidden));
    }
    let (query, pairs) = parse_query(req.uri().query().unwrap_or("")).map_err(refuse)?;
    if query.transport != TransportKind::WebSocket {
        return Err(refuse(RequestError::BadRequest));
    }
    let codec = Codec::from_query(&pairs).map_err(|_| refuse(RequestError::BadRequest))?;
    let handle = match &query.sid {
        Some(sid) => Some(
            server
                .lookup(sid)
                .ok_or_else(|| refuse(RequestError::SessionIdUnknown))?,
        ),
        None => None,
    };
    actix_http::ws::verify_handshake(req.head()).map_err(|_| refuse(RequestError::BadRequest))?;
    let key = req
        .head()
        .headers
        .get(actix_web::http::header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| refuse(RequestError::BadRequest))?;
    let accept_key =
        String::from_utf8_lossy(&actix_http::ws::hash_key(key.as_bytes())).into_owned();
    let core = match handle {
        Some(handle) => probe(server, handle).await,
        None => {
            let ip = req.peer_addr().map(|a| a.ip());
            server.admit(ip).map_err(|refusal| {
                let status = actix_web::http::StatusCode::SERVICE_UNAVAILABLE.to_string();
                (status, cap_refusal_body(refusal))
            })?;
            start(
                server,
                request_info(&req.head().headers, req.peer_addr(), pairs),
                codec,
                ip,
            )
        }
    };
    Ok((core, accept_key))
}

/// A websocket on a socket of its own: reads land in the core's input buffer only when
/// bytes arrive (an idle websocket holds no read or write buffer), and the framed output
/// goes out with one write per batch.
struct RawWs {
    core: WsCore,
    stream: TcpStream,
    /// Bytes of `core.out` already written.
    written: usize,
    /// After the close frame: how long the client's remaining bytes are still read (and
    /// dropped), so closing does not reset the connection under the close frame.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How long the socket may stay unwritable with bytes to write.
    write_timeout: std::time::Duration,
    /// Since when the socket has been unwritable with bytes to write (a timer to the write
    /// timeout), if it is.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long a closed websocket waits for its client to close too.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Bytes read from the socket per read call (a stack buffer; only what is left of a partial
/// frame is kept).
const READ_CHUNK: usize = 4096;

impl Future for RawWs {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let RawWs {
            core,
            stream,
            written,
            linger,
            write_timeout,
            stalled,
        } = self.get_mut();
        if let Some(deadline) = linger.as_mut() {
            return drain_until_closed(stream, deadline, cx);
        }
        if core.outbox.is_slow() {
            // Cut: nothing more is written; dropping the socket closes it.
            return Poll::Ready(());
        }
        loop {
            let reader = &*stream;
            let output_full = core.read(cx, |cx, buf| loop {
                match reader.poll_read_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Pending => return Poll::Pending,
                }
                match read_into(reader, buf) {
                    Ok(0) => return Poll::Ready(false),
                    Ok(_) => return Poll::Ready(true),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => return Poll::Ready(false),
                }
            });
            loop {
                if *written == core.out.len() {
                    // All out: an idle websocket keeps no write buffer.
                    *written = 0;
                    core.out = Vec::new();
                    core.write(cx);
                    if core.out.is_empty() {
                        break;
                    }
                }
                match Pin::new(&mut *stream).poll_write(cx, &core.out[*written..]) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        *written += n;
                        *stalled = None;
                    }
                    // The peer is gone.
                    Poll::Ready(_) => {
                        core.end(None);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        // Unwritable with bytes to write: a client that reads nothing for
                        // the write timeout is not draining its queue.
                        let timer = stalled
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep(*write_timeout)));
                        if timer.as_mut().poll(cx).is_ready() {
                            tracing::debug!("websocket unwritable for the write timeout");
                            cut_slow_consumer(&core.outbox, &core.addr);
                            return Poll::Ready(());
                        }
                        break;
                    }
                }
            }
            let flushed = *written == core.out.len();
            if core.finished && flushed {
                let _ = Pin::new(&mut *stream).poll_shutdown(cx);
                let deadline = linger.insert(Box::pin(tokio::time::sleep(LINGER)));
                return drain_until_closed(stream, deadline, cx);
            }
            if !(output_full && flushed) {
                return Poll::Pending;
            }
            // Reading paused on the output limit, and the output is out: read on.
        }
    }
}

thread_local! {
    /// One read buffer per thread, shared by its websockets: a read lands here, and only
    /// the bytes read are copied to the websocket's own input.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Read what the socket has (up to [`READ_CHUNK`]) and append it to `buf`.
fn read_into(stream: &TcpStream, buf: &mut BytesMut) -> std::io::Result<usize> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let n = stream.try_read(&mut scratch)?;
        buf.extend_from_slice(&scratch[..n]);
        Ok(n)
    })
}

/// Read and drop what the client still sends until it closes or `deadline` passes.
fn drain_until_closed(
    stream: &TcpStream,
    deadline: &mut Pin<Box<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if deadline.as_mut().poll(cx).is_ready() {
        return Poll::Ready(());
    }
    for _ in 0..FRAMES_PER_POLL {
        match stream.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
        let mut dropped = BytesMut::new();
        match read_into(stream, &mut dropped) {
            Ok(0) => return Poll::Ready(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(()),
        }
    }
    // Still sending: the other connections get their turn first.
    cx.waker().wake_by_ref();
    Poll::Pending
}
