//! The fixed set of payload types the compact golden vectors use: a game's tick snapshot, a
//! player's input, and a tuple. The JS test (`protocol/js/test/compact.test.mjs`) declares the
//! same types with the JS module's schema helpers.

use serde::{Deserialize, Serialize};

/// One player in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Player {
    pub(crate) id: u32,
    pub(crate) x: f32,
    pub(crate) y: f32,
    /// The last input sequence number the server applied for this player.
    pub(crate) last_input_seq: u32,
    pub(crate) hp: u8,
}

/// The state of a match after one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) tick: u64,
    pub(crate) players: Vec<Player>,
}

/// One input from a player.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Input {
    pub(crate) seq: u32,
    pub(crate) dx: i32,
    pub(crate) dy: i32,
    pub(crate) buttons: u16,
    pub(crate) aim: Option<f32>,
}

/// A tuple payload: `(target, delta, at, critical)`.
pub(crate) type Hit = (u32, i64, f64, bool);
