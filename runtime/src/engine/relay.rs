//! A websocket upgrade for a session of another node: this node opens a websocket to the
//! owner (its advertised address, marked as forwarded, so it is never forwarded again),
//! answers the client's handshake itself once the owner has accepted, and from then on
//! passes bytes both ways untouched. The frames are the client's and the owner's own (the
//! client masks its frames, the owner does not: neither end can tell a relay is there).
//!
//! Both front ends relay: with [`crate::Server`] the client's socket is spliced to the
//! owner's (`splice`); in a plain `actix_web::HttpServer` the relay is the streaming body of
//! the `101` response, the request payload its other direction (`plain`).
//!
//! A relayed websocket holds two copy buffers (8 KiB each way) on this node for its life.

use std::io;
use std::time::Duration;

use actix_codec::FramedParts;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::pin::Pin;
use std::task::Poll;
use tickwire_protocol::engineio::{HandshakeQuery, RequestError, TransportKind};

use bytes::Buf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::forward::{client, hop_by_hop, owner, owner_url, HopError, Refusal};
use super::http::{engine_query, error_response, origin_of};
use super::routes::FORWARDED_HEADER;
use super::sessions::Engine;
use super::websocket::WsStream;

/// The owner's side of a relayed websocket: its socket and what it sent past its `101`.
pub(crate) struct Upstream {
    io: awc::BoxedSocket,
    early: BytesMut,
}

/// How long the owner may take to accept the websocket.
const UPGRADE_WAIT: Duration = Duration::from_secs(10);

/// Open the owner's side of a websocket upgrade for `sid` (not held here), or the answer the
/// client gets instead.
pub(crate) async fn upstream(
    server: &Engine,
    sid: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<Upstream, Refusal> {
    if !server.check_origin(origin_of(headers)) {
        return Err(Refusal::of(RequestError::Forbidden));
    }
    let (tag, base) = owner(server, sid, headers).await?;
    let url = owner_url(&base, path, query).replacen("http", "ws", 1);
    let mut request = client()
        .ws(&url)
        .set_header(FORWARDED_HEADER, server.own_tag().unwrap_or_default());
    for (name, value) in headers.iter().filter(|(n, _)| !hop_by_hop(n)) {
        request = request.set_header(name.clone(), value.clone());
    }
    let connected = tokio::time::timeout(UPGRADE_WAIT, request.connect()).await;
    let error = match connected {
        Ok(Ok((_, framed))) => {
            let FramedParts { io, read_buf, .. } = framed.into_parts();
            server.metrics.forwarded("websocket");
            return Ok(Upstream {
                io,
                early: read_buf,
            });
        }
        Err(_) => HopError::Timeout,
        Ok(Err(awc::error::WsClientError::InvalidResponseStatus(status))) => {
            // The owner refused the upgrade itself: most likely the session ended there.
            tracing::debug!(owner = tag, %status, "the session's owner refused the websocket");
            server.metrics.forwarded("refused_by_owner");
            let refused = match status.as_u16() {
                403 => RequestError::Forbidden,
                400 => RequestError::SessionIdUnknown,
                _ => RequestError::BadRequest,
            };
            return Err(Refusal::of(refused));
        }
        Ok(Err(awc::error::WsClientError::SendRequest(
            awc::error::SendRequestError::Connect(awc::error::ConnectError::Timeout)
            | awc::error::SendRequestError::Timeout,
        ))) => HopError::Timeout,
        Ok(Err(awc::error::WsClientError::SendRequest(awc::error::SendRequestError::Connect(
            _,
        )))) => HopError::Unreachable,
        Ok(Err(e)) => {
            tracing::debug!(owner = tag, error = %e, "websocket to the session's owner failed");
            HopError::BadAnswer
        }
    };
    tracing::debug!(owner = tag, %url, %error, "websocket to the session's owner failed");
    server.metrics.forwarded(error.label());
    Err(Refusal::hop(&error))
}

/// The session id of a websocket upgrade that this node does not hold, if the request is
/// one (anything else is answered where it would be without a cluster).
pub(crate) fn foreign_sid(server: &Engine, query: &str) -> Option<String> {
    server.routes()?;
    let HandshakeQuery { transport, sid } = engine_query(query).ok()?;
    let sid = sid.filter(|_| transport == TransportKind::WebSocket)?;
    server.lookup(&sid).is_none().then_some(sid)
}

/// A plain `actix_web::HttpServer`: relay the upgrade for `sid` (not held here) as the
/// streaming body of the `101` response.
pub(crate) async fn plain(
    req: &HttpRequest,
    mut payload: web::Payload,
    sid: &str,
    server: &Engine,
) -> HttpResponse {
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return error_response(RequestError::BadRequest);
    };
    let Upstream { io, early } =
        match upstream(server, sid, req.path(), req.query_string(), req.headers()).await {
            Ok(upstream) => upstream,
            Err(refused) => return refused.response(),
        };
    let (from_owner, mut to_owner) = tokio::io::split(io);
    // The client's bytes, to the owner (the request payload goes on after the 101).
    actix_rt::spawn(async move {
        while let Some(Ok(chunk)) = payload.next().await {
            if to_owner.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to_owner.shutdown().await;
    });
    // The owner's bytes (first what came with its 101), as the response body.
    let first = (!early.is_empty()).then(|| early.freeze());
    let down =
        futures_util::stream::unfold((from_owner, first), |(mut from_owner, first)| async move {
            if let Some(first) = first {
                return Some((Ok::<Bytes, io::Error>(first), (from_owner, None)));
            }
            let mut buf = BytesMut::with_capacity(COPY_BUFFER);
            match from_owner.read_buf(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(_) => Some((Ok(buf.freeze()), (from_owner, None))),
            }
        });
    match response.message_body(actix_web::body::BodyStream::new(down)) {
        Ok(response) => HttpResponse::from(response).map_into_boxed_body(),
        Err(_) => error_response(RequestError::BadRequest),
    }
}

/// Bytes read at once from either side.
const COPY_BUFFER: usize = 8192;

/// With [`crate::Server`]: the upgrade `req` for `sid` (not held here) on the client's
/// `stream` (`early`: what the client sent behind its request). The client's handshake is
/// answered once the owner has accepted; then bytes pass both ways until either end closes.
pub(crate) async fn take_over<S: WsStream>(
    server: &Engine,
    req: &actix_http::Request,
    sid: &str,
    mut stream: S,
    early: BytesMut,
) {
    let accepted = accept(server, req, sid).await;
    let (upstream, accept_key) = match accepted {
        Ok(accepted) => accepted,
        Err(refused) => {
            let response = format!(
                "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                refused.status,
                refused.body.len(),
                refused.body
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            return;
        }
    };
    let Upstream {
        io: mut owner,
        early: from_owner,
    } = upstream;
    let mut down = BytesMut::from(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept_key}\r\n\r\n"
        )
        .as_bytes(),
    );
    down.extend_from_slice(&from_owner);
    pump(&mut stream, &mut owner, early, down).await;
    let _ = stream.shutdown().await;
}

/// Pass bytes between the client's `stream` and the `owner` until either end closes (or
/// fails) and what it sent before is delivered: `up` and `down` hold what is still to be
/// written to the owner and to the client.
async fn pump<S: WsStream>(
    stream: &mut S,
    owner: &mut awc::BoxedSocket,
    mut up: BytesMut,
    mut down: BytesMut,
) {
    let mut scratch = vec![0u8; COPY_BUFFER].into_boxed_slice();
    let (mut client_open, mut owner_open) = (true, true);
    std::future::poll_fn(|cx| loop {
        let mut progress = false;
        // The client's bytes to the owner.
        if client_open && up.is_empty() {
            match stream.poll_read_into(cx, &mut up) {
                Poll::Ready(Ok(n)) if n > 0 => progress = true,
                Poll::Ready(_) => client_open = false,
                Poll::Pending => {}
            }
        }
        if !up.is_empty() {
            match Pin::new(&mut *owner).poll_write(cx, &up) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    up.advance(n);
                    progress = true;
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {}
            }
        }
        // The owner's bytes to the client.
        if owner_open && down.is_empty() {
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *owner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                    down.extend_from_slice(read.filled());
                    progress = true;
                }
                Poll::Ready(_) => owner_open = false,
                Poll::Pending => {}
            }
        }
        if !down.is_empty() {
            match Pin::new(&mut *stream).poll_write(cx, &down) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    down.advance(n);
                    progress = true;
                    if down.is_empty() {
                        // TLS: out with the records it still holds.
                        let _ = Pin::new(&mut *stream).poll_flush(cx);
                    }
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => {}
            }
        }
        let ended = (!client_open && up.is_empty()) || (!owner_open && down.is_empty());
        if ended {
            return Poll::Ready(());
        }
        if !progress {
            return Poll::Pending;
        }
    })
    .await;
}

/// Check the client's handshake and open the owner's side: the owner's socket and the
/// client's `Sec-WebSocket-Accept`, or the refusal.
async fn accept(
    server: &Engine,
    req: &actix_http::Request,
    sid: &str,
) -> Result<(Upstream, String), Refusal> {
    actix_http::ws::verify_handshake(req.head())
        .map_err(|_| Refusal::of(RequestError::BadRequest))?;
    let key = req
        .head()
        .headers
        .get(actix_web::http::header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| Refusal::of(RequestError::BadRequest))?;
    let accept_key =
        String::from_utf8_lossy(&actix_http::ws::hash_key(key.as_bytes())).into_owned();
    let query = req.uri().query().unwrap_or("");
    let upstream = upstream(server, sid, req.path(), query, &req.head().headers).await?;
    Ok((upstream, accept_key))
}
