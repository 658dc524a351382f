//! The actor of one match, owning the game state and running its fixed tick.
//!
//! Per tick: inputs queued since the last tick are applied in sequence order (duplicates and
//! stale sequences ignored), [`Match::tick`] runs with the clock's `dt`, and the snapshot is
//! encoded once per codec in use and queued for every connected player in the *latest* class
//! (a lagging client gets the newest snapshot, never a backlog). Events the match emitted
//! during the tick follow the snapshot.
//!
//! Its handlers are one line each into the plain methods below; the seat bookkeeping they
//! rely on ([`Seats`]) is tested on its own.

use std::sync::{Arc, Weak};
use std::time::Instant;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use parking_lot::Mutex;
use serde_json::Value;

use super::config::MatchConfig;
use super::context::{Encoded, MatchContext, Outgoing};
use super::inputs::{new_inputs_in_order, InputQueue};
use super::match_trait::{DisposeReason, LeaveReason, Match, PlayerId, PlayerInfo};
use super::metrics::TickStats;
use super::registry::MatchRegistry;
use super::seats::{JoinError, SeatState, SeatToken, Seats};
use super::snapshot::fan_out;
use super::tick::TickClock;
use crate::socketio::{Codec, Data, Frame, Socket};

/// Messages a match actor's mailbox holds; control calls wait (`send().await`) beyond it.
const MATCH_MAILBOX: usize = 256;

/// The actor of one match.
pub(crate) struct MatchActor<M: Match> {
    id: u64,
    config: MatchConfig,
    game: M,
    seats: Seats<M::Input>,
    clock: TickClock,
    timer: Option<SpawnHandle>,
    empty_since: Option<Instant>,
    /// Shared with the registry and the handles: written after each tick.
    stats: Arc<Mutex<TickStats>>,
    registry: Weak<MatchRegistry>,
    disposed: bool,
}

impl<M: Match> std::fmt::Debug for MatchActor<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchActor").field("id", &self.id).finish()
    }
}

impl<M: Match> MatchActor<M> {
    pub(super) fn new(
        id: u64,
        config: MatchConfig,
        game: M,
        stats: Arc<Mutex<TickStats>>,
        registry: Weak<MatchRegistry>,
    ) -> MatchActor<M> {
        MatchActor {
            id,
            clock: TickClock::new(Instant::now(), config.tick_rate.clamp(1, 120)),
            seats: Seats::new(config.max_players, config.input_queue),
            config,
            game,
            timer: None,
            empty_since: Some(Instant::now()),
            stats,
            registry,
            disposed: false,
        }
    }

    fn context(&self) -> MatchContext {
        MatchContext {
            tick: self.stats.lock().ticks(),
            players: self.seats.players(),
            outgoing: Vec::new(),
            ended: false,
            kicked: Vec::new(),
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.disposed {
            return;
        }
        let delay = self
            .clock
            .deadline()
            .saturating_duration_since(Instant::now());
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.on_tick(ctx);
        }));
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(tick) = self.clock.fire(now) else {
            self.schedule(ctx);
            return;
        };
        self.lapse_seats(now);
        let mut mctx = self.context();
        mctx.tick = tick.slot;
        // Inputs, per player in sequence order, newer than what was applied.
        let mut dropped = 0;
        for seat in self.seats.by_player_mut() {
            let batch: Vec<(u32, M::Input)> = {
                let mut q = seat.inputs.lock();
                dropped += std::mem::take(&mut q.dropped);
                q.items.drain(..).collect()
            };
            for (seq, input) in new_inputs_in_order(batch, &mut seat.last_seq) {
                self.game.on_input(&mut mctx, seat.id, seq, input);
            }
        }
        let snapshot = self.game.tick(&mut mctx, tick.dt);
        let bytes = fan_out(
            &self.game,
            &self.seats,
            self.id,
            &self.config.snapshot_event,
            self.config.envelope,
            tick.slot,
            &snapshot,
        );
        self.flush(&mut mctx);
        let work = now.elapsed();
        {
            let mut stats = self.stats.lock();
            stats.record(tick.lateness, tick.skipped, work, self.clock.period());
            stats.add_inputs_dropped(dropped);
            stats.set_bytes_last_tick(bytes);
            stats.set_players(self.seats.players().len());
        }
        if mctx.ended {
            self.dispose(DisposeReason::Finished, ctx);
            return;
        }
        if self.seats.is_empty() {
            let since = *self.empty_since.get_or_insert(now);
            if now.duration_since(since) >= self.config.empty_timeout {
                self.dispose(DisposeReason::Empty, ctx);
                return;
            }
        } else {
            self.empty_since = None;
        }
        self.schedule(ctx);
    }

    /// Carry out what a callback did: its events (after the snapshot), then its kicks.
    fn flush(&mut self, mctx: &mut MatchContext) {
        for outgoing in mctx.outgoing.drain(..) {
            match outgoing {
                Outgoing::To(player, event, encoded) => {
                    if let Some(socket) = self.seats.socket_of(player) {
                        if let Some(frames) = encoded.frames_for(socket, &event) {
                            let _ = socket.send_reliable(&frames);
                        }
                    }
                }
                Outgoing::All(event, encoded) => self.send_to_all(&event, &encoded),
            }
        }
        for player in mctx.kicked.drain(..) {
            if let Some(token) = self.seats.token_of(player) {
                self.remove_seat(&token, LeaveReason::Left);
            }
        }
    }

    /// An event for every connected player, encoded once per codec and namespace.
    fn send_to_all(&self, event: &str, encoded: &Encoded) {
        type PerCodec<'a> = ((Codec, &'a str), Option<Vec<Frame>>);
        let mut cache: Vec<PerCodec<'_>> = Vec::new();
        for socket in self.seats.iter().filter_map(|seat| seat.socket()) {
            let key = (socket.codec(), socket.ns().name());
            let index = match cache.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    cache.push((key, encoded.frames_for(socket, event)));
                    cache.len() - 1
                }
            };
            if let Some(frames) = &cache[index].1 {
                let _ = socket.send_reliable(frames);
            }
        }
    }

    fn remove_seat(&mut self, token: &str, reason: LeaveReason) {
        let Some(seat) = self.seats.remove(token) else {
            return;
        };
        if let Some(socket) = seat.socket() {
            socket.off(&self.config.input_event);
            socket.clear_disconnect_hook(self.id);
        }
        if seat.is_held() {
            let mut mctx = self.context();
            self.game.on_leave(&mut mctx, seat.id, reason);
            self.flush(&mut mctx);
        }
    }

    /// Free the seats whose time ran out: reservations nobody redeemed, and players away
    /// past their reconnect window (they leave, reason `TimedOut`).
    fn lapse_seats(&mut self, now: Instant) {
        for lapsed in self.seats.lapse(now) {
            if lapsed.was_held {
                self.remove_seat(&lapsed.token, LeaveReason::TimedOut);
            }
        }
    }

    fn dispose(&mut self, reason: DisposeReason, ctx: &mut Context<Self>) {
        if self.disposed {
            return;
        }
        self.disposed = true;
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        self.game.on_dispose(reason);
        let (input_event, key) = (self.config.input_event.clone(), self.id);
        for seat in self.seats.drain() {
            if let Some(socket) = seat.socket() {
                let _ = socket.emit("match-ended", &reason.as_str());
                socket.off(&input_event);
                socket.clear_disconnect_hook(key);
            }
        }
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(self.id);
        }
        ctx.stop();
    }

    fn reserve(&mut self, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        if self.disposed {
            return Err(JoinError::Disposed);
        }
        let now = Instant::now();
        self.lapse_seats(now);
        self.seats.check_open()?;
        self.game
            .join_attempt(&player)
            .map_err(JoinError::Refused)?;
        let token = tickwire_protocol::engineio::handshake::sid_from_entropy(rand::random());
        let token = self
            .seats
            .reserve(player, token, now + self.config.reservation_timeout)?;
        self.empty_since = None;
        Ok(token)
    }

    fn join(
        &mut self,
        token: String,
        socket: Socket,
        ctx: &mut Context<Self>,
    ) -> Result<PlayerId, JoinError> {
        if self.disposed {
            return Err(JoinError::Disposed);
        }
        self.lapse_seats(Instant::now());
        let addr = (self.id, ctx.address());
        let seat = self.seats.get_mut(&token)?;
        // A socket that has gone cannot sit: wiring it would leave a seat nobody leaves.
        let wired = socket.connected()
            && wire_socket::<M>(
                &socket,
                &self.config,
                seat.inputs.clone(),
                addr,
                token.clone(),
            );
        if !wired {
            self.seats.free_reservation(&token);
            return Err(JoinError::Disconnected);
        }
        let rejoin = match &seat.state {
            SeatState::Reserved { .. } => false,
            SeatState::Away { .. } => true,
            SeatState::Connected { socket: old } => {
                if *old != socket {
                    // A second connection with the same token takes the seat over.
                    old.off(&self.config.input_event);
                    old.clear_disconnect_hook(self.id);
                }
                true
            }
        };
        seat.state = SeatState::Connected { socket };
        let (player, info) = (seat.id, seat.info.clone());
        let mut mctx = self.context();
        if rejoin {
            self.game.on_rejoin(&mut mctx, player);
        } else {
            self.game.on_join(&mut mctx, player, &info);
        }
        self.flush(&mut mctx);
        Ok(player)
    }

    fn dropped(&mut self, token: &str, socket: &Socket) {
        let window = self.config.reconnect_window;
        let Some(player) = self.seats.away(token, socket, Instant::now(), window) else {
            return;
        };
        let mut mctx = self.context();
        self.game
            .on_leave(&mut mctx, player, LeaveReason::Disconnected);
        self.flush(&mut mctx);
    }

    fn lock(&mut self, locked: bool) {
        self.seats.locked = locked;
    }

    fn signal(&mut self, signal: Value) -> Value {
        let mut mctx = self.context();
        let answer = self.game.on_signal(&mut mctx, signal);
        self.flush(&mut mctx);
        answer
    }
}

/// Report the socket's disconnect and route its input events into the seat's queue.
/// Returns `false`, wiring nothing, when the socket has already disconnected.
fn wire_socket<M: Match>(
    socket: &Socket,
    config: &MatchConfig,
    inputs: Arc<Mutex<InputQueue<M::Input>>>,
    (key, addr): (u64, Addr<MatchActor<M>>),
    token: String,
) -> bool {
    // Keyed by match: a socket that plays many matches holds one hook per live seat.
    let hooked = socket.set_disconnect_hook(key, move |socket, _reason| {
        // Once per socket and seat: bounded.
        addr.do_send(Dropped { token, socket });
    });
    if hooked {
        socket.on(
            &config.input_event,
            move |_, Data((seq, input)): Data<(u32, M::Input)>, _| {
                inputs.lock().push(seq, input);
                async {}
            },
        );
    }
    hooked
}

impl<M: Match> Actor for MatchActor<M> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MATCH_MAILBOX);
        self.schedule(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // However it stopped, it is no longer listed.
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(self.id);
        }
    }
}

macro_rules! handler {
    ($msg:ty, $res:ty, |$act:ident, $m:ident, $ctx:ident| $body:expr) => {
        impl<M: Match> Handler<$msg> for MatchActor<M> {
            type Result = $res;
            fn handle(&mut self, $m: $msg, $ctx: &mut Self::Context) -> $res {
                let $act = self;
                $body
            }
        }
    };
}

/// Reserve a seat. `send().await` from [`MatchHandle::reserve`](super::MatchHandle::reserve).
#[derive(Message)]
#[rtype(result = "Result<SeatToken, JoinError>")]
pub(super) struct Reserve(pub(super) PlayerInfo);
handler!(Reserve, Result<SeatToken, JoinError>, |act, msg, _ctx| act.reserve(msg.0));

/// Redeem a seat token. `send().await` from [`MatchHandle::join`](super::MatchHandle::join).
#[derive(Message)]
#[rtype(result = "Result<PlayerId, JoinError>")]
pub(super) struct Join {
    pub(super) token: String,
    pub(super) socket: Socket,
}
handler!(Join, Result<PlayerId, JoinError>, |act, msg, ctx| act.join(msg.token, msg.socket, ctx));

/// A seated socket disconnected. `do_send` from the socket's disconnect hook: once per
/// socket and seat.
#[derive(Message)]
#[rtype(result = "()")]
struct Dropped {
    token: String,
    socket: Socket,
}
handler!(Dropped, (), |act, msg, _ctx| act
    .dropped(&msg.token, &msg.socket));

/// Remove a player. `send().await` from [`MatchHandle::leave`](super::MatchHandle::leave).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Leave(pub(super) String);
handler!(Leave, (), |act, msg, _ctx| act
    .remove_seat(&msg.0, LeaveReason::Left));

/// Lock or unlock. `send().await`.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Lock(pub(super) bool);
handler!(Lock, (), |act, msg, _ctx| act.lock(msg.0));

/// An application signal. `send().await`.
#[derive(Message)]
#[rtype(result = "Value")]
pub(super) struct Signal(pub(super) Value);
handler!(Signal, actix::MessageResult<Signal>, |act, msg, _ctx| {
    actix::MessageResult(act.signal(msg.0))
});

/// The game's state summary. `send().await`.
#[derive(Message)]
#[rtype(result = "Value")]
pub(super) struct QueryState;
handler!(
    QueryState,
    actix::MessageResult<QueryState>,
    |act, _msg, _ctx| actix::MessageResult(act.game.state())
);

/// Stop the match. `send().await`.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Stop(pub(super) DisposeReason);
handler!(Stop, (), |act, msg, ctx| act.dispose(msg.0, ctx));
