//! Headless players over a real websocket: the load bots of `--bots N` and the players of
//! the in-process tests. They use the runtime's Rust client (`tickwire-client`), in either
//! codec, and the same AI as the server's bot seats.
//!
//! The client runs handlers on its driver task; [`HeadlessPlayer`] turns them into a bounded
//! queue of events the bot awaits in order. When the queue is full, new events are dropped
//! and counted (snapshots are "latest" data anyway; the bot sees the next one).
//!
//! Players acknowledge the newest tick they applied with each input (`[seq, input, tick]`),
//! so the match sends them delta snapshots, which they apply to the state of the delta's base
//! ([`tickwire_client::Ticks`], [`crate::game::delta::apply`]); a delta whose base they no
//! longer keep is skipped until the next full snapshot. Spectators send no inputs: they get
//! full snapshots.
//!
//! Like the page, each player first gets a guest token (`POST /token`) and connects with it;
//! a task renews it over the socket (`tw:renew`) when two thirds of its life have passed, for
//! as long as the player lives.

use std::collections::VecDeque;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tickwire::Codec;
use tickwire_client::{Client, RawPayload, Reconnect, Ticks};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::game::bots::{BotBrain, BotView};
use crate::game::delta::apply;
use crate::game::state::{Arena, Input, Snapshot, PHASE_OVER, PHASE_PLAYING};
use crate::match_glue::{DELTA_EVENT, INPUT_EVENT, SNAPSHOT_EVENT};
use crate::wire::{
    DeltaMsg, JoinReply, JoinRequest, Joined, Matched, QueueError, QueueRequest, SnapshotMsg,
};

/// Events queued per player before new ones are dropped.
const EVENT_QUEUE: usize = 1024;

/// States kept by tick as delta bases (more than a match keeps at any tick rate up to 128).
const KEEP_STATES: usize = 40;

/// The last states applied that a [`MatchOutcome`] keeps.
pub const RECENT_STATES: usize = 64;

/// A guest token, as `POST /token` and `tw:renew` answer.
#[derive(Debug, Clone, serde::Deserialize)]
struct GuestToken {
    token: String,
    /// Seconds since the epoch.
    exp: u64,
}

/// Get a guest token from the game at `base`.
async fn guest_token(base: &str) -> anyhow::Result<GuestToken> {
    let url = format!("{}/token", base.trim_end_matches('/'));
    let mut response = awc::Client::default()
        .post(&url)
        .send()
        .await
        .map_err(|e| anyhow!("POST {url}: {e}"))?;
    if !response.status().is_success() {
        bail!("POST {url}: HTTP {}", response.status());
    }
    response
        .json::<GuestToken>()
        .await
        .map_err(|e| anyhow!("POST {url}: {e}"))
}

/// Renew the token over `client` when two thirds of the time left have passed, again and
/// again (a failed renewal is retried each second until the token expires).
async fn keep_renewed(client: Client, mut exp: u64) {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    };
    let mut wait = Duration::from_secs(exp).saturating_sub(now()) * 2 / 3;
    loop {
        tokio::time::sleep(wait).await;
        if client.is_closed() {
            return;
        }
        let renewed: Result<GuestToken, _> = client
            .emit_with_ack(tickwire::auth::RENEW_EVENT, &(), Duration::from_secs(5))
            .await;
        match renewed {
            Ok(token) => {
                exp = token.exp;
                wait = Duration::from_secs(exp).saturating_sub(now()) * 2 / 3;
            }
            Err(e) if Duration::from_secs(exp) > now() => {
                tracing::debug!(error = %e, "token renewal failed; retrying");
                wait = Duration::from_secs(1);
            }
            Err(_) => return,
        }
    }
}

/// One headless connection to namespace `/`, with its events in a queue.
#[derive(Debug)]
pub struct HeadlessPlayer {
    client: Client,
    events: mpsc::Receiver<(String, RawPayload)>,
    dropped: Arc<AtomicU64>,
    renewal: JoinHandle<()>,
}

impl Drop for HeadlessPlayer {
    fn drop(&mut self) {
        // The task holds a handle to the client: without it the client closes on drop.
        self.renewal.abort();
    }
}

impl HeadlessPlayer {
    /// Connect to the game at `base` (`http://host:port`) in `codec` with a guest token of
    /// its own, without automatic reconnection (the load bot reconnects itself, from the
    /// queue).
    pub async fn connect(base: &str, codec: Codec) -> anyhow::Result<HeadlessPlayer> {
        let token = guest_token(base).await?;
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        let client = Client::builder(base.trim_end_matches('/'))
            .codec(codec)
            .reconnect(Reconnect::disabled())
            .connect_timeout(Duration::from_secs(10))
            .auth(serde_json::json!({ "token": token.token }))
            .on_any(move |_client, event, payload, _ack| {
                if tx.try_send((event.to_owned(), payload)).is_err() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .connect()
            .await
            .with_context(|| format!("connect to {base}"))?;
        let renewal = tokio::spawn(keep_renewed(client.clone(), token.exp));
        Ok(HeadlessPlayer {
            client,
            events,
            dropped,
            renewal,
        })
    }

    /// The codec this player speaks.
    pub fn codec(&self) -> Codec {
        self.client.codec()
    }

    /// Emit `event` with one argument.
    pub fn emit(&self, event: &str, data: &(impl Serialize + ?Sized)) -> anyhow::Result<()> {
        self.client
            .emit(event, data)
            .with_context(|| format!("emit {event}"))
    }

    /// Emit `event` with one argument and wait (at most `timeout`) for the ack.
    pub async fn call<T: DeserializeOwned>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
        timeout: Duration,
    ) -> anyhow::Result<T> {
        self.client
            .emit_with_ack(event, data, timeout)
            .await
            .with_context(|| format!("ack of {event}"))
    }

    /// The next event from the server (`None` once the queue is closed).
    pub async fn next_event(&mut self) -> Option<(String, RawPayload)> {
        self.events.recv().await
    }

    /// Events dropped because the queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Leave: disconnect and wait for the connection to close.
    pub async fn close(self) {
        self.client.disconnect();
        self.client.closed().await;
    }
}

/// How one match went, from a headless player's side.
#[derive(Debug, Clone)]
pub struct MatchOutcome {
    /// The seat it played.
    pub joined: Joined,
    /// The last snapshot of the round (the scoreboard), if it saw the round end.
    pub final_snapshot: Option<Snapshot>,
    /// States applied: full snapshots and deltas.
    pub snapshots: u64,
    /// Of those, the deltas.
    pub deltas: u64,
    /// Deltas skipped: their base was no longer kept (or they were not newer).
    pub deltas_skipped: u64,
    /// The last [`RECENT_STATES`] states applied: `(tick, from a delta, state)`.
    pub recent: VecDeque<(u64, bool, Snapshot)>,
    /// Inputs sent.
    pub inputs: u32,
    /// The highest input sequence the server acknowledged for this player.
    pub last_ack: Option<u32>,
    /// The reason given by `match-ended`, if it came.
    pub ended: Option<String>,
}

/// Queue as `name`, wait for a match (at most `queue_timeout`) and take the seat.
pub async fn queue_and_join(
    player: &mut HeadlessPlayer,
    name: &str,
    queue_timeout: Duration,
) -> anyhow::Result<Joined> {
    let matched = queue(player, name, queue_timeout).await?;
    take_seat(player, &matched.token).await
}

/// Queue as `name` and wait (at most `queue_timeout`) for `matched`: the seat's token and
/// match, not yet taken.
pub async fn queue(
    player: &mut HeadlessPlayer,
    name: &str,
    queue_timeout: Duration,
) -> anyhow::Result<Matched> {
    player.emit(
        "queue",
        &QueueRequest {
            name: name.to_owned(),
        },
    )?;
    loop {
        let wait = tokio::time::timeout(queue_timeout, player.next_event());
        match wait.await {
            Err(_) => bail!("not matched within {queue_timeout:?}"),
            Ok(None) => bail!("disconnected while queued"),
            Ok(Some((event, payload))) if event == "matched" => {
                return Ok(payload.deserialize::<Matched>()?);
            }
            Ok(Some((event, payload))) if event == "queue-error" => {
                let error = payload.deserialize::<QueueError>()?;
                bail!("queue error: {}", error.message);
            }
            Ok(Some(_)) => {}
        }
    }
}

/// Take the seat of `token` (`join-match`): the first time, or again after a drop (in a
/// cluster, through any node).
pub async fn take_seat(player: &HeadlessPlayer, token: &str) -> anyhow::Result<Joined> {
    let reply: JoinReply = player
        .call(
            "join-match",
            &JoinRequest {
                token: token.to_owned(),
            },
            Duration::from_secs(10),
        )
        .await?;
    match (reply.joined, reply.error) {
        (Some(joined), _) => Ok(joined),
        (None, error) => bail!("join refused: {}", error.unwrap_or_default()),
    }
}

/// Play the joined match to its end with the bot AI (one input per snapshot; spectators
/// only watch). `timeout` bounds the match.
pub async fn play_until_end(
    player: &mut HeadlessPlayer,
    joined: Joined,
    seed: u64,
    timeout: Duration,
) -> anyhow::Result<MatchOutcome> {
    let arena = joined.arena.clone();
    let mut outcome = MatchOutcome {
        joined,
        final_snapshot: None,
        snapshots: 0,
        deltas: 0,
        deltas_skipped: 0,
        recent: VecDeque::with_capacity(RECENT_STATES),
        inputs: 0,
        last_ack: None,
        ended: None,
    };
    let mut brain = BotBrain::new(seed);
    let mut ticks: Ticks<Snapshot> = Ticks::new(KEEP_STATES);
    let play = async {
        while let Some((event, payload)) = player.next_event().await {
            if event == "match-ended" {
                outcome.ended = Some(payload.deserialize::<String>()?);
                return Ok(());
            }
            let (tick, acks, from_delta) = if event == SNAPSHOT_EVENT {
                let msg: SnapshotMsg = payload.deserialize()?;
                (
                    ticks.full(msg.tick, msg.state).then_some(msg.tick),
                    msg.acks,
                    false,
                )
            } else if event == DELTA_EVENT {
                let msg: DeltaMsg = payload.deserialize()?;
                let applied = ticks.delta(msg.tick, msg.base, msg.delta, |base, d| apply(base, &d));
                outcome.deltas_skipped += u64::from(!applied);
                (applied.then_some(msg.tick), msg.acks, true)
            } else {
                continue;
            };
            let Some((tick, state)) = tick.and_then(|tick| Some((tick, ticks.get(tick)?))) else {
                continue;
            };
            outcome.snapshots += 1;
            outcome.deltas += u64::from(from_delta);
            if outcome.recent.len() == RECENT_STATES {
                outcome.recent.pop_front();
            }
            outcome.recent.push_back((tick, from_delta, state.clone()));
            let me = outcome.joined.player;
            if let Some(&(_, seq)) = acks.iter().find(|(p, _)| *p == me) {
                outcome.last_ack = Some(seq);
            }
            if state.phase == PHASE_OVER {
                outcome.final_snapshot = Some(state.clone());
                continue;
            }
            if outcome.joined.spectator {
                continue;
            }
            let dt = 1.0 / f64::from(outcome.joined.tick_rate.max(1));
            if let Some(input) = decide(&mut brain, state, me, &arena, dt) {
                outcome.inputs += 1;
                player.emit(INPUT_EVENT, &ticks.input(outcome.inputs, &input))?;
            }
        }
        bail!("disconnected during the match")
    };
    tokio::time::timeout(timeout, play)
        .await
        .map_err(|_| anyhow!("match not over within {timeout:?}"))??;
    Ok(outcome)
}

/// The bot's input for one snapshot (`None` when its player is not on the field).
fn decide(
    brain: &mut BotBrain,
    snapshot: &Snapshot,
    me: u32,
    arena: &Arena,
    dt: f64,
) -> Option<Input> {
    let mine = snapshot.players.iter().find(|p| p.id == me && p.alive)?;
    let view = BotView {
        me: (f64::from(mine.x), f64::from(mine.y)),
        enemies: snapshot
            .players
            .iter()
            .filter(|p| p.alive && p.id != me)
            .map(|p| (f64::from(p.x), f64::from(p.y)))
            .collect(),
        arena,
        can_shoot: snapshot.phase == PHASE_PLAYING,
    };
    Some(brain.think(&view, dt))
}

/// A load bot: connect to `base` in `codec`, play match after match as `name`, reconnect
/// after errors. Runs until its task is dropped.
pub async fn run_load_bot(base: String, name: String, seed: u64, codec: Codec) {
    let mut round = 0u64;
    loop {
        let result: anyhow::Result<()> = async {
            let mut player = HeadlessPlayer::connect(&base, codec).await?;
            loop {
                round += 1;
                let seed = seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let hour = Duration::from_secs(3600);
                let joined = queue_and_join(&mut player, &name, hour).await?;
                play_until_end(&mut player, joined, seed, hour).await?;
            }
        }
        .await;
        if let Err(error) = result {
            tracing::info!(bot = %name, error = %format!("{error:#}"), "load bot reconnecting in 2 s");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
