//! The payloads of the socket events besides inputs and snapshots (see [`crate::events`]).
//!
//! Fixed serde shapes only (no maps, no untagged enums, no `serde_json::Value`): the compact
//! codec encodes payloads with postcard, which is not self-describing.
//!
//! Match ids are strings: on one node a match's id there (`"7"`), in a cluster the
//! cluster's [`MatchRef`](tickwire::game::cluster::MatchRef) (`"<node, 16 hex digits>-<id>"`,
//! e.g. `"3f2a09c1d4e5b677-7"`). Clients treat them as opaque.

use serde::{Deserialize, Serialize};

use crate::game::delta::StateDelta;
use crate::game::state::{Arena, Snapshot, Tuning};

/// `queue`: put me in the matchmaking queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRequest {
    /// Display name (trimmed to 16 characters).
    pub name: String,
}

/// `matched` (server → client): your seat is reserved; redeem it with `join-match`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matched {
    /// The seat token.
    pub token: String,
    /// The match (see the module's note on ids).
    pub match_id: String,
    /// Seats of the group filled by server-side bots.
    pub bots: u32,
}

/// `queue-error` (server → client): matchmaking failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueError {
    /// What went wrong.
    pub message: String,
}

/// `join-match`: take the reserved seat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The token from `matched`.
    pub token: String,
}

/// `spectate`: watch a running match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectateRequest {
    /// The match to watch (an id from `matches`).
    pub match_id: String,
}

/// The ack of `join-match` and `spectate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinReply {
    /// Why the seat was refused, when it was.
    pub error: Option<String>,
    /// The seat, when taken.
    pub joined: Option<Joined>,
}

impl JoinReply {
    /// A refusal.
    pub fn refused(error: impl Into<String>) -> JoinReply {
        JoinReply {
            error: Some(error.into()),
            joined: None,
        }
    }
}

/// A seat taken: who you are and the world you play in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// Your player number (the `id` in snapshots and `acks`).
    pub player: u32,
    /// The match (see the module's note on ids).
    pub match_id: String,
    /// Watching only: inputs are ignored.
    pub spectator: bool,
    /// Snapshots per second.
    pub tick_rate: u32,
    /// The field (the browser's prediction uses it).
    pub arena: Arena,
    /// The rules' numbers (the browser's prediction uses them).
    pub tuning: Tuning,
}

/// One running match, for the lobby's list (ack of `matches`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchSummary {
    /// The match (see the module's note on ids).
    pub id: String,
    /// Its phase (see [`crate::game::state`]).
    pub phase: u8,
    /// Seconds left in the phase.
    pub time_left: f32,
    /// Players, best first.
    pub players: Vec<ScoreLine>,
    /// Spectators watching.
    pub spectators: u32,
}

/// A player's line on a scoreboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreLine {
    /// Player number.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Points.
    pub score: u32,
    /// A bot.
    pub bot: bool,
}

/// The runtime's snapshot envelope as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMsg {
    /// The tick's slot number.
    pub tick: u64,
    /// `(player, last input sequence applied)` for every seated player.
    pub acks: Vec<(u32, u32)>,
    /// The game's snapshot.
    pub state: Snapshot,
}

/// The runtime's delta envelope as a client reads it (`state-delta`): the change from
/// `base`, a tick this client acknowledged, to `tick`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaMsg {
    /// The tick this delta brings the client to.
    pub tick: u64,
    /// The tick it is a change from.
    pub base: u64,
    /// `(player, last input sequence applied)` for every seated player.
    pub acks: Vec<(u32, u32)>,
    /// The game's delta.
    pub delta: StateDelta,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::state::{Input, Kill, PlayerView, ProjectileView, RosterEntry};

    /// Postcard is not self-describing: every payload must round-trip through it as well as
    /// through JSON.
    fn both_ways<T>(value: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = postcard::to_allocvec(value).unwrap();
        assert_eq!(&postcard::from_bytes::<T>(&bytes).unwrap(), value);
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), value);
    }

    #[test]
    fn payloads_round_trip_through_postcard_and_json() {
        let snapshot = Snapshot {
            phase: 1,
            time_left: 42.5,
            players: vec![PlayerView {
                id: 1,
                x: 10.5,
                y: 20.25,
                angle: -1.5,
                hp: 75,
                score: 3,
                kills: 1,
                deaths: 0,
                alive: true,
            }],
            projectiles: vec![ProjectileView {
                id: 9,
                x: 1.0,
                y: 2.0,
            }],
            kills: vec![Kill {
                killer: 1,
                victim: 1000,
            }],
            roster: Some(vec![RosterEntry {
                id: 1,
                name: "Ada".into(),
                bot: false,
            }]),
        };
        let mut moved = snapshot.clone();
        moved.players[0].x += 1.0;
        moved.projectiles.clear();
        both_ways(&DeltaMsg {
            tick: 78,
            base: 77,
            acks: vec![(1, 13)],
            delta: crate::game::delta::diff(&snapshot, &moved),
        });
        both_ways(&SnapshotMsg {
            tick: 77,
            acks: vec![(1, 12)],
            state: snapshot,
        });
        both_ways(&(
            7u32,
            Input {
                dx: -1,
                dy: 1,
                aim: 0.5,
                fire: true,
                ms: 16,
            },
        ));
        both_ways(&QueueRequest { name: "Ada".into() });
        both_ways(&Matched {
            token: "tok".into(),
            match_id: "3f2a09c1d4e5b677-3".into(),
            bots: 2,
        });
        both_ways(&JoinReply::refused("nope"));
        both_ways(&JoinReply {
            error: None,
            joined: Some(Joined {
                player: 2,
                match_id: "3".into(),
                spectator: false,
                tick_rate: 30,
                arena: Arena::standard(),
                tuning: Tuning::default(),
            }),
        });
        both_ways(&SpectateRequest {
            match_id: "3f2a09c1d4e5b677-3".into(),
        });
        both_ways(&MatchSummary {
            id: "3".into(),
            phase: 0,
            time_left: 1.0,
            players: vec![ScoreLine {
                id: 1,
                name: "Ada".into(),
                score: 4,
                bot: true,
            }],
            spectators: 1,
        });
    }
}
