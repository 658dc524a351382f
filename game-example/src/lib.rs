//! Arena: a top-down multiplayer shooter on tickwire, and the proof that the runtime's API
//! is pleasant to build a game with.
//!
//! - [`game`]: the rules as pure functions (`step(state, inputs, dt)`), and the bot AI;
//! - [`match_glue`]: the rules as a tickwire [`Match`](tickwire::Match);
//! - [`events`]: the socket events (queue, join, leave, spectate), thin handlers;
//! - [`lobby`]: matchmaking and seats, on one node or across a game cluster on Redis
//!   (`--redis URL`: one queue for every node, seats and spectators through any node);
//! - [`server`]: the page (embedded), Socket.IO, `/metrics`, `/status`, graceful stop (a
//!   drain in a cluster);
//! - [`headless`]: a minimal websocket Socket.IO client and the load bots that use it;
//! - [`wire`]: the payloads of the events (fixed serde shapes, compact-codec ready).
//!
//! Run it with `cargo run --release -p game-example` and open the printed URL in two tabs.

pub mod events;
pub mod game;
pub mod headless;
pub mod lobby;
pub mod match_glue;
mod ops;
pub mod server;
pub mod wire;

pub use server::{start, RunningServer, ServerOptions};
