//! HTTP long-polling: handshake, GET (parks until frames, a ping or close), POST.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tickwire_protocol::engineio::{payload, OpenPacket, RequestError, TransportKind};

use super::connection::{Connection, Kill, PollBegin, PollEnd, PollPost};
use super::handle::ConnHandle;
use super::http::{cap_refused, engine_query, error_response, origin_of, request_info};
use super::outbox::{Farewell, Frame, PollBatch};
use super::sessions::Engine;
use super::upper::CloseCause;
use super::Codec;

const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

pub(super) fn handshake(
    req: &HttpRequest,
    query: Vec<(String, String)>,
    server: Arc<Engine>,
    codec: Codec,
) -> HttpResponse {
    let ip = req.peer_addr().map(|a| a.ip());
    if let Err(refusal) = server.admit(ip) {
        return cap_refused(refusal);
    }
    let sid = server.new_sid();
    let engine = server.config.engine;
    let open = OpenPacket {
        sid: &sid,
        upgrades: OpenPacket::upgrades_for(TransportKind::Polling),
        ping_interval: engine.ping_interval.as_millis() as u64,
        ping_timeout: engine.ping_timeout.as_millis() as u64,
        max_payload: engine.max_payload as u64,
    }
    .encode();
    let handle = Connection::start(
        server.clone(),
        sid.clone(),
        TransportKind::Polling,
        request_info(req.headers(), req.peer_addr(), query),
        None,
        codec,
    );
    server.register(sid, handle, ip);
    HttpResponse::Ok().content_type(TEXT_PLAIN).body(open)
}

/// Where a GET's poll is: what its guard tells the connection when the GET ends.
#[derive(Clone, Copy, PartialEq)]
enum Park {
    /// Asked to park, or parked: ending now means the client went away.
    Asked,
    /// The connection refused it: nothing to tell.
    Refused,
    /// Answered: the connection arms its write timeout.
    Answered,
}

/// Tells the connection when a GET's poll ends: answered, or dropped without an answer
/// (the client went away), whether it was parked already or still asking.
struct ParkGuard {
    addr: Arc<actix::Addr<Connection>>,
    state: Park,
}

impl Drop for ParkGuard {
    fn drop(&mut self) {
        if self.state != Park::Refused {
            self.addr.do_send(PollEnd {
                aborted: self.state == Park::Asked,
            });
        }
    }
}

/// The one POST a session may have in flight: claimed for the request, and given back
/// however the request ends, its handler dropped mid-body (the server stopping) included.
/// Otherwise the client's next POST would find it still claimed and end the session.
struct PostInFlight<'a>(&'a AtomicBool);

impl<'a> PostInFlight<'a> {
    /// `None` when another POST holds it.
    fn claim(flag: &'a AtomicBool) -> Option<Self> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(Self(flag))
    }
}

impl Drop for PostInFlight<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(super) async fn get(req: &HttpRequest, sid: &str, server: Arc<Engine>) -> HttpResponse {
    let Some(handle) = server.lookup(sid) else {
        return elsewhere_get(req, sid, &server).await;
    };
    if handle.outbox.is_closed() {
        return collect_farewell(&handle, sid, &server).await;
    }
    // Armed before the request, so that a GET dropped while it waits for the answer (the
    // client gone) still ends its poll. If that poll never parked, the session is closed or
    // on the websocket already, and its end changes nothing.
    let mut guard = ParkGuard {
        addr: handle.addr.clone(),
        state: Park::Asked,
    };
    match handle.addr.send(PollBegin).await {
        Ok(Ok(())) => {}
        // The session closed between the lookup and the connection's answer (the client's
        // close packet on a POST racing this GET): the farewell is this poll's.
        Ok(Err(RequestError::SessionIdUnknown)) | Err(_) if handle.outbox.is_closed() => {
            guard.state = Park::Refused;
            return collect_farewell(&handle, sid, &server).await;
        }
        Ok(Err(e)) => {
            guard.state = Park::Refused;
            return error_response(e);
        }
        Err(_) => {
            guard.state = Park::Refused;
            return error_response(RequestError::SessionIdUnknown);
        }
    }
    let batch = handle
        .outbox
        .next_poll(server.config.engine.max_payload)
        .await;
    handle.outbox.set_poll_parked(false);
    guard.state = Park::Answered;
    poll_response(batch, &server)
}

/// A GET for a session closed while no poll was parked: this poll collects the farewell,
/// once (a later one gets `Session ID unknown`), and the sid is forgotten.
async fn collect_farewell(handle: &ConnHandle, sid: &str, server: &Engine) -> HttpResponse {
    let batch = handle
        .outbox
        .next_poll(server.config.engine.max_payload)
        .await;
    server.unregister(sid);
    poll_response(batch, server)
}

fn poll_response(batch: PollBatch, server: &Engine) -> HttpResponse {
    let mut body = String::new();
    match batch {
        PollBatch::Gone => return error_response(RequestError::SessionIdUnknown),
        PollBatch::Noop => body.push('6'),
        PollBatch::Frames(frames, farewell) => {
            for frame in &frames {
                match frame {
                    Frame::Text(text) => payload::push_text_frame(&mut body, text),
                    Frame::Binary(bytes) => payload::push_binary(&mut body, bytes),
                }
            }
            match farewell {
                Some(Farewell::Close) => payload::push_text_frame(&mut body, "1"),
                Some(Farewell::Noop) => payload::push_text_frame(&mut body, "6"),
                None => {}
            }
        }
    }
    server.metrics.outbox.bytes_out.inc_by(body.len() as u64);
    HttpResponse::Ok().content_type(TEXT_PLAIN).body(body)
}

pub(super) async fn post(
    req: HttpRequest,
    mut body: web::Payload,
    server: web::Data<Arc<Engine>>,
) -> HttpResponse {
    let query = match engine_query(req.query_string()) {
        Ok(parsed) => parsed,
        Err(e) => return error_response(e),
    };
    let Some(sid) = query.sid else {
        return error_response(RequestError::BadHandshakeMethod);
    };
    if !server.check_origin(origin_of(req.headers())) {
        return error_response(RequestError::Forbidden);
    }
    if query.transport != TransportKind::Polling {
        return error_response(RequestError::BadRequest);
    }
    let Some(handle) = server.lookup(&sid) else {
        return elsewhere_post(&req, body, &sid, &server).await;
    };
    if handle.outbox.transport() != TransportKind::Polling {
        return error_response(RequestError::BadRequest);
    }
    let kill = |reason| handle.addr.do_send(Kill(reason));
    let Some(_in_flight) = PostInFlight::claim(&handle.outbox.post_in_flight) else {
        // Two POSTs at once break the protocol: close (once, guarded by the session state).
        kill(CloseCause::TransportError);
        return error_response(RequestError::BadRequest);
    };
    let is_binary = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/octet-stream"));
    let max = server.config.engine.max_payload;
    let mut buf = web::BytesMut::new();
    let mut too_large = false;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            kill(CloseCause::TransportError);
            return error_response(RequestError::BadRequest);
        };
        if buf.len() + chunk.len() > max {
            too_large = true;
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    if too_large {
        kill(CloseCause::TransportError);
        HttpResponse::PayloadTooLarge()
            .content_type(TEXT_PLAIN)
            .body("payload too large")
    } else if is_binary {
        kill(CloseCause::TransportError);
        error_response(RequestError::BadRequest)
    } else {
        match handle.addr.send(PollPost { body: buf.freeze() }).await {
            Ok(Ok(())) => HttpResponse::Ok().content_type("text/html").body("ok"),
            Ok(Err(e)) => error_response(e),
            Err(_) => error_response(RequestError::SessionIdUnknown),
        }
    }
}

/// A GET for a session this node does not hold: forwarded to its owner in a cluster that
/// forwards, `Session ID unknown` otherwise.
async fn elsewhere_get(req: &HttpRequest, sid: &str, server: &Engine) -> HttpResponse {
    #[cfg(feature = "redis")]
    return super::forward::get(req, sid, server).await;
    #[cfg(not(feature = "redis"))]
    {
        let _ = (req, sid, server);
        error_response(RequestError::SessionIdUnknown)
    }
}

/// A POST for a session this node does not hold: forwarded to its owner in a cluster that
/// forwards, `Session ID unknown` otherwise.
async fn elsewhere_post(
    req: &HttpRequest,
    body: web::Payload,
    sid: &str,
    server: &Engine,
) -> HttpResponse {
    #[cfg(feature = "redis")]
    return super::forward::post(req, body, sid, server).await;
    #[cfg(not(feature = "redis"))]
    {
        let _ = (req, body, sid, server);
        error_response(RequestError::SessionIdUnknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    #[test]
    fn a_second_post_is_refused_while_one_is_in_flight() {
        let flag = AtomicBool::new(false);
        let first = PostInFlight::claim(&flag);
        assert!(first.is_some());
        assert!(PostInFlight::claim(&flag).is_none());
        drop(first);
        assert!(PostInFlight::claim(&flag).is_some());
    }

    #[test]
    fn a_post_dropped_mid_request_gives_its_place_back() {
        let flag = AtomicBool::new(false);
        let mut request = Box::pin(async {
            let _in_flight = PostInFlight::claim(&flag);
            // The body that never comes.
            std::future::pending::<()>().await;
        });
        assert!(request.as_mut().now_or_never().is_none());
        assert!(PostInFlight::claim(&flag).is_none(), "held while in flight");
        drop(request);
        assert!(PostInFlight::claim(&flag).is_some());
    }
}
