//! A complete match: players queue, get a seat, send inputs, receive a snapshot each tick.
//!
//! Two players race to 100. Each `input` event carries `[seq, {"speed": s}]`; every tick the
//! match applies the inputs in sequence order and sends everyone a `state` event
//! `{"tick", "acks", "state": {"pos": [[player, x], ...]}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{App, HttpServer};
use serde::{Deserialize, Serialize};
use tickwire::{
    Data, Match, MatchConfig, MatchContext, Matchmaker, MatchmakerConfig, PlayerId, PlayerInfo,
    SocketIo, Ticket,
};

/// The game state: each player's distance.
#[derive(Default)]
struct Race {
    pos: BTreeMap<PlayerId, f32>,
}

/// What a player sends each input.
#[derive(Deserialize)]
struct Input {
    speed: f32,
}

/// What every player receives each tick.
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
    let io = SocketIo::builder().build();

    // Groups players two by two and spawns one Race per group, ticking at 20 Hz.
    let matchmaker = Matchmaker::spawn(
        &io,
        MatchmakerConfig {
            group_size: 2,
            ..Default::default()
        },
        |_mode, _players, _bots| {
            let config = MatchConfig {
                tick_rate: 20,
                ..Default::default()
            };
            (config, Race::default())
        },
    );

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
                // Seated: from now on "input" events feed the match and "state" events arrive.
                let seated = seat.handle.join(&seat.token, &socket).await.is_ok();
                ack.send(&seated).ok();
            }
        });
    });

    HttpServer::new(move || App::new().configure(io.service()))
        .bind(("127.0.0.1", 3000))?
        .run()
        .await
}
