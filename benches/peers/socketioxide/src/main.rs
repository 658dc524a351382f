//! The socketioxide peer of tickwire's benchmark server contract (benches/README.md):
//! `ping` acks its argument, `join` joins a room and acks `"ok"`, and with `TICK_HZ` set a
//! ticker on absolute deadlines emits a stamped `state` event to every room that has members.
//!
//! `socketioxide-peer --port P` (or `PORT=P`). Default socketioxide options (ping interval
//! 25 s, timeout 20 s, no compression), axum's HTTP/1 server, TCP_NODELAY.
//!
//! Cluster (the contract's "Cluster and recovery" section): with `REDIS_URL` the node joins
//! the cluster through `socketioxide-redis` (socketioxide's Redis pub/sub adapter, RESP3), and
//! `publish` `[from, count]` emits `seq` `{"n": i}` for each `i` in order to every socket of
//! `/` on every node, then acks `count`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::serve::ListenerExt;
use serde::Serialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};
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

async fn ticker<A: Adapter>(io: SocketIo<A>, hz: f64) {
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

/// One request asks for at most this many numbers (as tickwire's bench-server).
const MAX_PUBLISH: u64 = 1_000_000;

/// `publish` requests one socket may have waiting.
const MAX_QUEUED: usize = 100_000;

/// The contract's `/`: `ping`, `join` and `publish`, on any adapter.
///
/// A plain function returning a ready future, not an `async` one: socketioxide sends the
/// CONNECT answer and then spawns the connect handler's future, so listeners registered
/// inside an `async` body can miss an event the client emits right after `40` (a fast client
/// does; the event is dropped). Registering synchronously closes that window.
fn on_connect<A: Adapter>(socket: SocketRef<A>, io: SocketIo<A>) -> std::future::Ready<()> {
    socket.on("ping", async |Data::<Value>(value), ack: AckSender<A>| {
        ack.send(&value).ok();
    });
    socket.on(
        "join",
        async |socket: SocketRef<A>, Data::<String>(room), ack: AckSender<A>| {
            socket.join(room);
            ack.send("ok").ok();
        },
    );
    // socketioxide spawns each event's handler as its own task, and the tasks may start in
    // any order, so two `publish` requests could interleave their numbers. The closure itself
    // runs in packet order: it queues the request for one task per socket that emits them in
    // order (the contract's "in order").
    let (queue, mut requests) = tokio::sync::mpsc::channel::<(u64, u64, AckSender<A>)>(MAX_QUEUED);
    tokio::spawn(async move {
        while let Some((from, count, ack)) = requests.recv().await {
            for n in from..from.saturating_add(count) {
                let _ = io.emit("seq", &serde_json::json!({ "n": n })).await;
            }
            ack.send(&count).ok();
        }
    });
    // `Vec`, not a tuple: socketioxide spreads a tuple over the event's arguments, and
    // `[from, count]` is one argument.
    socket.on(
        "publish",
        move |Data::<Vec<u64>>(args), ack: AckSender<A>| {
            match args[..] {
                [from, count] => {
                    if let Err(err) = queue.try_send((from, count.min(MAX_PUBLISH), ack)) {
                        let (_, _, ack) = err.into_inner();
                        ack.send("too many publish requests queued").ok();
                    }
                }
                _ => {
                    ack.send("publish takes [from, count]").ok();
                }
            }
            std::future::ready(())
        },
    );
    std::future::ready(())
}

/// The URL with `protocol=resp3` (the adapter's driver needs RESP3 push messages).
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

fn tick_hz() -> Option<f64> {
    std::env::var("TICK_HZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|hz: &f64| *hz > 0.0)
}

async fn serve<A: Adapter>(
    layer: socketioxide::layer::SocketIoLayer<A>,
    io: SocketIo<A>,
) -> std::io::Result<()> {
    let port = port();
    let hz = tick_hz();
    if let Some(hz) = hz {
        tokio::spawn(ticker(io.clone(), hz));
    }
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let cluster = std::env::var("REDIS_URL").map_or("none".to_owned(), |_| "redis".to_owned());
    println!("socketioxide peer listening on 127.0.0.1:{port} (TICK_HZ={hz:?}, cluster={cluster})");
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        let (layer, io) = SocketIo::new_layer();
        let handler_io = io.clone();
        io.ns("/", move |socket: SocketRef| {
            on_connect(socket, handler_io.clone())
        });
        return serve(layer, io).await;
    };
    let client = redis::Client::open(resp3(&url)).map_err(std::io::Error::other)?;
    let adapter = RedisAdapterCtr::new_with_redis(&client)
        .await
        .map_err(std::io::Error::other)?;
    let (layer, io) = SocketIo::builder()
        .with_adapter::<RedisAdapter<_>>(adapter)
        .build_layer();
    let handler_io = io.clone();
    io.ns("/", move |socket: SocketRef<RedisAdapter<_>>| {
        on_connect(socket, handler_io.clone())
    })
    .await
    .map_err(std::io::Error::other)?;
    serve(layer, io).await
}
