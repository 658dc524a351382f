//! The [`Match`] trait: a game's rules as callbacks of its match, and the types they see.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::context::MatchContext;

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
