//! The game itself, as pure rules: no actix, no sockets, no clock.
//!
//! - [`state`]: the match's state and the wire types (fixed serde shapes);
//! - [`rules`]: `step(state, inputs, dt)` and the movement the browser mirrors;
//! - [`bots`]: the AI that drives bot seats and headless load bots;
//! - [`delta`]: the change from one snapshot to another, and its inverse (delta snapshots).

pub mod bots;
pub mod delta;
pub mod rules;
pub mod state;

pub use rules::step;
pub use state::{GameState, Input, Snapshot};
