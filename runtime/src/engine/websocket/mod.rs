//! WebSocket: a session opened directly on websocket, or an upgrade of a polling session.
//!
//! One task does all of a websocket's work ([`WsCore`]):
//! - parse the client's frames and hand them to the connection actor: straight to it when
//!   the actor's own task runs the websocket ([`ActorWs`], a session opened on a websocket of
//!   [`tickwire::Server`](crate::Server)); otherwise through its bounded mailbox (when that
//!   is full, reading stops and the rest waits in TCP);
//! - answer pings;
//! - frame whatever the outbox holds into one buffer, written with one syscall.
//!
//! Two front ends carry the bytes:
//! - [`tickwire::Server`](crate::Server): actix-http hands the upgrade over and the socket is
//!   ours ([`RawWs`]); an idle websocket holds no buffer at all.
//! - mounted in a plain `actix_web::HttpServer`: the websocket is the streaming body of its
//!   `101` response ([`WsBody`]), polled by the HTTP dispatcher that owns the socket.
//!
//! Either way, a frame pushed from any thread reaches the socket in one wake of the
//! connection's own task, with no channel or writer task in between.

//!
//! On a plain TCP socket of its own, the task also lends its socket to the outbox whenever
//! it is done for now ([`Wire`]): frames produced meanwhile are written straight to the
//! socket by whoever produces them, and only a socket that would block wakes the task.
//!
//! Files: [`core`] (one websocket's work), [`frame`] (RFC 6455 frame writing), [`link`]
//! (what the actor says to a websocket besides the outbox), [`body`] and [`raw`] (the two
//! front ends), [`in_actor`] (a websocket run by its actor's task), [`stream`] (the socket
//! under [`raw`]: plain TCP or TLS), [`wire`] (direct writes to a lent socket); this file
//! opens sessions on websockets and probes upgrades.

mod body;
mod core;
mod frame;
mod in_actor;
mod link;
mod raw;
mod stream;
mod wire;

pub(crate) use in_actor::{detach, ActorWs, DriveWs};
pub(crate) use link::WsLink;
pub(crate) use raw::take_over;
pub(crate) use stream::{SharedTcp, WsStream};
#[cfg(test)]
pub(crate) use wire::tests::{frames_read, wire_pair};
pub(crate) use wire::{Wire, Written, MAX_FRAMES};

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use tickwire_protocol::engineio::{OpenPacket, RequestError, TransportKind};

use self::body::WsBody;
use self::core::WsCore;
use super::connection::{BeginUpgrade, Connection};
use super::http::{error_response, request_info};
use super::outbox::{Class, Frame};
use super::sessions::Engine;
use super::upper::RequestInfo;
use super::{Codec, ConnHandle};

pub(crate) fn open(
    req: &HttpRequest,
    body: web::Payload,
    query: Vec<(String, String)>,
    server: Arc<Engine>,
    codec: Codec,
) -> HttpResponse {
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return error_response(RequestError::BadRequest);
    };
    let ip = req.peer_addr().map(|a| a.ip());
    if let Err(refusal) = server.admit(ip) {
        return super::http::cap_refused(refusal);
    }
    let handshake = request_info(req.headers(), req.peer_addr(), query);
    let core = start(&server, handshake, codec, ip);
    respond(&mut response, WsBody::new(core, body))
}

pub(crate) async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
    sid: &str,
    server: Arc<Engine>,
) -> HttpResponse {
    let Some(handle) = server.lookup(sid) else {
        // Another node's session, in a cluster that forwards: relayed to its owner.
        #[cfg(feature = "redis")]
        return super::relay::plain(req, body, sid, &server).await;
        #[cfg(not(feature = "redis"))]
        return error_response(RequestError::SessionIdUnknown);
    };
    let Ok(mut response) = actix_http::ws::handshake(req.head()) else {
        return error_response(RequestError::BadRequest);
    };
    let core = probe(&server, handle).await;
    respond(&mut response, WsBody::new(core, body))
}

/// Start a session on a new websocket, admitted for `ip`: its actor, its open packet (the
/// first frame), its registry entry.
pub(super) fn start(
    server: &Arc<Engine>,
    request: RequestInfo,
    codec: Codec,
    ip: Option<std::net::IpAddr>,
) -> WsCore {
    let sid = server.new_sid();
    let engine = server.config.engine;
    let open = OpenPacket {
        sid: &sid,
        upgrades: OpenPacket::upgrades_for(TransportKind::WebSocket),
        ping_interval: engine.ping_interval.as_millis() as u64,
        ping_timeout: engine.ping_timeout.as_millis() as u64,
        max_payload: engine.max_payload as u64,
    }
    .encode();
    let ws_id = server.next_ws_id();
    // The session starts on this websocket: it writes the outbox from its first poll.
    let link = WsLink::new(true);
    let handle = Connection::start(
        server.clone(),
        sid.clone(),
        TransportKind::WebSocket,
        request,
        Some((ws_id, link.clone())),
        codec,
    );
    // The first frame of the session: bounded by construction.
    let _ = handle
        .outbox
        .push(&[Frame::Text(ByteString::from(open))], Class::Protocol);
    let core = WsCore::new(
        ws_id,
        link,
        handle.outbox.clone(),
        actix::Addr::clone(&handle.addr),
        server,
    );
    server.register(sid, handle, ip);
    core
}

/// A websocket for an existing session: a probe that answers the probe packets only, until
/// the session moves onto it.
pub(super) async fn probe(server: &Arc<Engine>, handle: ConnHandle) -> WsCore {
    let ws_id = server.next_ws_id();
    let link = WsLink::new(false);
    let begin = BeginUpgrade {
        ws: ws_id,
        link: link.clone(),
    };
    if !matches!(handle.addr.send(begin).await, Ok(Ok(()))) {
        // The session is not upgradable (already on websocket, or upgrading): complete the
        // handshake and close this websocket at once; the session's own transport goes on.
        link.close();
    }
    WsCore::new(
        ws_id,
        link,
        handle.outbox,
        actix::Addr::clone(&handle.addr),
        server,
    )
}

fn respond(response: &mut actix_http::ResponseBuilder, ws: WsBody) -> HttpResponse {
    match response.message_body(ws) {
        Ok(response) => HttpResponse::from(response).map_into_boxed_body(),
        Err(_) => error_response(RequestError::BadRequest),
    }
}
