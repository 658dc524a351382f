//! A complete match: players queue, get a seat, send inputs, receive a snapshot each tick.
//! (Kept compact on purpose: it is the README's "under 40 lines" example.)
#![allow(missing_docs)]
use actix_web::{App, HttpServer};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};
use tickwire::*;

#[rustfmt::skip] #[derive(Default)] struct Race { pos: BTreeMap<PlayerId, f32> }
#[rustfmt::skip] #[derive(Deserialize)] struct Input { speed: f32 }
#[rustfmt::skip] #[derive(Serialize)] struct Snapshot { pos: Vec<(PlayerId, f32)> }

#[rustfmt::skip]
impl Match for Race {
    type Input = Input;
    type Snapshot = Snapshot;
    fn on_join(&mut self, _: &mut MatchContext, p: PlayerId, _: &PlayerInfo) { self.pos.insert(p, 0.0); }
    fn on_input(&mut self, _: &mut MatchContext, p: PlayerId, _seq: u32, input: Input) {
        *self.pos.entry(p).or_default() += input.speed.clamp(0.0, 1.0);
    }
    fn tick(&mut self, ctx: &mut MatchContext, _dt: Duration) -> Snapshot {
        if self.pos.values().any(|x| *x >= 100.0) { ctx.end(); }
        Snapshot { pos: self.pos.iter().map(|(p, x)| (*p, *x)).collect() }
    }
}

#[rustfmt::skip]
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mm = Matchmaker::spawn(MatchmakerConfig { group_size: 2, ..Default::default() },
        |_mode, _players, _bots| (MatchConfig { tick_rate: 20, ..Default::default() }, Race::default()));
    let io = SocketIo::builder().build();
    io.ns("/", move |socket| {
        let mm = mm.clone();
        socket.on("play", move |socket, Data(name): Data<String>, ack| { let mm = mm.clone(); async move {
            let ticket = Ticket { mode: "race".into(), player: PlayerInfo { name, ..Default::default() } };
            let Ok(seat) = mm.enqueue(ticket).await else { return };
            ack.send(&seat.handle.join(&seat.token, &socket).await.is_ok()).ok(); // now: "input" in, "state" out
        }});
    });
    HttpServer::new(move || App::new().configure(io.service())).bind(("127.0.0.1", 3000))?.run().await
}
