//! tickwire's implementation of the benchmark server contract (benches/README.md, "Benchmark
//! server contract"): `ping` acks its argument, `join` joins a room and acks `"ok"`, and with
//! `TICK_HZ` set each room is a match room whose tick emits `state` with a realtime timestamp.
//!
//! `cargo run --release -p tickwire-benches --bin bench-server -- --port P [--plain]`
//!
//! Served by `tickwire::Server`; `--plain` serves the same app through a plain
//! `actix_web::HttpServer` instead (the runner's `tickwire-plain`), to measure what the
//! HTTP dispatcher costs each websocket.
//!
//! Cluster and recovery (the contract's section of that name): with `REDIS_URL` the node
//! joins the cluster on that Redis (a `RedisStreamsAdapter`; `REDIS_BUS=pubsub` for the
//! pub/sub `RedisAdapter`), `RECOVERY=1` turns on connection state recovery, and `publish`
//! `[from, count]` emits `seq` `{"n": i}` to every socket of `/` on every node, acking `count`.
//! The node advertises `ADVERTISE_URL` (default `http://127.0.0.1:<port>`): long-polling and
//! websocket upgrades work through any node, no sticky sessions needed.
//!
//! With `GAME_CLUSTER=1` and `REDIS_URL`, the server is instead one node of a game cluster
//! (see [`game_cluster`]): the matches-across-nodes benchmark.

mod game_cluster;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpServer};
use clap::Parser;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tickwire::cluster::{RedisAdapter, RedisStreamsAdapter};
use tickwire::{
    Config, Data, Match, MatchConfig, MatchContext, MatchHandle, MatchRoom, Payload, PlayerInfo,
    RecoveryConfig, SocketIo,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "tickwire benchmark contract server")]
struct Args {
    /// Port (127.0.0.1); falls back to the PORT environment variable, then 3000.
    #[arg(long)]
    port: Option<u16>,
    /// Port as a positional argument.
    port_arg: Option<u16>,
    /// Serve through `actix_web::HttpServer` instead of `tickwire::Server`: every websocket
    /// then stays behind actix-web's HTTP dispatcher.
    #[arg(long)]
    plain: bool,
}

/// One room of the contract: no game state, just the stamped tick.
struct RoomTicker {
    room: Arc<str>,
    filler: Arc<str>,
}

/// The snapshot owns cheap handles so it can outlive the tick call.
#[derive(Serialize)]
struct OwnedState {
    t: u64,
    tick: u64,
    room: Arc<str>,
    filler: Arc<str>,
}

impl Match for RoomTicker {
    type Input = Value;
    type Snapshot = OwnedState;

    fn on_input(&mut self, _: &mut MatchContext, _: u32, _: u32, _: Value) {}

    fn tick(&mut self, ctx: &mut MatchContext, _dt: Duration) -> OwnedState {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        OwnedState {
            t,
            tick: ctx.tick(),
            room: self.room.clone(),
            filler: self.filler.clone(),
        }
    }
}

type Rooms = Arc<Mutex<HashMap<String, MatchHandle<RoomTicker>>>>;

fn tick_hz() -> Option<u32> {
    let hz: f64 = std::env::var("TICK_HZ").ok()?.parse().ok()?;
    (hz > 0.0).then(|| hz.round().clamp(1.0, 120.0) as u32)
}

fn room_match(io: &SocketIo, rooms: &Rooms, room: &str, hz: u32) -> MatchHandle<RoomTicker> {
    let mut rooms = rooms.lock();
    if let Some(handle) = rooms.get(room).filter(|h| h.is_alive()) {
        return handle.clone();
    }
    let config = MatchConfig {
        tick_rate: hz,
        max_players: 100_000,
        envelope: false,
        empty_timeout: Duration::from_secs(3600),
        ..MatchConfig::default()
    };
    let handle = MatchRoom::spawn(
        io,
        config,
        RoomTicker {
            room: room.into(),
            filler: "x".repeat(200).into(),
        },
    );
    rooms.insert(room.to_owned(), handle.clone());
    handle
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let port = args
        .port
        .or(args.port_arg)
        .or_else(|| std::env::var("PORT").ok()?.parse().ok())
        .unwrap_or(3000);
    let hz = tick_hz();

    // The benchmark measures throughput, so the per-connection inbound rate limit (default
    // 500 messages/s) is raised: a closed-loop echo client sends thousands per second.
    let mut builder = SocketIo::builder().config(Config {
        max_inbound_messages_per_sec: 1_000_000,
        ..Config::default()
    });
    if std::env::var("RECOVERY").is_ok_and(|v| v == "1") {
        builder = builder.connection_state_recovery(RecoveryConfig::default());
    }
    let io = builder.build();
    let game_cluster = std::env::var("GAME_CLUSTER").is_ok_and(|v| v == "1");
    match std::env::var("REDIS_URL") {
        Ok(url) if game_cluster => game_cluster::serve(&io, &url).await?,
        Ok(url) => {
            join_cluster(&io, &url, port).await?;
            contract(&io, hz);
        }
        Err(_) => contract(&io, hz),
    }

    let service = io.service();
    if args.plain {
        // The same app mounted in actix-web's own server, TCP_NODELAY on as the contract says.
        let server = HttpServer::new(move || App::new().configure(service.clone()))
            .tcp_nodelay(true)
            .bind(("127.0.0.1", port))?;
        println!("bench-server (HttpServer) listening on 127.0.0.1:{port} (TICK_HZ={hz:?})");
        return server.run().await;
    }
    // tickwire's server: websockets on sockets of their own, TCP_NODELAY on.
    let server = tickwire::Server::new(&io, move || App::new().configure(service.clone()))
        .bind(("127.0.0.1", port))?;
    println!("bench-server listening on 127.0.0.1:{port} (TICK_HZ={hz:?})");
    server.run().await
}

/// Join the cluster at `url`: a Redis stream, or pub/sub with `REDIS_BUS=pubsub`. The node
/// advertises `ADVERTISE_URL` (default `http://127.0.0.1:<port>`), so long-polling works
/// through any node (no sticky sessions).
async fn join_cluster(io: &SocketIo, url: &str, port: u16) -> std::io::Result<()> {
    let advertised =
        std::env::var("ADVERTISE_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let joined = if std::env::var("REDIS_BUS").is_ok_and(|v| v == "pubsub") {
        RedisAdapter::builder(url)
            .advertise(advertised)
            .attach(io)
            .await
            .map(drop)
    } else {
        RedisStreamsAdapter::builder(url)
            .advertise(advertised)
            .attach(io)
            .await
            .map(drop)
    };
    joined.map_err(std::io::Error::other)
}

/// The contract's `/`: `ping`, `join`, `publish`, and with `hz` a match room per room.
fn contract(io: &SocketIo, hz: Option<u32>) {
    let rooms: Rooms = Arc::default();
    let server = io.clone();
    io.ns("/", move |socket| {
        // The value goes back as it came: the payload's JSON text, never parsed.
        socket.on("ping", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
        let publisher = server.clone();
        socket.on(
            "publish",
            move |_, Data((from, count)): Data<(u64, u64)>, ack| {
                let ns = publisher.of("/");
                // One request asks for at most a million: a bigger one is cut to that.
                let count = count.min(1_000_000);
                async move {
                    if let Some(ns) = ns {
                        for n in from..from.saturating_add(count) {
                            ns.emit("seq", &serde_json::json!({ "n": n })).ok();
                        }
                    }
                    ack.send(&count).ok();
                }
            },
        );
        let (server, rooms) = (server.clone(), rooms.clone());
        socket.on("join", move |socket, Data(room): Data<String>, ack| {
            let (server, rooms) = (server.clone(), rooms.clone());
            async move {
                match hz {
                    Some(hz) => {
                        let handle = room_match(&server, &rooms, &room, hz);
                        let seated = match handle.reserve(PlayerInfo::default()).await {
                            Ok(token) => handle.join(&token, &socket).await.is_ok(),
                            Err(_) => false,
                        };
                        if !seated {
                            ack.send(&"error").ok();
                            return;
                        }
                    }
                    None => {
                        socket.join(room);
                    }
                }
                ack.send(&"ok").ok();
            }
        });
    });
}
