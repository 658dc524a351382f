//! The hop between nodes: a polling request for a session of another node goes to that node
//! (its advertised address, from [`SessionRoutes`](super::routes::SessionRoutes)) over HTTP,
//! and its answer comes back as the answer to the client. Websocket upgrades go the same way
//! (see `relay`).
//!
//! - The forwarded request carries [`FORWARDED_HEADER`]: a node never forwards such a request
//!   again, so a stale registry can cost one hop, never a loop.
//! - Bodies are bounded both ways: a POST is read up to `max_payload` before it leaves (HTTP
//!   413 past it, as on the owner), the owner's answer is read up to twice `max_payload`
//!   (a poll batch with binary frames in base64) and refused past it.
//! - Timeouts: connecting 3 s; a GET waits as long as its owner may park it (the ping
//!   interval plus the ping timeout, and a margin); a POST the ping timeout.
//! - Failures answer the client with a JSON error it can tell apart (see [`HopError`]); an
//!   owner that is gone answers `Session ID unknown` (HTTP 400), so the client opens a new
//!   session, as with a single node.
//!
//! The client is `awc` (actix's own, on the worker's runtime), one per worker thread with a
//! small keep-alive pool per owner.

use std::time::Duration;

use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tickwire_protocol::engineio::RequestError;

use super::http::error_response;
use super::routes::{route, Route, FORWARDED_HEADER};
use super::sessions::Engine;

/// How long connecting to an owner may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Idle pooled connections to an owner are closed after this long: shorter than the
/// owner's own keep-alive (actix's default is 5 s), so a pooled connection is never one the
/// owner has just closed.
const POOL_IDLE: Duration = Duration::from_secs(2);

/// What a GET may wait on top of the longest park of its owner.
const GET_MARGIN: Duration = Duration::from_secs(5);

/// Why a request for another node's session got no answer from that node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HopError {
    /// The owner's address did not accept a connection (the node is down or unreachable):
    /// HTTP 502. The client reconnects; the owner's registry entry lapses with its
    /// heartbeat.
    #[error("Session owner unreachable")]
    Unreachable,
    /// The owner did not answer in time: HTTP 504.
    #[error("Session owner timed out")]
    Timeout,
    /// The owner's answer was broken or too large: HTTP 502.
    #[error("Bad answer from the session owner")]
    BadAnswer,
    /// Which node owns the session cannot be told now (the registry is unreachable):
    /// HTTP 503.
    #[error("Session registry unavailable")]
    RegistryDown,
}

impl HopError {
    /// The HTTP status the client gets.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            HopError::Unreachable | HopError::BadAnswer => StatusCode::BAD_GATEWAY,
            HopError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            HopError::RegistryDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The JSON body, shaped as the Engine.IO errors are: `{"code":3,"message":"..."}`.
    pub(crate) fn body(&self) -> String {
        serde_json::json!({"code": 3, "message": self.to_string()}).to_string()
    }

    /// The metrics label of this outcome.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            HopError::Unreachable => "unreachable",
            HopError::Timeout => "timeout",
            HopError::BadAnswer => "bad_answer",
            HopError::RegistryDown => "registry_down",
        }
    }

    pub(crate) fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .content_type("application/json")
            .body(self.body())
    }
}

/// An answer to the client instead of the owner's: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
}

impl Refusal {
    /// The Engine.IO error a single node answers with.
    pub(crate) fn of(error: RequestError) -> Refusal {
        Refusal {
            status: StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            body: error.body(),
        }
    }

    /// A failed hop.
    pub(crate) fn hop(error: &HopError) -> Refusal {
        Refusal {
            status: error.status(),
            body: error.body(),
        }
    }

    pub(crate) fn response(&self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body.clone())
    }
}

/// Where a request for `sid`, which this node does not hold, goes (counted when nowhere).
pub(super) async fn owner(
    server: &Engine,
    sid: &str,
    headers: &HeaderMap,
) -> Result<(String, String), Refusal> {
    let forwarded = headers.contains_key(FORWARDED_HEADER);
    match route(server.routes(), sid, forwarded).await {
        Route::Owner { tag, base } => Ok((tag, base)),
        Route::Unknown => {
            if server.routes().is_some() {
                server.metrics.forwarded("unknown_owner");
            }
            Err(Refusal::of(RequestError::SessionIdUnknown))
        }
        Route::RegistryDown(e) => {
            tracing::warn!(error = %e, "session registry unreachable; request refused");
            server.metrics.forwarded(HopError::RegistryDown.label());
            Err(Refusal::hop(&HopError::RegistryDown))
        }
    }
}

thread_local! {
    /// The hop's HTTP client of this worker thread (awc clients are per thread).
    static CLIENT: awc::Client = awc::Client::builder()
        .disable_timeout()
        .connector(
            awc::Connector::new()
                .timeout(CONNECT_TIMEOUT)
                .conn_keep_alive(POOL_IDLE)
                // One connection per forwarded request in flight; their number is bounded
                // by the client connections this node serves.
                .limit(0),
        )
        .finish();
}

pub(super) fn client() -> awc::Client {
    CLIENT.with(Clone::clone)
}

/// Headers that belong to one connection (RFC 9110 §7.6.1), or that the hop sets itself.
pub(super) fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::HOST
        || name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::ACCEPT_ENCODING
        || name == header::PROXY_AUTHORIZATION
        || name.as_str() == "keep-alive"
        || name.as_str().starts_with("sec-websocket-")
        || name.as_str() == FORWARDED_HEADER
}

/// The owner's URL for this request: its base, this request's path and query.
pub(super) fn owner_url(base: &str, req_path: &str, query: &str) -> String {
    format!("{}{req_path}?{query}", base.trim_end_matches('/'))
}

/// A polling GET for a session of another node: its answer, from the owner.
pub(super) async fn get(req: &HttpRequest, sid: &str, server: &Engine) -> HttpResponse {
    let (tag, base) = match owner(server, sid, req.headers()).await {
        Ok(owner) => owner,
        Err(refused) => return refused.response(),
    };
    let engine = server.config.engine;
    let wait = engine.ping_interval + engine.ping_timeout + GET_MARGIN;
    hop(
        req,
        Method::GET,
        web::Bytes::new(),
        &tag,
        &base,
        wait,
        server,
    )
    .await
}

/// A polling POST for a session of another node: the body read here (bounded), then
/// delivered to the owner.
pub(super) async fn post(
    req: &HttpRequest,
    mut body: web::Payload,
    sid: &str,
    server: &Engine,
) -> HttpResponse {
    let (tag, base) = match owner(server, sid, req.headers()).await {
        Ok(owner) => owner,
        Err(refused) => return refused.response(),
    };
    let max = server.config.engine.max_payload;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return error_response(RequestError::BadRequest);
        };
        if buf.len() + chunk.len() > max {
            // As the owner would answer; the session goes on (the owner never saw it).
            return HttpResponse::PayloadTooLarge()
                .content_type("text/plain; charset=UTF-8")
                .body("payload too large");
        }
        buf.extend_from_slice(&chunk);
    }
    let wait = server.config.engine.ping_timeout;
    hop(req, Method::POST, buf.freeze(), &tag, &base, wait, server).await
}

/// Send `req` (with `body`) to the owner at `base`, and its answer back.
async fn hop(
    req: &HttpRequest,
    method: Method,
    body: web::Bytes,
    tag: &str,
    base: &str,
    wait: Duration,
    server: &Engine,
) -> HttpResponse {
    let url = owner_url(base, req.path(), req.query_string());
    let label = if method == Method::GET { "get" } else { "post" };
    let mut request = client()
        .request(method, &url)
        .no_decompress()
        .timeout(wait)
        .insert_header((FORWARDED_HEADER, server.own_tag().unwrap_or_default()));
    for (name, value) in req.headers().iter().filter(|(n, _)| !hop_by_hop(n)) {
        request = request.append_header((name.clone(), value.clone()));
    }
    if let Some(peer) = req.peer_addr() {
        request = request.append_header(("x-forwarded-for", peer.ip().to_string()));
    }
    let answer = match request.send_body(body).await {
        Ok(answer) => answer,
        Err(e) => {
            let error = match e {
                awc::error::SendRequestError::Timeout => HopError::Timeout,
                awc::error::SendRequestError::Connect(awc::error::ConnectError::Timeout) => {
                    HopError::Timeout
                }
                awc::error::SendRequestError::Connect(_) => HopError::Unreachable,
                _ => HopError::BadAnswer,
            };
            tracing::debug!(owner = tag, %url, error = %e, "forwarding to the session's owner failed");
            server.metrics.forwarded(error.label());
            return error.response();
        }
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let limit = server.config.engine.max_payload.saturating_mul(2) + 1024;
    let mut answer = answer.timeout(wait);
    let bytes = match answer.body().limit(limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::debug!(owner = tag, error = %e, "the session owner's answer was not read");
            server.metrics.forwarded(HopError::BadAnswer.label());
            return HopError::BadAnswer.response();
        }
    };
    server.metrics.forwarded(label);
    let mut response = HttpResponse::build(status);
    if let Some(content_type) = content_type {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.body(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_errors_are_told_apart_by_status_and_message() {
        let cases = [
            (HopError::Unreachable, 502, "Session owner unreachable"),
            (HopError::Timeout, 504, "Session owner timed out"),
            (
                HopError::BadAnswer,
                502,
                "Bad answer from the session owner",
            ),
            (HopError::RegistryDown, 503, "Session registry unavailable"),
        ];
        for (error, status, message) in cases {
            assert_eq!(error.status().as_u16(), status);
            let body: serde_json::Value = serde_json::from_str(&error.body()).expect("JSON");
            assert_eq!(body["message"], message);
            assert_eq!(body["code"], 3);
        }
    }

    #[test]
    fn connection_headers_and_the_marker_are_not_copied() {
        for name in [
            "connection",
            "host",
            "upgrade",
            "sec-websocket-key",
            "content-length",
            FORWARDED_HEADER,
        ] {
            assert!(hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
        for name in ["origin", "cookie", "content-type", "authorization"] {
            assert!(!hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
        assert_eq!(
            owner_url("http://10.0.0.5:3000/", "/socket.io/", "EIO=4&sid=x"),
            "http://10.0.0.5:3000/socket.io/?EIO=4&sid=x"
        );
    }
}
