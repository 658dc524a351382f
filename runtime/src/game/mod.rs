//! The game layer: matches that own their state and run on a fixed tick, and a matchmaker.
//!
//! Matchmaking code spawns one actor per match on a server ([`MatchRoom::spawn`], or a
//! [`Matchmaker`]); the match ticks at N Hz on absolute deadlines ([`TickClock`]), applies
//! player inputs in sequence order, and sends every player a snapshot each tick, encoded
//! once per codec and coalesced for lagging clients, with the last input it applied per
//! player for client-side reconciliation ([`SnapshotEnvelope`]). Clients acknowledge the
//! newest tick they applied with their inputs; a match may send each player the change from
//! that tick instead of the whole snapshot ([`Match::deltas`], [`DeltaEnvelope`]), and a
//! player who rejoins its seat gets the newest full snapshot at once.
//!
//! The game's rules are the [`Match`] trait's callbacks; what they may do is on the
//! [`MatchContext`]. Players hold seats ([`SeatToken`]) with a reservation timeout and a
//! reconnect window; a match disposes itself when empty, finished or stopped, and ends with
//! its server ([`SocketIo::shutdown`](crate::SocketIo::shutdown)).
//!
//! Matches belong to their server: they are listed per server ([`MatchRoom::list`]), spread
//! over its worker threads, and counted in its metrics. This layer uses only the Socket.IO
//! layer ([`crate::socketio`]): sockets, their events, their frames.

#[cfg(feature = "redis")]
pub mod cluster;
mod config;
mod context;
mod delta;
mod frames;
mod handle;
mod history;
mod inputs;
mod link;
mod match_actor;
mod match_trait;
mod matchmaker;
mod member;
mod metrics;
mod registry;
mod seats;
mod snapshot;
mod tick;
mod tick_ack;

pub use config::MatchConfig;
pub use context::MatchContext;
pub use delta::{DeltaEnvelope, Deltas, SnapshotDelta};
pub use handle::{MatchHandle, MatchRoom};
pub use match_trait::{DisposeReason, LeaveReason, Match, PlayerId, PlayerInfo};
pub use matchmaker::{Assignment, Matchmaker, MatchmakerConfig, MatchmakingError, Ticket};
pub use metrics::MatchMetrics;
pub use seats::{JoinError, SeatToken};
pub use snapshot::SnapshotEnvelope;
pub use tick::{Tick, TickClock};
