//! Matches across nodes (`GAME_CLUSTER=1` with `REDIS_URL`): this server is one node of a
//! game cluster; one cluster-wide queue groups players into matches of `GROUP_SIZE`
//! (default 10), each hosted by one node and ticking at `TICK_HZ` (default 30).
//!
//! | client → server | argument | ack |
//! |---|---|---|
//! | `node` | none | this node's id (16 hex digits) |
//! | `queue` | none | `{"match": "<node>-<id>", "token": "..."}` once grouped, or `{"error"}` |
//! | `seat` | the token | the player id, or `{"error"}` |
//! | `bus` | none | `{"published": n, "received": n}`: this node's bus messages so far |
//!
//! Then the player sends `input` events `[seq, {}]`; every tick its match emits
//! `42["state",{"tick":n,"acks":[[player,seq],…],"state":{"t":µs}}]`, whose `acks` carry
//! each player's last applied input: the load generator times input → acknowledged.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};
use tickwire::game::cluster::{ClusterMatchmaker, GameCluster};
use tickwire::{
    Data, Match, MatchConfig, MatchContext, MatchmakerConfig, Payload, PlayerInfo, SeatToken,
    SocketIo, Ticket,
};

/// A match that applies inputs and stamps its snapshot: what it costs is the runtime's.
struct Relay;

#[derive(Serialize)]
struct Stamp {
    t: u64,
}

impl Match for Relay {
    type Input = Value;
    type Snapshot = Stamp;

    fn on_input(&mut self, _: &mut MatchContext, _: u32, _: u32, _: Value) {}

    fn tick(&mut self, _: &mut MatchContext, _: Duration) -> Stamp {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Stamp { t }
    }
}

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .map_or(default, |v| v.round() as u32)
}

/// Join the cluster at `url` and declare `/` with the events above.
pub(crate) async fn serve(io: &SocketIo, url: &str) -> std::io::Result<()> {
    let hz = env_number("TICK_HZ", 30).clamp(1, 120);
    let group_size = env_number("GROUP_SIZE", 10) as usize;
    let cluster = GameCluster::builder(url)
        .attach(io)
        .await
        .map_err(std::io::Error::other)?;
    let config = MatchmakerConfig {
        group_size,
        max_wait: Duration::from_secs(3600),
        max_queued: 100_000,
        ..MatchmakerConfig::default()
    };
    let matchmaker = ClusterMatchmaker::spawn(
        &cluster,
        config,
        Duration::from_secs(120),
        move |_, _, _| {
            let config = MatchConfig {
                tick_rate: hz,
                max_players: group_size,
                reservation_timeout: Duration::from_secs(60),
                empty_timeout: Duration::from_secs(60),
                ..MatchConfig::default()
            };
            (config, Relay)
        },
    );
    let node = format!("{:016x}", cluster.node_id());
    io.ns("/", move |socket| {
        let node = node.clone();
        socket.on("node", move |_, _: Payload, ack| {
            let node = node.clone();
            async move {
                ack.send(&node).ok();
            }
        });
        let matchmaker = matchmaker.clone();
        socket.on("queue", move |socket, _: Payload, ack| {
            let matchmaker = matchmaker.clone();
            async move {
                let ticket = Ticket::for_socket("bench", PlayerInfo::default(), &socket);
                let reply = match matchmaker.enqueue(ticket).await {
                    Ok(seat) => json!({"match": seat.at.to_string(), "token": seat.token.0}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                ack.send(&reply).ok();
            }
        });
        let seat_cluster = cluster.clone();
        socket.on("seat", move |socket, Data(token): Data<String>, ack| {
            let cluster = seat_cluster.clone();
            async move {
                match cluster.join(&SeatToken(token), &socket).await {
                    Ok(player) => ack.send(&player).ok(),
                    Err(e) => ack.send(&json!({"error": e.to_string()})).ok(),
                };
            }
        });
        let bus_cluster = cluster.clone();
        socket.on("bus", move |_, _: Payload, ack| {
            let counters: HashMap<&str, u64> = bus_cluster.counters().into_iter().collect();
            async move {
                ack.send(&counters).ok();
            }
        });
    });
    Ok(())
}
