//! WebSocket: a session opened directly on websocket, or an upgrade of a polling session.
//!
//! One reader task per websocket forwards frames to the connection actor with
//! `send().await`, so a client that floods waits on TCP instead of growing a queue. The
//! writer task (started by the actor) drains the outbox into the `actix_ws::Session`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use tickwire_protocol::engineio::{OpenPacket, RequestError, TransportKind};

use super::{base_handshake, error_response, new_sid};
use crate::actor::connection::{BeginUpgrade, Connection, WsFrame, WsIn};
use crate::codec::Codec;
use crate::outbox::{Class, Frame, Outbox};
use crate::server::ServerInner;

pub(super) fn open(
    req: &HttpRequest,
    body: web::Payload,
    query: Vec<(String, String)>,
    server: Arc<ServerInner>,
    codec: Codec,
) -> HttpResponse {
    let (response, session, stream) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(_) => return error_response(RequestError::BadRequest),
    };
    let sid = new_sid();
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
    let handle = Connection::start(
        server.clone(),
        sid.clone(),
        TransportKind::WebSocket,
        base_handshake(req, query),
        Some((ws_id, session.clone())),
        codec,
    );
    // Queued before the actor starts its writer, so the open packet is the first frame.
    let _ = handle
        .outbox
        .push(&[Frame::Text(ByteString::from(open))], Class::Control);
    spawn_reader(
        handle.addr.clone(),
        handle.outbox.clone(),
        ws_id,
        session,
        stream,
        engine.max_payload,
    );
    server.register(sid, handle);
    response
}

pub(super) async fn upgrade(
    req: &HttpRequest,
    body: web::Payload,
    sid: &str,
    server: Arc<ServerInner>,
) -> HttpResponse {
    let Some(handle) = server.lookup(sid) else {
        return error_response(RequestError::SessionIdUnknown);
    };
    let (response, session, stream) = match actix_ws::handle(req, body) {
        Ok(parts) => parts,
        Err(_) => return error_response(RequestError::BadRequest),
    };
    let ws_id = server.next_ws_id();
    let begin = BeginUpgrade {
        ws: ws_id,
        session: session.clone(),
    };
    match handle.addr.send(begin).await {
        Ok(Ok(())) => {
            spawn_reader(
                handle.addr,
                handle.outbox,
                ws_id,
                session,
                stream,
                server.config.engine.max_payload,
            );
            response
        }
        // The session is not upgradable (already on websocket, or upgrading): complete the
        // handshake and close this websocket at once; the session's own transport goes on.
        _ => {
            actix_rt::spawn(async move {
                let _ = session.close(None).await;
            });
            response
        }
    }
}

fn spawn_reader(
    addr: actix::Addr<Connection>,
    outbox: Arc<Outbox>,
    ws: u64,
    mut session: actix_ws::Session,
    stream: actix_ws::MessageStream,
    max_payload: usize,
) {
    actix_rt::spawn(async move {
        let mut stream = stream
            .max_frame_size(max_payload)
            .aggregate_continuations()
            .max_continuation_size(max_payload);
        loop {
            // Stop reading (and let go of the session) once the connection is closed.
            let message = tokio::select! {
                message = stream.recv() => message,
                () = outbox.wait_closed(false) => return,
            };
            let Some(message) = message else { break };
            let frame = match message {
                Ok(AggregatedMessage::Text(text)) => WsFrame::Text(text),
                Ok(AggregatedMessage::Binary(bytes)) => WsFrame::Binary(bytes),
                Ok(AggregatedMessage::Ping(data)) => {
                    let _ = session.pong(&data).await;
                    continue;
                }
                Ok(AggregatedMessage::Pong(_)) => continue,
                Ok(AggregatedMessage::Close(_)) => WsFrame::Closed,
                // The peer went away: a transport close, like a close frame.
                Err(ProtocolError::Io(_)) => WsFrame::Closed,
                Err(error) => {
                    tracing::debug!(%error, "websocket protocol error");
                    let (code, description) = match error {
                        ProtocolError::Overflow => (CloseCode::Size, "message too big"),
                        _ => (CloseCode::Protocol, "websocket protocol error"),
                    };
                    let reason = CloseReason {
                        code,
                        description: Some(description.into()),
                    };
                    let _ = session.clone().close(Some(reason)).await;
                    WsFrame::Error
                }
            };
            let last = matches!(frame, WsFrame::Closed | WsFrame::Error);
            // Straight into the mailbox when there is room; otherwise wait for room (the
            // client's frames then wait in TCP, not here).
            let delivered = match addr.try_send(WsIn { ws, frame }) {
                Ok(()) => true,
                Err(actix::prelude::SendError::Full(msg)) => addr.send(msg).await.is_ok(),
                Err(actix::prelude::SendError::Closed(_)) => false,
            };
            if !delivered || last {
                return;
            }
        }
        // The stream ended without a close frame: once per websocket.
        addr.do_send(WsIn {
            ws,
            frame: WsFrame::Closed,
        });
    });
}
