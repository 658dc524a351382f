//! The server the official Engine.IO v4 / Socket.IO v5 protocol test suites expect, plus
//! the extra handlers the interop tests use. Shared by `examples/conformance.rs` and tests.

use std::time::Duration;

use actix_web::web;
use serde_json::Value;
use tickwire::{ConnectError, Data, Payload, Socket, SocketIo};

/// Build the Socket.IO server (`/socket.io/`) and the raw Engine.IO echo (`/engine.io/`).
pub(crate) fn build() -> (SocketIo, SocketIo) {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors_origin("*")
        .build();
    let echo = SocketIo::builder()
        .path("/engine.io")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .build_engine_echo();

    io.ns("/", |socket| {
        emit_auth(&socket);
        socket.on("message", |socket, payload: Payload, _| async move {
            socket.emit_payload("message-back", payload).ok();
        });
        socket.on("message-with-ack", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
        socket.on(
            "request-broadcast",
            |socket, payload: Payload, _| async move {
                socket
                    .ns()
                    .broadcast()
                    .emit_payload("broadcast", payload)
                    .ok();
            },
        );
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"ok").ok();
        });
        socket.on(
            "leave",
            |socket, Data(room): Data<String>, ack| async move {
                socket.leave(&room);
                ack.send(&"ok").ok();
            },
        );
        socket.on("emit-to-room", |socket, payload: Payload, ack| async move {
            let (mut args, attachments) = payload.into_parts();
            if let Some(Value::String(room)) = (!args.is_empty()).then(|| args.remove(0)) {
                socket
                    .ns()
                    .to(room)
                    .emit_payload("room-message", Payload::from_parts(args, attachments))
                    .ok();
            }
            ack.send(&"ok").ok();
        });
        socket.on(
            "request-server-ack",
            |socket, payload: Payload, _| async move {
                let reply = socket
                    .emit_payload_with_ack("server-ack", payload, Duration::from_secs(2))
                    .await;
                let result =
                    reply.unwrap_or_else(|_| Payload::new().arg(&"timeout").unwrap_or_default());
                socket.emit_payload("server-ack-result", result).ok();
            },
        );
    });
    io.ns("/custom", |socket| {
        emit_auth(&socket);
        socket.on("message-with-ack", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    let private = io.ns("/private", |socket| {
        emit_auth(&socket);
        socket.on("message-with-ack", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    private.use_middleware(|socket: Socket| async move {
        if socket.handshake().auth.get("token").and_then(Value::as_str) == Some("secret") {
            Ok(())
        } else {
            Err(ConnectError::new("unauthorized")
                .with_data(serde_json::json!({"reason": "bad token"})))
        }
    });
    (io, echo)
}

fn emit_auth(socket: &Socket) {
    let auth = socket.handshake().auth.clone();
    socket.emit("auth", &auth).ok();
}

/// Mount both servers.
#[allow(dead_code)]
pub(crate) fn configure(
    io: &SocketIo,
    echo: &SocketIo,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let (io, echo) = (io.service(), echo.service());
    move |cfg: &mut web::ServiceConfig| {
        io(cfg);
        echo(cfg);
    }
}
