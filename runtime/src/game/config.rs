//! [`MatchConfig`]: how a match runs (tick rate, seats, timeouts, events).

use std::time::Duration;

/// How a match runs.
#[derive(Debug, Clone)]
pub struct MatchConfig {
    /// Ticks per second (1–120; default 30). The first tick comes within one period of the
    /// spawn, at a phase that spreads the matches of a worker thread over the period, so
    /// that matches spawned together do not all tick at once.
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
    /// The event players send inputs with, as `[seq, input]`, or `[seq, input, tick]` to
    /// acknowledge the newest tick the client applied (default `input`; see
    /// [`Match`](super::Match#on-the-wire)). Compact clients send the postcard encoding of
    /// `(seq, input)` or `(seq, input, tick)` (`u32`, the input, `u64`).
    pub input_event: String,
    /// Wrap snapshots as `{"tick", "acks", "state"}` (default). Without it the snapshot is
    /// sent bare, for games that do not reconcile predictions.
    pub envelope: bool,
    /// What the match is listed as (in a cluster's match directory, which can be filtered
    /// by it); empty by default.
    pub label: String,
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
            label: String::new(),
        }
    }
}
