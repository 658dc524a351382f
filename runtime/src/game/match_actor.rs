//! The actor of one match, owning the game state and running its fixed tick.
//!
//! Per tick: inputs queued since the last tick are applied in sequence order (duplicates and
//! stale sequences ignored), with the tick each player acknowledged; [`Match::tick`] runs
//! with the clock's `dt`, and the snapshot (or, in a match that sends deltas, each player's
//! delta from its acknowledged tick) is encoded once per codec in use and queued for every
//! connected player in the *latest* class (a lagging client gets the newest snapshot, never a
//! backlog). Events the match emitted during the tick follow the snapshot. A player who
//! rejoins its seat gets the newest snapshot at once.
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
use super::delta::{Deltas, MAX_HISTORY};
use super::history::History;
use super::inputs::{new_inputs_in_order, receive, InputQueue};
use super::link::{Delivery, MatchLink};
use super::match_trait::{DisposeReason, LeaveReason, Match, PlayerId, PlayerInfo};
use super::member::{latest_key, Member, RemoteMember};
use super::metrics::TickStats;
use super::registry::{InputSink, MatchRegistry};
use super::seats::{JoinError, SeatState, SeatToken, Seats};
use super::snapshot::{FanOut, Newest};
use super::tick::TickClock;
use crate::socketio::{Codec, EncodeCounters, ErasedHandler, Frame, Payload, Socket, SocketId};

/// Messages a match actor's mailbox holds; control calls wait (`send().await`) beyond it.
const MATCH_MAILBOX: usize = 256;

/// The actor of one match.
pub(crate) struct MatchActor<M: Match> {
    id: u64,
    /// The node it runs on (0 outside a cluster), and its latest-class key.
    node: u64,
    key: u64,
    config: MatchConfig,
    game: M,
    seats: Seats<M::Input>,
    /// How it sends deltas, if it does ([`Match::deltas`], read at start).
    deltas: Option<Deltas>,
    /// The last snapshots: the newest (for rejoins), and the delta bases. Boxed: the actor
    /// is `Unpin`, snapshots need not be.
    history: Box<History<M::Snapshot>>,
    /// The newest snapshot's full frames, for rejoins before the next tick.
    newest: Newest,
    clock: TickClock,
    timer: Option<SpawnHandle>,
    empty_since: Option<Instant>,
    /// Shared with the registry and the handles: written after each tick.
    stats: Arc<Mutex<TickStats>>,
    registry: Weak<MatchRegistry>,
    encodes: Arc<EncodeCounters>,
    /// To members seated from other nodes, in a cluster.
    link: Option<Arc<dyn MatchLink>>,
    disposed: bool,
}

impl<M: Match> std::fmt::Debug for MatchActor<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchActor").field("id", &self.id).finish()
    }
}

impl<M: Match> MatchActor<M> {
    /// A match whose clock starts at the phase of `turn` on its thread.
    pub(super) fn new(
        id: u64,
        turn: u64,
        config: MatchConfig,
        game: M,
        stats: Arc<Mutex<TickStats>>,
        registry: &Arc<MatchRegistry>,
    ) -> MatchActor<M> {
        let node = registry.node_id();
        let deltas = game.deltas().map(|d| Deltas {
            history: d.history.clamp(1, MAX_HISTORY),
            ..d
        });
        // The delta bases, and the current tick's.
        let kept = deltas.as_ref().map_or(1, |d| d.history + 1);
        MatchActor {
            id,
            node,
            key: latest_key(node, id),
            clock: TickClock::staggered(Instant::now(), config.tick_rate.clamp(1, 120), turn),
            seats: Seats::new(config.max_players, config.input_queue),
            config,
            game,
            deltas,
            history: Box::new(History::new(kept)),
            newest: Newest::default(),
            timer: None,
            empty_since: Some(Instant::now()),
            stats,
            registry: Arc::downgrade(registry),
            encodes: registry.encodes().clone(),
            link: registry.link(),
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
        // Inputs, per player in sequence order, newer than what was applied; and the tick
        // each player acknowledged (from now on, this tick may be acknowledged too).
        let mut dropped = 0;
        for seat in self.seats.by_player_mut() {
            let batch: Vec<(u32, M::Input)> = {
                let mut q = seat.inputs.lock();
                dropped += std::mem::take(&mut q.dropped);
                seat.acked = q.ack.newest();
                q.ack.sent(tick.slot);
                q.items.drain(..).collect()
            };
            for (seq, input) in new_inputs_in_order(batch, &mut seat.last_seq) {
                self.game.on_input(&mut mctx, seat.id, seq, input);
            }
        }
        let snapshot = self.game.tick(&mut mctx, tick.dt);
        self.history.push(tick.slot, snapshot);
        let fan_out = FanOut::new(
            &self.config,
            self.deltas.as_ref(),
            &self.encodes,
            self.key,
            self.link.as_deref(),
        );
        let (bytes, newest) = fan_out.run(&self.game, &self.seats, &self.history);
        self.newest = newest;
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
                    if let Some(member) = self.seats.member_of(player) {
                        let frames =
                            encoded.frames(&self.encodes, member.codec(), member.nsp(), &event);
                        if let Some(frames) = frames {
                            self.send_reliable(member, &frames);
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
        for member in self.seats.iter().filter_map(|seat| seat.member()) {
            let key = (member.codec(), member.nsp());
            let index = match cache.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    let frames = encoded.frames(&self.encodes, key.0, key.1, event);
                    cache.push((key, frames));
                    cache.len() - 1
                }
            };
            if let Some(frames) = &cache[index].1 {
                self.send_reliable(member, frames);
            }
        }
    }

    /// Reliable frames for one member, here or on its node.
    fn send_reliable(&self, member: &Member, frames: &[Frame]) {
        match member {
            Member::Local(socket) => {
                let _ = socket.send_reliable(frames);
            }
            Member::Remote(remote) => {
                if let Some(link) = &self.link {
                    let delivery = Delivery::Reliable {
                        nsp: &remote.nsp,
                        member: &remote.socket,
                        frames,
                    };
                    link.deliver(remote.node, delivery);
                }
            }
        }
    }

    /// `member` no longer sits in the seat of `token`: stop routing its events, here (the
    /// socket's handlers) or on its node; with `keep_inputs`, the seat's input route stays
    /// (another member of another node takes it over).
    fn release(
        &self,
        token: &str,
        member: &Member,
        keep_inputs: bool,
        input_handler: Option<&ErasedHandler>,
    ) {
        match member {
            Member::Local(socket) => {
                // Only its own: a seat of another match may have taken the event over since.
                if let Some(handler) = input_handler {
                    socket.off_if(&self.config.input_event, handler);
                }
                socket.clear_disconnect_hook(self.id);
            }
            Member::Remote(remote) => {
                if !keep_inputs {
                    self.clear_input_route(token);
                }
                if let Some(link) = &self.link {
                    let delivery = Delivery::Released {
                        nsp: &remote.nsp,
                        member: &remote.socket,
                        match_id: self.id,
                    };
                    link.deliver(remote.node, delivery);
                }
            }
        }
    }

    /// Stop taking inputs for the seat of `token` from other nodes.
    fn clear_input_route(&self, token: &str) {
        if let Some(registry) = self.registry.upgrade() {
            registry.clear_input_sink(self.id, token);
        }
    }

    fn remove_seat(&mut self, token: &str, reason: LeaveReason) {
        let Some(seat) = self.seats.remove(token) else {
            return;
        };
        match seat.member() {
            Some(member) => self.release(token, member, false, seat.input_handler.as_ref()),
            // Away: nothing routes to it any more (see `dropped`).
            None => self.clear_input_route(token),
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
        let ended = Encoded::new(&reason.as_str());
        let seats: Vec<_> = self.seats.drain().collect();
        for (token, seat) in &seats {
            let Some(member) = seat.member() else {
                continue;
            };
            let frames = ended
                .as_ref()
                .and_then(|e| e.frames(&self.encodes, member.codec(), member.nsp(), "match-ended"));
            if let Some(frames) = frames {
                self.send_reliable(member, &frames);
            }
            self.release(token, member, false, seat.input_handler.as_ref());
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
        // The token names its match, so that any node of a cluster can route a rejoin.
        let token = format!(
            "{:016x}-{}.{}",
            self.node,
            self.id,
            tickwire_protocol::engineio::handshake::sid_from_entropy(rand::random())
        );
        let token = self
            .seats
            .reserve(player, token, now + self.config.reservation_timeout)?;
        self.empty_since = None;
        Ok(token)
    }

    fn join(
        &mut self,
        token: String,
        member: Member,
        ctx: &mut Context<Self>,
    ) -> Result<PlayerId, JoinError> {
        if self.disposed {
            return Err(JoinError::Disposed);
        }
        self.lapse_seats(Instant::now());
        let addr = (self.id, ctx.address());
        let inputs = self.seats.get_mut(&token)?.inputs.clone();
        if self.seats.seated_elsewhere(&token, &member) {
            // Its disconnect hook and input route are the match's, one per socket.
            return Err(JoinError::AlreadySeated);
        }
        let wired = match &member {
            // A socket that has gone cannot sit: wiring it would leave a seat nobody leaves.
            Member::Local(socket) if !socket.connected() => None,
            Member::Local(socket) => {
                wire_socket::<M>(socket, &self.config, inputs, addr, token.clone()).map(Some)
            }
            // Its node watches the socket and tells when it goes.
            Member::Remote(_) => {
                if let Some(registry) = self.registry.upgrade() {
                    registry.set_input_sink(self.id, &token, input_sink::<M>(inputs));
                }
                Some(None)
            }
        };
        let Some(input_handler) = wired else {
            self.seats.free_reservation(&token);
            return Err(JoinError::Disconnected);
        };
        let seat = self.seats.get_mut(&token)?;
        let (rejoin, replaced) = match &seat.state {
            SeatState::Reserved { .. } => (false, None),
            SeatState::Away { .. } => (true, None),
            // A second connection with the same token takes the seat over.
            SeatState::Connected { member: old } if !old.same(&member) => (true, Some(old.clone())),
            SeatState::Connected { .. } => (true, None),
        };
        let remote_now = matches!(member, Member::Remote(_));
        seat.state = SeatState::Connected { member };
        let old_handler = std::mem::replace(&mut seat.input_handler, input_handler);
        // A new connection: it has nothing older than the newest snapshot, which a rejoin
        // gets now, and what was acknowledged before was another connection's.
        seat.acked = None;
        seat.inputs
            .lock()
            .ack
            .resume(self.history.newest().map(|(tick, _)| tick));
        let (player, info) = (seat.id, seat.info.clone());
        if let Some(old) = replaced {
            self.release(&token, &old, remote_now, old_handler.as_ref());
        }
        let mut mctx = self.context();
        if rejoin {
            self.game.on_rejoin(&mut mctx, player);
        } else {
            self.game.on_join(&mut mctx, player, &info);
        }
        self.flush(&mut mctx);
        if rejoin {
            self.resume(player);
        }
        Ok(player)
    }

    /// `player` rejoined: the newest full snapshot now, not at the next tick (before the
    /// join's answer, in the latest class the ticks' snapshots then replace).
    fn resume(&mut self, player: PlayerId) {
        let Some(member) = self.seats.member_of(player) else {
            return;
        };
        let fan_out = FanOut::new(
            &self.config,
            self.deltas.as_ref(),
            &self.encodes,
            self.key,
            self.link.as_deref(),
        );
        fan_out.resume(&self.game, &self.history, &mut self.newest, player, member);
    }

    fn dropped(&mut self, token: &str, member: &Member) {
        let window = self.config.reconnect_window;
        let Some(player) = self.seats.away(token, member, Instant::now(), window) else {
            return;
        };
        if matches!(member, Member::Remote(_)) {
            // Its node forwards nothing more; a rejoin through any node routes anew.
            self.clear_input_route(token);
        }
        let mut mctx = self.context();
        self.game
            .on_leave(&mut mctx, player, LeaveReason::Disconnected);
        self.flush(&mut mctx);
    }

    fn dropped_remote(&mut self, msg: DroppedRemote) {
        let member = Member::Remote(RemoteMember {
            node: msg.node,
            socket: msg.socket,
            // Members are told apart by node and socket.
            nsp: "".into(),
            codec: Codec::Json,
        });
        self.dropped(&msg.token, &member);
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

/// Where the inputs of a seat taken from another node go: decoded as `[seq, input]` or
/// `[seq, input, tick]` like a local socket's (its node forwards the payload as it came, the
/// acknowledged tick with it), into the seat's queue.
fn input_sink<M: Match>(inputs: Arc<Mutex<InputQueue<M::Input>>>) -> InputSink {
    Arc::new(move |payload: Payload| receive(&inputs, payload))
}

/// Report the socket's disconnect and route its input events into the seat's queue.
/// Returns the input handler set, or `None`, wiring nothing, when the socket has already
/// disconnected.
fn wire_socket<M: Match>(
    socket: &Socket,
    config: &MatchConfig,
    inputs: Arc<Mutex<InputQueue<M::Input>>>,
    (key, addr): (u64, Addr<MatchActor<M>>),
    token: String,
) -> Option<ErasedHandler> {
    // Keyed by match: a socket that plays many matches holds one hook per live seat.
    let hooked = socket.set_disconnect_hook(key, move |socket, _reason| {
        // Once per socket and seat: bounded.
        addr.do_send(Dropped { token, socket });
    });
    if !hooked {
        return None;
    }
    socket.on_kept(&config.input_event, move |_, payload: Payload, _| {
        receive(&inputs, payload);
        async {}
    })
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
    pub(super) member: Member,
}
handler!(Join, Result<PlayerId, JoinError>, |act, msg, ctx| act.join(msg.token, msg.member, ctx));

/// A seated socket disconnected. `do_send` from the socket's disconnect hook: once per
/// socket and seat.
#[derive(Message)]
#[rtype(result = "()")]
struct Dropped {
    token: String,
    socket: Socket,
}
handler!(Dropped, (), |act, msg, _ctx| act
    .dropped(&msg.token, &Member::Local(msg.socket)));

/// A member seated from another node dropped. `do_send` from the registry, on a message of
/// its node: once per remote seat and drop.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct DroppedRemote {
    pub(super) token: String,
    pub(super) node: u64,
    pub(super) socket: SocketId,
}
handler!(DroppedRemote, (), |act, msg, _ctx| act.dropped_remote(msg));

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::game::MatchRoom;
    use crate::socketio::SocketIo;

    struct Idle;

    impl Match for Idle {
        type Input = ();
        type Snapshot = u64;
        fn on_input(&mut self, _: &mut MatchContext, _: PlayerId, _: u32, _: ()) {}
        fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> u64 {
            ctx.tick()
        }
    }

    fn remote(socket: &str) -> Member {
        Member::Remote(RemoteMember {
            node: 7,
            socket: SocketId::from(socket),
            nsp: "/".into(),
            codec: Codec::Json,
        })
    }

    fn player() -> PlayerInfo {
        PlayerInfo {
            name: "p".into(),
            data: Value::Null,
        }
    }

    /// A match of `io` on this thread, long-lived, with a reconnect window of `window`.
    fn spawned(
        io: &SocketIo,
        window: Duration,
    ) -> (
        Arc<MatchRegistry>,
        Arc<dyn super::super::registry::LiveMatch>,
    ) {
        let config = MatchConfig {
            reconnect_window: window,
            empty_timeout: Duration::from_secs(600),
            ..MatchConfig::default()
        };
        let handle = MatchRoom::spawn(io, config, Idle);
        let registry = MatchRegistry::of(io);
        let live = registry.find(handle.id()).expect("the match is registered");
        (registry, live)
    }

    #[actix_rt::test]
    async fn a_remote_seat_that_drops_stops_taking_inputs_and_its_route_goes() {
        let io = SocketIo::builder().build();
        let (registry, live) = spawned(&io, Duration::ZERO);
        for n in 0..5 {
            let token = live.reserve(player()).await.unwrap();
            let socket = format!("s{n}");
            live.join(token.clone(), remote(&socket)).await.unwrap();
            assert_eq!(registry.input_routes(), 1);
            live.dropped(token, 7, SocketId::from(socket.as_str()));
            // Answered after the drop (one mailbox, in order).
            live.state().await;
            assert_eq!(registry.input_routes(), 0, "cycle {n}");
        }
    }

    #[actix_rt::test]
    async fn one_socket_takes_one_seat_of_a_match() {
        let io = SocketIo::builder().build();
        let (_registry, live) = spawned(&io, Duration::from_secs(60));
        let (first, second) = (
            live.reserve(player()).await.unwrap(),
            live.reserve(player()).await.unwrap(),
        );
        live.join(first.clone(), remote("s")).await.unwrap();
        assert_eq!(
            live.join(second.clone(), remote("s")).await,
            Err(JoinError::AlreadySeated)
        );
        // Its own seat again (a rejoin) is fine, and another socket takes the other seat.
        live.join(first, remote("s")).await.unwrap();
        live.join(second, remote("t")).await.unwrap();
    }
}
