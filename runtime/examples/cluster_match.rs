//! The race of `match_room.rs` on a cluster of nodes (feature `redis`): players of every
//! node queue together, each match runs on one node, and a player sits in it from whichever
//! node it is connected to.
//!
//! ```sh
//! cargo run -p tickwire --features redis --example cluster_match -- 3000 redis://127.0.0.1:6379/
//! cargo run -p tickwire --features redis --example cluster_match -- 3001 redis://127.0.0.1:6379/
//! ```
//!
//! `play`(name) queues and seats the player (ack: its seat token); `rejoin`(token) takes the
//! seat again after a drop, through any node. Ctrl-C drains the node: its matches finish
//! (for at most 30 s), then its clients go to the other nodes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tickwire::game::cluster::{ClusterMatchmaker, GameCluster};
use tickwire::{
    Data, Match, MatchConfig, MatchContext, MatchmakerConfig, PlayerId, PlayerInfo, SeatToken,
    SocketIo, Ticket,
};

#[derive(Default)]
struct Race {
    pos: BTreeMap<PlayerId, f32>,
}

#[derive(Deserialize)]
struct Input {
    speed: f32,
}

#[derive(Serialize)]
struct Snapshot {
    pos: Vec<(PlayerId, f32)>,
}

impl Match for Race {
    type Input = Input;
    type Snapshot = Snapshot;

    fn on_join(&mut self, _ctx: &mut MatchContext, player: PlayerId, _info: &PlayerInfo) {
        self.pos.insert(player, 0.0);
    }

    fn on_input(&mut self, _ctx: &mut MatchContext, player: PlayerId, _seq: u32, input: Input) {
        *self.pos.entry(player).or_default() += input.speed.clamp(0.0, 1.0);
    }

    fn tick(&mut self, ctx: &mut MatchContext, _dt: Duration) -> Snapshot {
        if self.pos.values().any(|x| *x >= 100.0) {
            ctx.end();
        }
        Snapshot {
            pos: self.pos.iter().map(|(p, x)| (*p, *x)).collect(),
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let redis = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());

    let io = SocketIo::builder().build();
    let cluster = GameCluster::builder(redis)
        .attach(&io)
        .await
        .map_err(std::io::Error::other)?;

    // One queue for the cluster: groups of two, each hosted by the least loaded node.
    let matchmaker = ClusterMatchmaker::spawn(
        &cluster,
        MatchmakerConfig {
            group_size: 2,
            ..Default::default()
        },
        Duration::from_secs(60),
        |_mode, _players, _bots| {
            let config = MatchConfig {
                tick_rate: 20,
                ..Default::default()
            };
            (config, Race::default())
        },
    );

    let seats = cluster.clone();
    io.ns("/", move |socket| {
        let matchmaker = matchmaker.clone();
        socket.on("play", move |socket, Data(name): Data<String>, ack| {
            let matchmaker = matchmaker.clone();
            async move {
                let player = PlayerInfo {
                    name,
                    ..Default::default()
                };
                let ticket = Ticket::for_socket("race", player, &socket);
                let Ok(seat) = matchmaker.enqueue(ticket).await else {
                    return;
                };
                // Seated wherever the match runs: "input" events go there, "state" comes back.
                if seat.join(&socket).await.is_ok() {
                    ack.send(&seat.token.0).ok();
                }
            }
        });
        let cluster = seats.clone();
        socket.on("rejoin", move |socket, Data(token): Data<String>, ack| {
            let cluster = cluster.clone();
            async move {
                let seated = cluster.join(&SeatToken(token), &socket).await.is_ok();
                ack.send(&seated).ok();
            }
        });
    });

    let server = tickwire::Server::new(&io, {
        let io = io.clone();
        move || actix_web::App::new().configure(io.service())
    })
    .disable_signals()
    .bind(("127.0.0.1", port))?
    .run();
    let handle = server.handle();
    actix_rt::spawn(async move {
        let _ = actix_rt::signal::ctrl_c().await;
        cluster.drain(Duration::from_secs(30)).await;
        handle.stop(true).await;
    });
    server.await
}
