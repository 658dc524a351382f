//! The [`Match`] trait: a game's rules as callbacks of its match, and the types they see.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::context::MatchContext;
use super::delta::{Deltas, SnapshotDelta};

/// A player's number within a match.
pub type PlayerId = u32;

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
    /// [`MatchHandle::stop`](super::MatchHandle::stop) was called.
    Stopped,
    /// The server is shutting down ([`SocketIo::shutdown`](crate::SocketIo::shutdown)).
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
///
/// # On the wire
///
/// - Players send inputs as the input event
///   ([`MatchConfig::input_event`](super::MatchConfig::input_event)) with `[seq, input]`, or
///   `[seq, input, tick]` to also acknowledge `tick`, the newest snapshot the client applied
///   (a full one or a delta). The match keeps each player's newest acknowledged tick; one
///   that was not sent yet (a future or huge number), is older than the one kept (a duplicate
///   or a retry), predates the player's current connection, or is not a tick number at all is
///   ignored, and the input counts all the same.
/// - Every tick, each connected player gets the snapshot
///   ([`MatchConfig::snapshot_event`](super::MatchConfig::snapshot_event), a
///   [`SnapshotEnvelope`](super::SnapshotEnvelope)), or, for a match that sends deltas
///   ([`Match::deltas`]), a change from the player's acknowledged tick
///   ([`Deltas::event`], a [`DeltaEnvelope`](super::DeltaEnvelope)).
/// - A player who rejoins its seat (within the reconnect window, through any node of a
///   cluster) gets the newest full snapshot at once, before its join completes, then every
///   tick from there: never an older one. It gets full snapshots until it acknowledges a tick
///   of its new connection.
pub trait Match: Send + Unpin + 'static {
    /// What a player sends each input event (after its sequence number, before the tick it
    /// may acknowledge).
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

    /// Send delta snapshots: keep the last [`Deltas::history`] snapshots and send each player
    /// the change from its acknowledged tick ([`Match::delta`]). Read once, when the match
    /// starts; `None` (the default) sends full snapshots only, keeps only the newest (for
    /// rejoins), and never calls [`Match::delta`].
    fn deltas(&self) -> Option<Deltas> {
        None
    }

    /// The change from `base`, the snapshot of a tick some players acknowledged, to
    /// `current`, this tick's ([`SnapshotDelta::new`] of any serializable value). Called once
    /// per tick for each distinct base among the players (with [`Match::deltas`] only); the
    /// players of that base share the encoded bytes. `None` (the default) sends them the full
    /// snapshot. A player with a view of its own ([`Match::view`]) always gets its full view.
    fn delta(&self, _base: &Self::Snapshot, _current: &Self::Snapshot) -> Option<SnapshotDelta> {
        None
    }

    /// An application signal from [`MatchHandle::signal`](super::MatchHandle::signal); the answer goes back.
    fn on_signal(&mut self, _ctx: &mut MatchContext, _signal: Value) -> Value {
        Value::Null
    }

    /// A summary of the state for [`MatchHandle::state`](super::MatchHandle::state).
    fn state(&self) -> Value {
        Value::Null
    }

    /// The match ends; last chance to persist results.
    fn on_dispose(&mut self, _reason: DisposeReason) {}
}
