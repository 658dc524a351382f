//! The front end of [`crate::Server`]: actix-http hands the websocket upgrade over, and the
//! socket is ours ([`RawWs`]): no dispatcher buffers, no per-poll work, and an idle websocket
//! holds no read or write buffer. The socket is plain TCP or TLS ([`WsStream`]); a plain one
//! is lent to the outbox whenever the task is done for now ([`super::Wire`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tickwire_protocol::engineio::{RequestError, TransportKind};
use tokio::io::AsyncWriteExt;

use super::super::connection::WsIn;
use super::super::handle::cut_slow_consumer;
use super::super::http::{cap_refusal_body, origin_of, parse_query, request_info};
use super::super::sessions::Engine;
use super::super::Codec;
use super::core::{Deliver, WsCore, FRAMES_PER_POLL};
use super::in_actor::{attach, ActorWs};
use super::stream::WsStream;
use super::{probe, start};

/// A websocket upgrade handed over by actix-http's dispatcher (see [`crate::Server`]): the
/// socket is ours from here on, without the dispatcher's buffers or its per-poll work.
///
/// Requests for another path, or that are not Engine.IO websockets, get an HTTP error.
/// `early` holds what the client sent behind its request (the dispatcher's buffers are gone).
pub(crate) async fn take_over<S: WsStream>(
    servers: Arc<[Arc<Engine>]>,
    req: actix_http::Request,
    mut stream: S,
    early: BytesMut,
) {
    let path = req.path().trim_end_matches('/');
    let server = servers
        .iter()
        .find(|server| server.path().trim_end_matches('/') == path);
    // Another node's session, in a cluster that forwards: relayed to its owner.
    #[cfg(feature = "redis")]
    if let Some(server) = server {
        if let Some(sid) = super::super::relay::foreign_sid(server, req.uri().query().unwrap_or(""))
        {
            return super::super::relay::take_over(server, &req, &sid, stream, early).await;
        }
    }
    let accepted = match server {
        Some(server) => accept(server, &req).await,
        None => Err(("404 Not Found".to_owned(), String::new())),
    };
    drop(req);
    match accepted {
        Ok((mut core, accept_key, opened)) => {
            core.out = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept_key}\r\n\r\n"
            )
            .into_bytes();
            // Frames the client sent right behind its request (the first read drops the
            // buffer if it holds nothing).
            core.inbuf = early;
            let mut ws = RawWs {
                core,
                stream,
                written: 0,
                greeting: true,
                lingering: false,
                shut_down: false,
                timer: None,
            };
            // The HTTP dispatcher's task (and its memory) ends here.
            if opened {
                // The session opened on this websocket: it runs in its actor's task, and its
                // messages go straight to the actor. (A websocket `start` made holds the
                // actor's address; one its actor runs keeps none.)
                if let Some(addr) = ws.core.addr.take() {
                    attach(&addr, Box::new(ws));
                }
            } else {
                // An upgrade's probe, for a session whose actor may be on another thread: a
                // task of its own, sized for the websocket alone.
                actix_rt::spawn(ws);
            }
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

/// Check an upgrade request and start (or probe) its session: the websocket, the
/// `Sec-WebSocket-Accept` value and whether the session opened on this websocket, or the
/// HTTP status and body of the refusal.
async fn accept(
    server: &Arc<Engine>,
    req: &actix_http::Request,
) -> Result<(WsCore, String, bool), (String, String)> {
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
    let opened = handle.is_none();
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
    Ok((core, accept_key, opened))
}

/// A websocket on a socket of its own: reads land in the core's input buffer only when
/// bytes arrive (an idle websocket holds no read or write buffer), and the framed output
/// goes out with one write per batch.
struct RawWs<S> {
    core: WsCore,
    stream: S,
    /// Bytes of `core.out` already written.
    written: usize,
    /// `core.out` holds the `101` response alone, not written yet: the first poll adds the
    /// frames already queued (the open packet), so they leave in the same write.
    greeting: bool,
    /// The close frame is out: the client's remaining bytes are read (and dropped) until
    /// the timer ends, so closing does not reset the connection under the close frame.
    lingering: bool,
    /// The write side is shut down (for TLS: the close_notify is out too).
    shut_down: bool,
    /// While lingering, its end; before, the write timeout, running since the socket became
    /// unwritable with bytes to write, if it is.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Drop for RawWs<S> {
    fn drop(&mut self) {
        // The socket closes with this task: no producer may write to it any more.
        self.core.outbox.reclaim_wire();
    }
}

/// How long a closed websocket waits for its client to close too.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

impl<S: WsStream> Future for RawWs<S> {
    type Output = ();

    /// A websocket in a task of its own (an upgrade's probe): its messages go through the
    /// actor's mailbox.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().drive(cx, &mut Deliver::Mailbox)
    }
}

impl<S: WsStream> ActorWs for RawWs<S> {
    fn poll(&mut self, cx: &mut Context<'_>, to: &mut dyn FnMut(WsIn)) -> Poll<()> {
        self.drive(cx, &mut Deliver::Actor(to))
    }
}

impl<S: WsStream> RawWs<S> {
    /// Read, hand the messages over `to` the actor, write; `Ready` once the websocket is
    /// done with (closed and lingered, cut, or its peer gone).
    fn drive(&mut self, cx: &mut Context<'_>, to: &mut Deliver<'_>) -> Poll<()> {
        let RawWs {
            core,
            stream,
            written,
            greeting,
            lingering,
            shut_down,
            timer,
        } = self;
        if let (true, Some(deadline)) = (*lingering, timer.as_mut()) {
            return drain_until_closed(stream, shut_down, deadline, cx);
        }
        if core.outbox.is_slow() {
            // Cut: nothing more is written; dropping the socket closes it.
            return Poll::Ready(());
        }
        if stream.wire().is_some() {
            // The wire is the task's again; what a direct write left over goes out first.
            if let Some(rest) = core.outbox.reclaim_wire() {
                let pending = core.out.split_off(*written);
                core.out = rest.into_vec();
                core.out.extend_from_slice(&pending);
                *written = 0;
            }
        }
        if std::mem::take(greeting) {
            core.write(cx);
        }
        loop {
            let output_full = core.read(cx, to, |cx, buf| match stream.poll_read_into(cx, buf) {
                Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(false),
                Poll::Ready(Ok(_)) => Poll::Ready(true),
                Poll::Pending => Poll::Pending,
            });
            loop {
                if *written == core.out.len() {
                    // All out: an idle websocket keeps no write buffer.
                    *written = 0;
                    core.out = Vec::new();
                    core.write(cx);
                }
                let progress = if core.out.is_empty() {
                    // Nothing of ours is left: what the stream itself still holds (TLS
                    // records) goes out too. Plain TCP holds nothing: this is `Ready` at once.
                    match Pin::new(&mut *stream).poll_flush(cx) {
                        Poll::Ready(Ok(())) => break,
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                } else {
                    Pin::new(&mut *stream).poll_write(cx, &core.out[*written..])
                };
                match progress {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        *written += n;
                        *timer = None;
                    }
                    // The peer is gone.
                    Poll::Ready(_) => {
                        core.end(to, None);
                        return Poll::Ready(());
                    }
                    Poll::Pending => {
                        // Unwritable with bytes to write: a client that reads nothing for
                        // the write timeout is not draining its queue.
                        let timeout = core.engine.config.write_timeout;
                        let stalled =
                            timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                        if stalled.as_mut().poll(cx).is_ready() {
                            tracing::debug!("websocket unwritable for the write timeout");
                            cut_slow_consumer(&core.outbox, core.addr.as_ref());
                            return Poll::Ready(());
                        }
                        break;
                    }
                }
            }
            let flushed = *written == core.out.len();
            if core.finished && flushed {
                *lingering = true;
                let deadline = timer.insert(Box::pin(tokio::time::sleep(LINGER)));
                return drain_until_closed(stream, shut_down, deadline, cx);
            }
            if !(output_full && flushed) {
                if let (true, true, false, Some(wire)) =
                    (flushed, core.active, core.finished, stream.wire())
                {
                    // Done for now with nothing unwritten: producers write straight to the
                    // socket until something wakes this task.
                    core.outbox.lend_wire(wire);
                }
                return Poll::Pending;
            }
            // Reading paused on the output limit, and the output is out: read on.
        }
    }
}

/// Shut the write side down (for TLS, once its records and close_notify are out; plain TCP
/// at once), then read and drop what the client still sends until it closes or `deadline`
/// passes.
fn drain_until_closed<S: WsStream>(
    stream: &mut S,
    shut_down: &mut bool,
    deadline: &mut Pin<Box<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if deadline.as_mut().poll(cx).is_ready() {
        return Poll::Ready(());
    }
    if !*shut_down {
        match Pin::new(&mut *stream).poll_shutdown(cx) {
            // Shut down, or cannot be (the peer is gone): either way nothing more goes out.
            Poll::Ready(_) => *shut_down = true,
            // The deadline bounds the wait.
            Poll::Pending => {}
        }
    }
    let mut dropped = BytesMut::new();
    for _ in 0..FRAMES_PER_POLL {
        match stream.poll_read_into(cx, &mut dropped) {
            Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(()),
            Poll::Ready(Ok(_)) => dropped.clear(),
            Poll::Pending => return Poll::Pending,
        }
    }
    // Still sending: the other connections get their turn first.
    cx.waker().wake_by_ref();
    Poll::Pending
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::super::SharedTcp;
    use super::*;

    /// A websocket lives as long as the websocket: boxed in its actor (a session opened on
    /// it), up to 224 bytes stay in mimalloc's 224-byte class; in a task of its own (an
    /// upgrade's probe), up to 270 bytes of future take tokio's 384 (benches/README, "Idle
    /// memory, byte by byte").
    #[test]
    fn the_websocket_stays_in_its_size_class() {
        let ws = std::mem::size_of::<RawWs<SharedTcp>>();
        assert!(ws <= 224, "a websocket is {ws} bytes");
    }
}
