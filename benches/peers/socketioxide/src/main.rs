//! The socketioxide peer of tickwire's benchmark server contract (benches/README.md):
//! `ping` acks its argument, `join` joins a room and acks `"ok"`, and with `TICK_HZ` set a
//! ticker on absolute deadlines emits a stamped `state` event to every room that has members.
//!
//! `socketioxide-peer --port P` (or `PORT=P`). Default socketioxide options (ping interval
//! 25 s, timeout 20 s, no compression), axum's HTTP/1 server, TCP_NODELAY.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::serve::ListenerExt;
use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use tokio::time::Instant;

#[derive(Serialize)]
struct State<'a> {
    t: u64,
    tick: u64,
    room: &'a str,
    filler: &'a str,
}

fn port() -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let from_flag = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok());
    from_flag
        .or_else(|| args.first().and_then(|p| p.parse().ok()))
        .or_else(|| std::env::var("PORT").ok()?.parse().ok())
        .unwrap_or(3000)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

async fn ticker(io: SocketIo, hz: f64) {
    let filler = "x".repeat(200);
    let period = Duration::from_secs_f64(1.0 / hz);
    let start = Instant::now();
    let mut slot: u64 = 0;
    loop {
        tokio::time::sleep_until(start + period.mul_f64(slot as f64)).await;
        // Late by whole periods: skip those slots rather than bunch them.
        let due = (start.elapsed().as_secs_f64() * hz).floor() as u64;
        slot = slot.max(due);
        let t = now_us();
        // The local adapter lists the rooms that have members (no per-socket rooms).
        let rooms = io.rooms().await.unwrap_or_default();
        for room in rooms {
            let state = State {
                t,
                tick: slot,
                room: &room,
                filler: &filler,
            };
            let _ = io.to(room.clone()).emit("state", &state).await;
        }
        slot += 1;
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = port();
    let (layer, io) = SocketIo::new_layer();
    // A plain closure returning a ready future, not an `async` closure: socketioxide sends
    // the CONNECT answer and then spawns the connect handler's future, so listeners
    // registered inside an `async` body can miss an event the client emits right after
    // `40` (a fast client does; the event is dropped). Registering synchronously closes
    // that window.
    io.ns("/", |socket: SocketRef| {
        socket.on("ping", async |Data::<Value>(value), ack: AckSender| {
            ack.send(&value).ok();
        });
        socket.on(
            "join",
            async |socket: SocketRef, Data::<String>(room), ack: AckSender| {
                socket.join(room);
                ack.send("ok").ok();
            },
        );
        std::future::ready(())
    });
    let hz: Option<f64> = std::env::var("TICK_HZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|hz: &f64| *hz > 0.0);
    if let Some(hz) = hz {
        tokio::spawn(ticker(io.clone(), hz));
    }
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("socketioxide peer listening on 127.0.0.1:{port} (TICK_HZ={hz:?})");
    axum::serve(listener, app).await
}
