//! Match rooms: one actor per match, owning the game state and running a fixed tick.
//!
//! Matchmaking code calls [`MatchRoom::spawn`] with a [`MatchConfig`] and a value of the
//! game's [`Match`] type, and gets a [`MatchHandle`]. Players are seated with a reservation
//! ([`MatchHandle::reserve`] → a [`SeatToken`]) that a socket redeems with
//! [`MatchHandle::join`]; from then on the socket's `input` events (`[seq, input]`) feed the
//! match and every tick's snapshot reaches it as a `state` event.
//!
//! Per tick: inputs queued since the last tick are applied in sequence order (duplicates and
//! stale sequences ignored), [`Match::tick`] runs with the clock's `dt`, and the snapshot is
//! encoded once per codec in use and queued for every connected player in the *latest* class
//! (a lagging client gets the newest snapshot, never a backlog). Events the match emitted
//! during the tick follow the snapshot.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, Addr, Arbiter, ArbiterHandle, AsyncContext, Context, Handler, Message,
    SpawnHandle,
};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::codec::{Codec, EncodeOnce};
use crate::outbox::Class;
use crate::payload::Data;
use crate::payload::Payload;
use crate::socket::Socket;
use crate::tick::TickClock;

/// A player's number within a match.
pub type PlayerId = u32;

/// Messages a match actor's mailbox holds; control calls wait (`send().await`) beyond it.
const MATCH_MAILBOX: usize = 256;

/// How a match runs.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    /// Ticks per second (1–120; default 30).
    pub tick_rate: u32,
    /// Seats, reservations included (default 8).
    pub max_players: usize,
    /// How long a reservation waits to be redeemed (default 15 s).
    pub reservation_timeout: Duration,
    /// How long a dropped player's seat is kept for a rejoin (default 10 s).
    pub reconnect_window: Duration,
    /// Dispose when no player is seated or expected for this long (default 30 s).
    pub empty_timeout: Duration,
    /// Inputs queued per player between ticks; the oldest are dropped beyond it (default 32).
    pub input_queue: usize,
    /// The event snapshots are sent as (default `state`).
    pub snapshot_event: String,
    /// The event players send inputs with, as `[seq, input]` (default `input`).
    pub input_event: String,
    /// Wrap snapshots as `{"tick", "acks", "state"}` (default). Without it the snapshot is
    /// sent bare, for games that do not reconcile predictions.
    pub envelope: bool,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            tick_rate: 30,
            max_players: 8,
            reservation_timeout: Duration::from_secs(15),
            reconnect_window: Duration::from_secs(10),
            empty_timeout: Duration::from_secs(30),
            input_queue: 32,
            snapshot_event: "state".into(),
            input_event: "input".into(),
            envelope: true,
        }
    }
}

/// Who is asking for a seat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PlayerInfo {
    /// Display name.
    pub name: String,
    /// Anything else the game wants (team, skin, rating...).
    #[serde(default)]
    pub data: Value,
}

/// Why a player left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The connection dropped; the seat is kept for the reconnect window.
    Disconnected,
    /// The reconnect window passed without a rejoin; the seat is free.
    TimedOut,
    /// The player or the server removed the player.
    Left,
}

/// Why a match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisposeReason {
    /// The game called [`MatchContext::end`].
    Finished,
    /// Nobody was seated or expected for the empty timeout.
    Empty,
    /// [`MatchHandle::stop`] was called.
    Stopped,
    /// The server is shutting down ([`shutdown_all`]).
    ServerShutdown,
}

impl DisposeReason {
    /// The reason as sent to players in the `match-ended` event: `finished`, `empty`,
    /// `stopped` or `server shutting down`.
    pub fn as_str(self) -> &'static str {
        match self {
            DisposeReason::Finished => "finished",
            DisposeReason::Empty => "empty",
            DisposeReason::Stopped => "stopped",
            DisposeReason::ServerShutdown => "server shutting down",
        }
    }
}

/// The game logic of a match. All state lives in the implementing value, inside the match's
/// actor: no locks.
pub trait Match: Send + Unpin + 'static {
    /// What a player sends each input event (after its sequence number).
    type Input: DeserializeOwned + Send + 'static;
    /// What every player receives each tick.
    type Snapshot: Serialize + 'static;

    /// Accept or refuse a seat request (before any reservation is made).
    fn join_attempt(&mut self, _player: &PlayerInfo) -> Result<(), String> {
        Ok(())
    }

    /// A player took their seat.
    fn on_join(&mut self, _ctx: &mut MatchContext, _player: PlayerId, _info: &PlayerInfo) {}

    /// A player dropped, timed out or left.
    fn on_leave(&mut self, _ctx: &mut MatchContext, _player: PlayerId, _reason: LeaveReason) {}

    /// A dropped player came back within the window.
    fn on_rejoin(&mut self, _ctx: &mut MatchContext, _player: PlayerId) {}

    /// One input, in sequence order per player, applied before the tick.
    fn on_input(&mut self, ctx: &mut MatchContext, player: PlayerId, seq: u32, input: Self::Input);

    /// Advance by `dt` and produce the tick's snapshot.
    fn tick(&mut self, ctx: &mut MatchContext, dt: Duration) -> Self::Snapshot;

    /// A per-player view replacing the shared snapshot for `player` (default: none, so the
    /// shared snapshot is encoded once per codec for everybody).
    fn view(&self, _player: PlayerId, _shared: &Self::Snapshot) -> Option<Self::Snapshot> {
        None
    }

    /// An application signal from [`MatchHandle::signal`]; the answer goes back.
    fn on_signal(&mut self, _ctx: &mut MatchContext, _signal: Value) -> Value {
        Value::Null
    }

    /// A summary of the state for [`MatchHandle::state`].
    fn state(&self) -> Value {
        Value::Null
    }

    /// The match ends; last chance to persist results.
    fn on_dispose(&mut self, _reason: DisposeReason) {}
}

/// The envelope of each tick's snapshot on the wire.
#[derive(Debug, Serialize)]
pub struct SnapshotEnvelope<'a, S> {
    /// The tick's slot number.
    pub tick: u64,
    /// Per seated player: the last input sequence applied (for client reconciliation).
    pub acks: &'a [(PlayerId, u32)],
    /// The game's snapshot.
    pub state: &'a S,
}

/// A snapshot as sent: in its envelope, or bare.
enum Wire<'a, S> {
    Envelope(&'a SnapshotEnvelope<'a, S>),
    Bare(&'a S),
}

impl<S: Serialize> Serialize for Wire<'_, S> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            Wire::Envelope(envelope) => envelope.serialize(serializer),
            Wire::Bare(state) => state.serialize(serializer),
        }
    }
}

/// An event from a match callback, encoded for both codecs when it was emitted (the typed
/// value is gone by the time the tick's output is flushed).
struct Encoded {
    json: Value,
    compact: Option<bytes::Bytes>,
}

impl Encoded {
    fn new(data: &impl Serialize) -> Option<Encoded> {
        Some(Encoded {
            json: serde_json::to_value(data).ok()?,
            compact: tickwire_protocol::compact::to_payload(data).ok(),
        })
    }

    fn frames(&self, codec: Codec, nsp: &str, event: &str) -> Option<Vec<crate::outbox::Frame>> {
        match codec {
            Codec::Json => crate::codec::encode_event(codec, nsp, event, &self.json, None).ok(),
            Codec::Compact => {
                let payload = Payload::from_compact(self.compact.clone()?);
                crate::codec::encode_payload_event(codec, nsp, event, &payload, None).ok()
            }
        }
    }
}

/// The frames of one broadcast event are shared by the players of one codec and namespace.
type FramesKey = (Codec, String);

enum Outgoing {
    To(PlayerId, String, Encoded),
    All(String, Encoded),
}

/// What a match can do from its callbacks.
pub struct MatchContext {
    tick: u64,
    players: Vec<PlayerId>,
    outgoing: Vec<Outgoing>,
    ended: bool,
    kicked: Vec<PlayerId>,
}

impl std::fmt::Debug for MatchContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchContext")
            .field("tick", &self.tick)
            .field("players", &self.players)
            .finish()
    }
}

impl MatchContext {
    /// A context outside any match, for unit-testing a game's callbacks: call them with it,
    /// then look at [`MatchContext::emitted`], [`MatchContext::kicked`] and
    /// [`MatchContext::ended`].
    pub fn detached(tick: u64, players: Vec<PlayerId>) -> MatchContext {
        MatchContext {
            tick,
            players,
            outgoing: Vec::new(),
            ended: false,
            kicked: Vec::new(),
        }
    }

    /// The events emitted so far: the player (`None` for everyone), the event and its JSON.
    pub fn emitted(&self) -> Vec<(Option<PlayerId>, &str, &Value)> {
        self.outgoing
            .iter()
            .map(|o| match o {
                Outgoing::To(p, e, enc) => (Some(*p), e.as_str(), &enc.json),
                Outgoing::All(e, enc) => (None, e.as_str(), &enc.json),
            })
            .collect()
    }

    /// The players kicked so far.
    pub fn kicked(&self) -> &[PlayerId] {
        &self.kicked
    }

    /// Whether [`MatchContext::end`] was called.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The current tick's slot.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Seated players (connected or within their reconnect window).
    pub fn players(&self) -> &[PlayerId] {
        &self.players
    }

    /// Send a reliable event to one player, after this tick's snapshot.
    pub fn emit_to(&mut self, player: PlayerId, event: &str, data: impl Serialize) {
        if let Some(encoded) = Encoded::new(&data) {
            self.outgoing
                .push(Outgoing::To(player, event.to_owned(), encoded));
        }
    }

    /// Send a reliable event to every player, after this tick's snapshot.
    ///
    /// Encoded at most once per codec (and namespace) among the players.
    pub fn broadcast(&mut self, event: &str, data: impl Serialize) {
        if let Some(encoded) = Encoded::new(&data) {
            self.outgoing.push(Outgoing::All(event.to_owned(), encoded));
        }
    }

    /// Remove a player from the match (after this tick).
    pub fn kick(&mut self, player: PlayerId) {
        self.kicked.push(player);
    }

    /// End the match after this tick's snapshot.
    pub fn end(&mut self) {
        self.ended = true;
    }
}

/// A seat reservation: give it to the player; their socket redeems it with
/// [`MatchHandle::join`], and again to rejoin after a drop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct SeatToken(pub String);

/// Why a seat could not be reserved or taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JoinError {
    /// Every seat is taken or reserved.
    #[error("match is full")]
    Full,
    /// The match is locked against new players.
    #[error("match is locked")]
    Locked,
    /// The game refused the player.
    #[error("refused: {0}")]
    Refused(String),
    /// No such seat token.
    #[error("invalid seat token")]
    InvalidToken,
    /// The reservation (or the reconnect window) expired.
    #[error("seat reservation expired")]
    Expired,
    /// The match has ended.
    #[error("match is over")]
    Disposed,
    /// The socket disconnected before it took the seat; a fresh reservation is freed, a
    /// dropped seat keeps its reconnect window.
    #[error("socket is disconnected")]
    Disconnected,
}

/// Per-match figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MatchMetrics {
    /// Ticks run.
    pub ticks: u64,
    /// Tick slots skipped because the actor fell behind.
    pub skipped: u64,
    /// Ticks whose work took longer than a period.
    pub overruns: u64,
    /// Median tick work time, microseconds (last 1024 ticks).
    pub tick_p50_us: u64,
    /// 99th percentile tick work time, microseconds (last 1024 ticks).
    pub tick_p99_us: u64,
    /// Worst lateness of a tick after its deadline, microseconds.
    pub max_lateness_us: u64,
    /// Players seated (connected or within the window).
    pub players: usize,
    /// Bytes of snapshot queued on the last tick (all members, all codecs).
    pub bytes_last_tick: usize,
    /// Inputs dropped because a player's queue was full.
    pub inputs_dropped: u64,
}

/// The inputs of `batch` to apply, in sequence order, skipping duplicates and sequences at
/// or below `last` (already applied); `last` advances to the newest applied.
fn new_inputs_in_order<I>(mut batch: Vec<(u32, I)>, last: &mut Option<u32>) -> Vec<(u32, I)> {
    batch.sort_by_key(|(seq, _)| *seq);
    let mut out = Vec::with_capacity(batch.len());
    for (seq, input) in batch {
        if last.is_some_and(|l| seq <= l) {
            continue;
        }
        *last = Some(seq);
        out.push((seq, input));
    }
    out
}

/// A player's inputs waiting for the next tick: the newest `cap`.
struct InputQueue<I> {
    items: VecDeque<(u32, I)>,
    cap: usize,
    dropped: u64,
}

impl<I> InputQueue<I> {
    fn push(&mut self, seq: u32, input: I) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((seq, input));
    }
}

enum SeatState {
    Reserved { expires: Instant },
    Connected { socket: Socket },
    Away { until: Instant },
}

struct Seat<I> {
    id: PlayerId,
    info: PlayerInfo,
    state: SeatState,
    inputs: Arc<Mutex<InputQueue<I>>>,
    last_seq: Option<u32>,
}

/// The actor of one match.
pub(crate) struct MatchActor<M: Match> {
    id: u64,
    config: MatchConfig,
    game: M,
    seats: HashMap<String, Seat<M::Input>>,
    next_player: PlayerId,
    locked: bool,
    clock: TickClock,
    timer: Option<SpawnHandle>,
    empty_since: Option<Instant>,
    metrics: MatchMetrics,
    durations: VecDeque<u64>,
    disposed: bool,
    /// Recently expired seat tokens (bounded), so a late join hears "expired".
    expired: VecDeque<String>,
}

impl<M: Match> std::fmt::Debug for MatchActor<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchActor").field("id", &self.id).finish()
    }
}

/// Spawns match actors.
#[derive(Debug)]
pub struct MatchRoom;

static NEXT_MATCH: AtomicU64 = AtomicU64::new(1);
static NEXT_ARBITER: AtomicUsize = AtomicUsize::new(0);
/// Worker arbiters by actix `System` (a process may run several, e.g. tests).
static ARBITERS: RwLock<Vec<(usize, std::thread::ThreadId, ArbiterHandle)>> =
    RwLock::new(Vec::new());
static REGISTRY: RwLock<Vec<(u64, Box<dyn LiveMatch>)>> = RwLock::new(Vec::new());

/// Make the current thread's arbiter one of those matches are spread over (once per
/// thread). The server registers each HTTP worker when it mounts.
pub fn register_current_arbiter() {
    let Some(arbiter) = Arbiter::try_current() else {
        return;
    };
    let Some(system) = actix::System::try_current().map(|s| s.id()) else {
        return;
    };
    let thread = std::thread::current().id();
    let mut arbiters = ARBITERS.write();
    if !arbiters.iter().any(|(_, t, _)| *t == thread) {
        arbiters.push((system, thread, arbiter));
    }
}

/// How many worker threads new matches are spread over in the current actix `System`
/// (0 before the server's workers have started: matches then run on the calling thread).
pub fn match_arbiter_count() -> usize {
    let system = actix::System::try_current().map(|s| s.id());
    ARBITERS
        .read()
        .iter()
        .filter(|(s, _, _)| Some(*s) == system)
        .count()
}

fn pick_arbiter() -> ArbiterHandle {
    let system = actix::System::try_current().map(|s| s.id());
    let arbiters: Vec<ArbiterHandle> = ARBITERS
        .read()
        .iter()
        .filter(|(s, _, _)| Some(*s) == system)
        .map(|(_, _, a)| a.clone())
        .collect();
    if arbiters.is_empty() {
        return Arbiter::current();
    }
    let n = NEXT_ARBITER.fetch_add(1, Ordering::Relaxed);
    arbiters[n % arbiters.len()].clone()
}

impl MatchRoom {
    /// Start a match on one of the worker arbiters (round-robin) and return its handle.
    pub fn spawn<M: Match>(config: MatchConfig, game: M) -> MatchHandle<M> {
        let id = NEXT_MATCH.fetch_add(1, Ordering::Relaxed);
        let arbiter = pick_arbiter();
        let addr = MatchActor::start_in_arbiter(&arbiter, move |_| MatchActor {
            id,
            clock: TickClock::new(Instant::now(), config.tick_rate.clamp(1, 120)),
            config,
            game,
            seats: HashMap::new(),
            next_player: 1,
            locked: false,
            timer: None,
            empty_since: Some(Instant::now()),
            metrics: MatchMetrics::default(),
            durations: VecDeque::with_capacity(1024),
            disposed: false,
            expired: VecDeque::new(),
        });
        let handle = MatchHandle { id, addr };
        REGISTRY.write().push((id, Box::new(handle.clone())));
        handle
    }
}

/// Ids and metrics of every live match.
pub async fn list_matches() -> Vec<(u64, MatchMetrics)> {
    let handles: Vec<(u64, Box<dyn LiveMatch>)> = REGISTRY
        .read()
        .iter()
        .map(|(id, h)| (*id, h.boxed_clone()))
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for (id, handle) in handles {
        if let Some(metrics) = handle.metrics_dyn().await {
            out.push((id, metrics));
        }
    }
    out
}

/// Dispose every live match (reason [`DisposeReason::ServerShutdown`]); call it from your
/// shutdown hook before stopping the server.
pub async fn shutdown_all() {
    let handles: Vec<Box<dyn LiveMatch>> = REGISTRY
        .read()
        .iter()
        .map(|(_, h)| h.boxed_clone())
        .collect();
    for handle in handles {
        handle.shutdown_dyn().await;
    }
}

/// Number of live matches in this process.
pub fn live_match_count() -> usize {
    REGISTRY.read().len()
}

trait LiveMatch: Send + Sync {
    fn boxed_clone(&self) -> Box<dyn LiveMatch>;
    fn metrics_dyn(&self) -> futures_util::future::BoxFuture<'static, Option<MatchMetrics>>;
    fn shutdown_dyn(&self) -> futures_util::future::BoxFuture<'static, ()>;
}

impl<M: Match> LiveMatch for MatchHandle<M> {
    fn boxed_clone(&self) -> Box<dyn LiveMatch> {
        Box::new(self.clone())
    }
    fn metrics_dyn(&self) -> futures_util::future::BoxFuture<'static, Option<MatchMetrics>> {
        let h = self.clone();
        Box::pin(async move { h.metrics().await })
    }
    fn shutdown_dyn(&self) -> futures_util::future::BoxFuture<'static, ()> {
        let h = self.clone();
        Box::pin(async move {
            let _ = h.addr.send(Stop(DisposeReason::ServerShutdown)).await;
        })
    }
}

/// The address of a running match.
pub struct MatchHandle<M: Match> {
    id: u64,
    addr: Addr<MatchActor<M>>,
}

impl<M: Match> Clone for MatchHandle<M> {
    fn clone(&self) -> Self {
        MatchHandle {
            id: self.id,
            addr: self.addr.clone(),
        }
    }
}

impl<M: Match> std::fmt::Debug for MatchHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatchHandle").field("id", &self.id).finish()
    }
}

impl<M: Match> MatchHandle<M> {
    /// The match's id (unique in this process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the match is still running.
    pub fn is_alive(&self) -> bool {
        self.addr.connected()
    }

    /// Reserve a seat for `player`: the token must be redeemed with [`MatchHandle::join`]
    /// within the reservation timeout.
    pub async fn reserve(&self, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        self.addr
            .send(Reserve(player))
            .await
            .unwrap_or(Err(JoinError::Disposed))
    }

    /// Seat `socket` with `token` (a fresh reservation, or a dropped seat within its
    /// reconnect window). From now on its input events feed the match and it receives the
    /// snapshots.
    pub async fn join(&self, token: &SeatToken, socket: &Socket) -> Result<PlayerId, JoinError> {
        self.addr
            .send(Join {
                token: token.0.clone(),
                socket: socket.clone(),
            })
            .await
            .unwrap_or(Err(JoinError::Disposed))
    }

    /// Remove the player holding `token`.
    pub async fn leave(&self, token: &SeatToken) {
        let _ = self.addr.send(Leave(token.0.clone())).await;
    }

    /// Lock (or unlock) the match against new reservations.
    pub async fn lock(&self, locked: bool) {
        let _ = self.addr.send(Lock(locked)).await;
    }

    /// Send an application signal to the match; returns its answer.
    pub async fn signal(&self, signal: Value) -> Option<Value> {
        self.addr.send(Signal(signal)).await.ok()
    }

    /// The game's state summary.
    pub async fn state(&self) -> Option<Value> {
        self.addr.send(QueryState).await.ok()
    }

    /// The match's figures.
    pub async fn metrics(&self) -> Option<MatchMetrics> {
        self.addr.send(QueryMetrics).await.ok()
    }

    /// Stop the match now (reason [`DisposeReason::Stopped`]).
    pub async fn stop(&self) {
        let _ = self.addr.send(Stop(DisposeReason::Stopped)).await;
    }
}

impl<M: Match> MatchActor<M> {
    fn context(&self) -> MatchContext {
        let mut players: Vec<PlayerId> = self
            .seats
            .values()
            .filter(|s| !matches!(s.state, SeatState::Reserved { .. }))
            .map(|s| s.id)
            .collect();
        players.sort_unstable();
        MatchContext {
            tick: self.metrics.ticks,
            players,
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
        self.expire_seats(now);
        let mut mctx = self.context();
        mctx.tick = tick.slot;
        // Inputs, per player in sequence order, newer than what was applied.
        let mut seats: Vec<&mut Seat<M::Input>> = self.seats.values_mut().collect();
        seats.sort_by_key(|s| s.id);
        for seat in seats {
            let batch: Vec<(u32, M::Input)> = {
                let mut q = seat.inputs.lock();
                self.metrics.inputs_dropped += std::mem::take(&mut q.dropped);
                q.items.drain(..).collect()
            };
            for (seq, input) in new_inputs_in_order(batch, &mut seat.last_seq) {
                self.game.on_input(&mut mctx, seat.id, seq, input);
            }
        }
        let snapshot = self.game.tick(&mut mctx, tick.dt);
        self.broadcast_snapshot(tick.slot, &snapshot);
        self.flush(&mut mctx);
        let work = now.elapsed();
        self.record(tick.lateness, tick.skipped, work);
        if mctx.ended {
            self.dispose(DisposeReason::Finished, ctx);
            return;
        }
        if self.is_empty() {
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

    fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    fn broadcast_snapshot(&mut self, tick: u64, snapshot: &M::Snapshot) {
        let mut acks: Vec<(PlayerId, u32)> = self
            .seats
            .values()
            .filter_map(|s| s.last_seq.map(|seq| (s.id, seq)))
            .collect();
        acks.sort_unstable();
        let shared = SnapshotEnvelope {
            tick,
            acks: &acks,
            state: snapshot,
        };
        let event = self.config.snapshot_event.as_str();
        let mut bytes = 0;
        let key = self.id;
        let mut nsps: Vec<String> = Vec::new();
        for seat in self.seats.values() {
            if let SeatState::Connected { socket } = &seat.state {
                if !nsps.iter().any(|n| n == socket.ns().name()) {
                    nsps.push(socket.ns().name().to_owned());
                }
            }
        }
        let envelope = self.config.envelope;
        let shared_value = if envelope {
            Wire::Envelope(&shared)
        } else {
            Wire::Bare(snapshot)
        };
        let mut encoders: Vec<EncodeOnce<'_, Wire<'_, M::Snapshot>>> = nsps
            .iter()
            .map(|nsp| EncodeOnce::new(nsp, event, &shared_value, None))
            .collect();
        for seat in self.seats.values() {
            let SeatState::Connected { socket } = &seat.state else {
                continue;
            };
            let codec = socket.codec();
            if let Some(view) = self.game.view(seat.id, snapshot) {
                let env = SnapshotEnvelope {
                    tick,
                    acks: &acks,
                    state: &view,
                };
                let value = if envelope {
                    Wire::Envelope(&env)
                } else {
                    Wire::Bare(&view)
                };
                let frames =
                    crate::codec::encode_event(codec, socket.ns().name(), event, &value, None);
                for frame in frames.into_iter().flatten() {
                    bytes += frame.len();
                    socket.send_latest(key, frame);
                }
                continue;
            }
            // The shared snapshot: the same bytes for every member of this codec (a
            // reference-count increment per member, no copy).
            let shared = nsps
                .iter()
                .position(|n| n == socket.ns().name())
                .and_then(|i| encoders.get_mut(i))
                .and_then(|enc| enc.frames(codec).ok());
            for frame in shared.into_iter().flatten() {
                bytes += frame.len();
                socket.send_latest(key, frame.clone());
            }
        }
        self.metrics.bytes_last_tick = bytes;
    }

    fn flush(&mut self, mctx: &mut MatchContext) {
        for outgoing in mctx.outgoing.drain(..) {
            match outgoing {
                Outgoing::To(player, event, encoded) => {
                    if let Some(socket) = self.socket_of(player) {
                        if let Some(frames) =
                            encoded.frames(socket.codec(), socket.ns().name(), &event)
                        {
                            let _ = socket.send_frames(&frames, Class::Reliable);
                        }
                    }
                }
                Outgoing::All(event, encoded) => {
                    let mut cache: Vec<(FramesKey, Option<Vec<crate::outbox::Frame>>)> = Vec::new();
                    for seat in self.seats.values() {
                        let SeatState::Connected { socket } = &seat.state else {
                            continue;
                        };
                        let key = (socket.codec(), socket.ns().name().to_owned());
                        let index = match cache.iter().position(|(k, _)| *k == key) {
                            Some(i) => i,
                            None => {
                                let frames = encoded.frames(key.0, &key.1, &event);
                                cache.push((key, frames));
                                cache.len() - 1
                            }
                        };
                        if let Some(frames) = &cache[index].1 {
                            let _ = socket.send_frames(frames, Class::Reliable);
                        }
                    }
                }
            }
        }
        for player in mctx.kicked.drain(..) {
            if let Some(token) = self.token_of(player) {
                self.remove_seat(&token, LeaveReason::Left);
            }
        }
    }

    fn socket_of(&self, player: PlayerId) -> Option<&Socket> {
        self.seats.values().find_map(|s| match &s.state {
            SeatState::Connected { socket } if s.id == player => Some(socket),
            _ => None,
        })
    }

    fn token_of(&self, player: PlayerId) -> Option<String> {
        self.seats
            .iter()
            .find(|(_, s)| s.id == player)
            .map(|(t, _)| t.clone())
    }

    fn remove_seat(&mut self, token: &str, reason: LeaveReason) {
        if let Some(seat) = self.seats.remove(token) {
            if let SeatState::Connected { socket } = &seat.state {
                socket.off(&self.config.input_event);
                socket.clear_disconnect_hook(self.id);
            }
            if !matches!(seat.state, SeatState::Reserved { .. }) {
                let mut mctx = self.context();
                self.game.on_leave(&mut mctx, seat.id, reason);
                self.flush(&mut mctx);
            }
        }
    }

    fn expire_seats(&mut self, now: Instant) {
        let expired: Vec<(String, bool)> = self
            .seats
            .iter()
            .filter_map(|(token, seat)| match seat.state {
                SeatState::Reserved { expires } if now >= expires => Some((token.clone(), false)),
                SeatState::Away { until } if now >= until => Some((token.clone(), true)),
                _ => None,
            })
            .collect();
        for (token, was_seated) in expired {
            if was_seated {
                self.remove_seat(&token, LeaveReason::TimedOut);
            } else {
                self.seats.remove(&token);
            }
            if self.expired.len() == 256 {
                self.expired.pop_front();
            }
            self.expired.push_back(token);
        }
    }

    fn record(&mut self, lateness: Duration, skipped: u64, work: Duration) {
        let m = &mut self.metrics;
        m.ticks += 1;
        m.skipped += skipped;
        if work > self.clock.period() {
            m.overruns += 1;
        }
        m.max_lateness_us = m.max_lateness_us.max(lateness.as_micros() as u64);
        if self.durations.len() == 1024 {
            self.durations.pop_front();
        }
        self.durations.push_back(work.as_micros() as u64);
        m.players = self
            .seats
            .values()
            .filter(|s| !matches!(s.state, SeatState::Reserved { .. }))
            .count();
    }

    fn metrics_now(&self) -> MatchMetrics {
        let mut sorted: Vec<u64> = self.durations.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| {
            if sorted.is_empty() {
                0
            } else {
                sorted[((sorted.len() - 1) as f64 * p).round() as usize]
            }
        };
        MatchMetrics {
            tick_p50_us: pct(0.5),
            tick_p99_us: pct(0.99),
            ..self.metrics.clone()
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
        for seat in self.seats.values() {
            if let SeatState::Connected { socket } = &seat.state {
                let _ = socket.emit("match-ended", &reason.as_str());
                socket.off(&self.config.input_event);
                socket.clear_disconnect_hook(self.id);
            }
        }
        self.seats.clear();
        let id = self.id;
        REGISTRY.write().retain(|(m, _)| *m != id);
        ctx.stop();
    }

    fn reserve(&mut self, player: PlayerInfo) -> Result<SeatToken, JoinError> {
        if self.disposed {
            return Err(JoinError::Disposed);
        }
        if self.locked {
            return Err(JoinError::Locked);
        }
        self.expire_seats(Instant::now());
        if self.seats.len() >= self.config.max_players {
            return Err(JoinError::Full);
        }
        self.game
            .join_attempt(&player)
            .map_err(JoinError::Refused)?;
        let token = tickwire_protocol::engineio::handshake::sid_from_entropy(rand::random());
        let id = self.next_player;
        self.next_player += 1;
        self.seats.insert(
            token.clone(),
            Seat {
                id,
                info: player,
                state: SeatState::Reserved {
                    expires: Instant::now() + self.config.reservation_timeout,
                },
                inputs: Arc::new(Mutex::new(InputQueue {
                    items: VecDeque::new(),
                    cap: self.config.input_queue.max(1),
                    dropped: 0,
                })),
                last_seq: None,
            },
        );
        self.empty_since = None;
        Ok(SeatToken(token))
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
        let now = Instant::now();
        self.expire_seats(now);
        let Some(seat) = self.seats.get_mut(&token) else {
            if self.expired.contains(&token) {
                return Err(JoinError::Expired);
            }
            return Err(JoinError::InvalidToken);
        };
        if !socket.connected() {
            if matches!(seat.state, SeatState::Reserved { .. }) {
                self.seats.remove(&token);
            }
            return Err(JoinError::Disconnected);
        }
        let addr = (self.id, ctx.address());
        if !wire_socket::<M>(
            &socket,
            &self.config,
            seat.inputs.clone(),
            addr,
            token.clone(),
        ) {
            // It went while being seated: as above.
            if matches!(seat.state, SeatState::Reserved { .. }) {
                self.seats.remove(&token);
            }
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
        let player = seat.id;
        let info = seat.info.clone();
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
        let Some(seat) = self.seats.get_mut(token) else {
            return;
        };
        match &seat.state {
            SeatState::Connected { socket: current } if current == socket => {}
            _ => return,
        }
        seat.state = SeatState::Away {
            until: Instant::now() + window,
        };
        let player = seat.id;
        let mut mctx = self.context();
        self.game
            .on_leave(&mut mctx, player, LeaveReason::Disconnected);
        self.flush(&mut mctx);
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

/// Reserve a seat. `send().await` from [`MatchHandle::reserve`].
#[derive(Message)]
#[rtype(result = "Result<SeatToken, JoinError>")]
struct Reserve(PlayerInfo);
handler!(Reserve, Result<SeatToken, JoinError>, |act, msg, _ctx| act.reserve(msg.0));

/// Redeem a seat token. `send().await` from [`MatchHandle::join`].
#[derive(Message)]
#[rtype(result = "Result<PlayerId, JoinError>")]
struct Join {
    token: String,
    socket: Socket,
}
handler!(Join, Result<PlayerId, JoinError>, |act, msg, ctx| act.join(msg.token, msg.socket, ctx));

/// A seated socket disconnected. `do_send` from the socket's disconnect handler: once per
/// socket.
#[derive(Message)]
#[rtype(result = "()")]
struct Dropped {
    token: String,
    socket: Socket,
}
handler!(Dropped, (), |act, msg, _ctx| act
    .dropped(&msg.token, &msg.socket));

/// Remove a player. `send().await` from [`MatchHandle::leave`].
#[derive(Message)]
#[rtype(result = "()")]
struct Leave(String);
handler!(Leave, (), |act, msg, _ctx| act
    .remove_seat(&msg.0, LeaveReason::Left));

/// Lock or unlock. `send().await`.
#[derive(Message)]
#[rtype(result = "()")]
struct Lock(bool);
handler!(Lock, (), |act, msg, _ctx| act.locked = msg.0);

/// An application signal. `send().await`.
#[derive(Message)]
#[rtype(result = "Value")]
struct Signal(Value);
handler!(Signal, actix::MessageResult<Signal>, |act, msg, _ctx| {
    let mut mctx = act.context();
    let answer = act.game.on_signal(&mut mctx, msg.0);
    act.flush(&mut mctx);
    actix::MessageResult(answer)
});

/// The game's state summary. `send().await`.
#[derive(Message)]
#[rtype(result = "Value")]
struct QueryState;
handler!(
    QueryState,
    actix::MessageResult<QueryState>,
    |act, _msg, _ctx| actix::MessageResult(act.game.state())
);

/// The match's figures. `send().await`.
#[derive(Message)]
#[rtype(result = "MatchMetrics")]
struct QueryMetrics;
handler!(
    QueryMetrics,
    actix::MessageResult<QueryMetrics>,
    |act, _msg, _ctx| actix::MessageResult(act.metrics_now())
);

/// Stop the match. `send().await`.
#[derive(Message)]
#[rtype(result = "()")]
struct Stop(DisposeReason);
handler!(Stop, (), |act, msg, ctx| act.dispose(msg.0, ctx));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_apply_in_sequence_order_without_duplicates_or_stale_ones() {
        let mut last = None;
        let first = new_inputs_in_order(vec![(3, 'c'), (1, 'a'), (2, 'b'), (2, 'B')], &mut last);
        assert_eq!(first, vec![(1, 'a'), (2, 'b'), (3, 'c')]);
        assert_eq!(last, Some(3));
        // A retry of 3 and a late 2 are ignored; 4 and 6 apply (gaps are fine).
        let second = new_inputs_in_order(vec![(6, 'f'), (3, 'c'), (2, 'b'), (4, 'd')], &mut last);
        assert_eq!(second, vec![(4, 'd'), (6, 'f')]);
        assert_eq!(last, Some(6));
        assert!(new_inputs_in_order(Vec::<(u32, char)>::new(), &mut last).is_empty());
    }

    #[test]
    fn a_detached_context_records_what_callbacks_did() {
        let mut ctx = MatchContext::detached(7, vec![1, 2]);
        assert_eq!((ctx.tick(), ctx.players()), (7, &[1, 2][..]));
        ctx.emit_to(2, "hit", 10);
        ctx.broadcast("round", "over");
        ctx.kick(1);
        ctx.end();
        let emitted = ctx.emitted();
        assert_eq!(emitted[0], (Some(2), "hit", &Value::from(10)));
        assert_eq!(emitted[1], (None, "round", &Value::from("over")));
        assert_eq!(ctx.kicked(), &[1]);
        assert!(ctx.ended());
    }

    #[test]
    fn input_queue_keeps_the_newest() {
        let mut q = InputQueue {
            items: VecDeque::new(),
            cap: 3,
            dropped: 0,
        };
        for seq in 1..=5 {
            q.push(seq, ());
        }
        let seqs: Vec<u32> = q.items.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(q.dropped, 2);
    }
}
