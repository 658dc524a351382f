//! HTTP entry points: request validation, then the polling or websocket transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use tickwire_protocol::engineio::{HandshakeQuery, RequestError, TransportKind};

use super::caps::CapRefusal;
use super::headers::Headers;
use super::query::Query;
use super::sessions::Engine;
use super::upper::RequestInfo;
use super::Codec;

/// Mount `server`'s Engine.IO endpoint (polling, and websockets inside the HTTP dispatcher)
/// in an actix-web app. Called on each HTTP worker, which becomes one of the server's
/// workers.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, server: Arc<Engine>) {
    server.register_current_worker();
    let path = server.path().to_owned();
    let data = web::Data::new(server);
    for p in [path.clone(), format!("{path}/")] {
        cfg.service(
            web::resource(p)
                .app_data(data.clone())
                .wrap(actix_web::middleware::Condition::new(
                    !data.config.cors_origins.is_empty(),
                    cors(&data.config.cors_origins).unwrap_or_default(),
                ))
                .route(web::get().to(get))
                .route(web::post().to(super::polling::post))
                .default_service(web::to(|| async {
                    error_response(RequestError::BadRequest)
                })),
        );
    }
}

fn cors(origins: &[String]) -> Option<actix_cors::Cors> {
    if origins.is_empty() {
        return None;
    }
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allow_any_header()
        .supports_credentials()
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    Some(cors)
}

/// The response to a bad Engine.IO request: HTTP 400 (403 for forbidden) with the
/// reference server's JSON body.
pub(crate) fn error_response(error: RequestError) -> HttpResponse {
    HttpResponse::build(
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
    )
    .content_type("application/json")
    .body(error.body())
}

/// The Engine.IO parameters of a request's query string, for a request that needs nothing
/// else from it (a session's GET or POST): decoded in place, without a copy of every pair.
pub(crate) fn engine_query(query: &str) -> Result<HandshakeQuery, RequestError> {
    let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
    HandshakeQuery::parse(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// The Engine.IO parameters of a handshake's query string, and all its pairs for the
/// connection to keep.
pub(crate) fn parse_query(
    query: &str,
) -> Result<(HandshakeQuery, Vec<(String, String)>), RequestError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| RequestError::BadRequest)?
        .into_inner();
    let query = HandshakeQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    Ok((query, pairs))
}

pub(crate) fn request_info(
    request_headers: &HeaderMap,
    address: Option<SocketAddr>,
    query: Vec<(String, String)>,
) -> RequestInfo {
    // A compact copy: the request's map would keep its spare capacity, and its values the
    // whole read buffer they were parsed from (they share it), several KiB per connection.
    RequestInfo {
        headers: Headers::from_map(request_headers, |name| !transport_mechanics(name)),
        query: Query::from_pairs(&query),
        address,
        issued: SystemTime::now(),
    }
}

/// Headers of the websocket handshake itself (RFC 6455 §4.1), meaningless once the
/// connection is open: not kept in [`RequestInfo::headers`].
fn transport_mechanics(name: &HeaderName) -> bool {
    use actix_web::http::header;
    name == header::CONNECTION
        || name == header::UPGRADE
        || name == header::SEC_WEBSOCKET_KEY
        || name == header::SEC_WEBSOCKET_VERSION
        || name == header::SEC_WEBSOCKET_EXTENSIONS
}

/// The `Origin` header of a request, if any.
pub(crate) fn origin_of(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(actix_web::http::header::ORIGIN)
        .map(HeaderValue::as_bytes)
}

/// The refusal of a new session over the connection caps: HTTP 503 with a JSON body.
pub(crate) fn cap_refusal_body(refusal: CapRefusal) -> String {
    serde_json::json!({"code": 3, "message": format!("Server full ({})", refusal.as_str())})
        .to_string()
}

pub(crate) fn cap_refused(refusal: CapRefusal) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("application/json")
        .body(cap_refusal_body(refusal))
}

async fn get(req: HttpRequest, body: web::Payload, server: web::Data<Arc<Engine>>) -> HttpResponse {
    let query = match engine_query(req.query_string()) {
        Ok(parsed) => parsed,
        Err(e) => return error_response(e),
    };
    let server = server.get_ref().clone();
    if !server.check_origin(origin_of(req.headers())) {
        return error_response(RequestError::Forbidden);
    }
    match (query.transport, query.sid) {
        (TransportKind::Polling, Some(sid)) => super::polling::get(&req, &sid, server).await,
        (TransportKind::WebSocket, Some(sid)) => {
            super::websocket::upgrade(&req, body, &sid, server).await
        }
        (transport, None) => handshake(&req, body, transport, server),
    }
}

/// A GET without a session id opens one: its query's pairs are kept, and may pick the codec.
fn handshake(
    req: &HttpRequest,
    body: web::Payload,
    transport: TransportKind,
    server: Arc<Engine>,
) -> HttpResponse {
    let pairs = match parse_query(req.query_string()) {
        Ok((_, pairs)) => pairs,
        Err(e) => return error_response(e),
    };
    let codec = match Codec::from_query(&pairs) {
        Ok(codec) => codec,
        Err(message) => {
            return HttpResponse::BadRequest()
                .content_type("application/json")
                .body(serde_json::json!({"code": 3, "message": message}).to_string())
        }
    };
    match transport {
        TransportKind::Polling => super::polling::handshake(req, pairs, server, codec),
        TransportKind::WebSocket => super::websocket::open(req, body, pairs, server, codec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_query_is_read_in_place_as_a_handshakes_is() {
        let query = "EIO=4&transport=polling&t=PzX1&sid=a%2Bb%3D";
        let quick = engine_query(query).unwrap();
        assert_eq!(quick.sid.as_deref(), Some("a+b="), "escapes decoded");
        assert_eq!(quick.transport, TransportKind::Polling);
        assert_eq!(parse_query(query).unwrap().0, quick);
    }

    #[test]
    fn a_sessions_query_is_refused_as_a_handshakes_is() {
        for (query, error) in [
            (
                "EIO=3&transport=polling&sid=x",
                RequestError::UnsupportedProtocolVersion,
            ),
            (
                "EIO=4&transport=carrier-pigeon&sid=x",
                RequestError::TransportUnknown,
            ),
            ("EIO=4&sid=x", RequestError::TransportUnknown),
            (
                "EIO=4&transport=polling&sid=",
                RequestError::SessionIdUnknown,
            ),
        ] {
            assert_eq!(engine_query(query), Err(error), "{query}");
            assert_eq!(parse_query(query).map(|(q, _)| q), Err(error), "{query}");
        }
    }

    proptest::proptest! {
        /// Whatever a client sends as the query (repeated or empty keys, stray `%`, `+`,
        /// `=`, non-UTF-8 escapes), the in-place read decides as the handshake's does.
        #[test]
        fn the_in_place_read_agrees_with_the_owned_parse(
            query in r"((EIO|transport|sid|t|x|%[0-9A-Fa-fz]{0,2}|é)?=?(4|3|polling|websocket|a%2Bb|%FF|\+|%|=|é)?&?){0,8}"
        ) {
            proptest::prop_assert_eq!(engine_query(&query), parse_query(&query).map(|(q, _)| q));
        }
    }
}
