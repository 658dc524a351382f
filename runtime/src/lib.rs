//! tickwire: an embedded, actor-model realtime runtime for multiplayer game servers that
//! speaks Socket.IO (Engine.IO v4 + Socket.IO v5), so every Socket.IO client connects to it.
//!
//! Mount a [`SocketIo`] into an actix-web `App`, declare namespaces, write handlers:
//!
//! ```no_run
//! use actix_web::{App, HttpServer};
//! use tickwire::{Data, SocketIo};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let io = SocketIo::builder().build();
//!     io.ns("/", |socket| {
//!         socket.on("join", |socket, Data(room): Data<String>, ack| async move {
//!             socket.join(room.clone());
//!             socket.to(room).emit("joined", &socket.id()).ok();
//!             ack.send(&"ok").ok();
//!         });
//!     });
//!     HttpServer::new(move || App::new().configure(io.service()))
//!         .bind(("127.0.0.1", 3000))?
//!         .run()
//!         .await
//! }
//! ```
//!
//! [`Server`] serves the same app with the websockets of a [`SocketIo`] taken off the HTTP
//! dispatcher: tickwire owns each socket after the upgrade (a few KiB per idle connection,
//! one task and one `write` per batch of frames). With a [`TlsConfig`] it serves HTTPS and
//! WSS (rustls, from PEM files) and reloads its certificate without dropping a connection.
//!
//! ## A complete match
//!
//! Matchmaking code spawns one actor per match ([`MatchRoom::spawn`], or a [`Matchmaker`]);
//! the match ticks at N Hz on absolute deadlines, applies player inputs in sequence order and
//! sends every player a snapshot each tick (encoded once per codec, coalesced for lagging
//! clients), with the last input it applied per player for client-side reconciliation:
//!
//! ```no_run
#![doc = include_str!("../examples/match_room.rs")]
//! ```
//!
//! ## Codecs
//!
//! Each connection picks its codec at the handshake: Socket.IO JSON by default, or the
//! compact binary codec with the query parameter `codec=compact` (postcard payloads, one
//! binary frame per packet; specified in `tickwire_protocol::compact`). Both kinds of client
//! share namespaces, rooms and matches; typed emits reach both, and a broadcast is encoded at
//! most once per codec present.
//!
//! ## Scale-out
//!
//! A [`cluster`] adapter makes broadcasts, room operations, broadcast acks, remote sockets
//! and server-side events span every node: [`cluster::LocalCluster`] between servers in one
//! process, and with the `redis` feature `cluster::RedisAdapter` on Redis pub/sub and
//! `cluster::RedisStreamsAdapter` on a Redis stream (one order for the cluster, connection
//! state recovery through any node, nothing lost across Redis blips). Given the address the
//! other nodes reach it at (`advertise`), a node forwards polling requests and websocket
//! upgrades for another node's session there, so no balancer needs sticky sessions.
//!
//! ## The layers
//!
//! One module per layer, each with a page of its own; dependencies point one way (a test
//! checks it):
//!
//! - [`engine`]: Engine.IO sessions (one connection actor each), the polling and websocket
//!   transports, the bounded outbox, and [`Server`]. It knows no namespace: it reaches the
//!   layer above through one narrow interface.
//! - [`socketio`]: namespaces, sockets, the room index, broadcasts, acks, recovery, payloads
//!   and the two codecs, on top of the engine.
//! - [`game`]: the [`Match`] trait, matches on a fixed tick, seats, inputs, snapshots and the
//!   matchmaker, on top of the Socket.IO layer's API.
//! - [`cluster`]: the adapters and their buses, behind the Socket.IO layer's adapter trait.
//! - `auth` (feature `auth`): signed session tokens, checked by a connect middleware,
//!   renewed over the socket and revoked across the cluster, on top of the Socket.IO layer.
//!
//! [`Config`] holds every limit of every layer; the wire formats and protocol state machines
//! live in the sans-IO [`tickwire_protocol`] crate, and the Rust client in `tickwire-client`.
//! No state is process-wide: matches, worker threads, counters and shutdown belong to a
//! [`SocketIo`], so two servers in one process are independent.
//!
//! ## What is an actor
//!
//! Each of these is an actix actor with a bounded mailbox ([`Config`] lists every limit):
//!
//! - the **connection**, one per Engine.IO session whatever its transport, with a bounded
//!   outbound queue beside its mailbox;
//! - a namespace's **admission** actor, started only for a namespace that has connect
//!   middleware ([`Namespace::use_middleware`]): its mailbox bounds a connect storm and the
//!   middlewares run concurrently in it. A namespace without middleware admits inline, on the
//!   connection's thread, with no hop;
//! - each **match** ([`MatchRoom::spawn`]);
//! - each **matchmaker** ([`Matchmaker::spawn`]).
//!
//! A session opened on a websocket of [`Server`] runs that websocket in its connection
//! actor's own task (framing, reads handed to the actor as they arrive, writes from the
//! outbound queue): one task per connection, and no mailbox hop per message. An upgrade's
//! probe, and a websocket inside a plain `actix_web::HttpServer`, read into the connection's
//! mailbox from a task of their own. Socket.IO rooms are not actors: each namespace keeps one
//! index of its rooms and their members. So [`Socket::join`] is synchronous and a broadcast
//! right after a join reaches the new member; `to(a).to(b)` deduplicates the members in one
//! pass over the index; and a broadcast's fan-out puts the encoded frames straight into each
//! member's outbound queue, with no mailbox hop.
//!
#[cfg(feature = "auth")]
pub mod auth;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_support;
pub mod cluster;
mod config;
pub mod engine;
pub mod game;
mod link;
pub mod socketio;

/// The tests' own `redis-server` (shared with the integration tests).
#[cfg(all(test, feature = "redis"))]
#[allow(dead_code)]
#[path = "../tests/support/redis.rs"]
mod test_redis;

#[doc(no_inline)]
pub use config::Config;
#[doc(no_inline)]
pub use engine::{Server, TlsConfig, TlsError};
#[doc(no_inline)]
pub use game::{
    Assignment, DisposeReason, JoinError, LeaveReason, Match, MatchConfig, MatchContext,
    MatchHandle, MatchMetrics, MatchRoom, Matchmaker, MatchmakerConfig, MatchmakingError, PlayerId,
    PlayerInfo, SeatToken, SnapshotEnvelope, Tick, TickClock, Ticket,
};
#[doc(no_inline)]
pub use socketio::{
    AckError, AckSender, BroadcastOperator, Codec, ConnectError, Data, DisconnectReason,
    DynamicNamespace, FromPayload, Handshake, Namespace, Payload, RecoveryConfig, SendError,
    ServerStats, Socket, SocketId, SocketIo, SocketIoBuilder, VolatileEmitter,
};
pub use tickwire_protocol as protocol;
