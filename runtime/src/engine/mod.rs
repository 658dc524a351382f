//! The engine layer: Engine.IO v4 sessions over HTTP long-polling and websockets.
//!
//! One connection actor per session, whatever its transport, drives the
//! sans-IO session of [`tickwire_protocol::engineio`] (heartbeats, upgrade, close). Its
//! transports carry frames both ways: the polling handlers, and the websockets (run by the
//! actor's own task when the session opened on one of [`Server`]'s, else in a task of their
//! own that reads into the actor's mailbox).
//! Outbound frames never pass through a mailbox: every session has a bounded outbox that any
//! thread pushes to and its transport drains, with one byte budget over classes of frames
//! (see [`Config`](crate::Config) for every limit).
//!
//! The engine knows no namespace. What a session's messages mean is up to the protocol
//! above it, reached through one narrow interface: an `Upper` opens a `SessionHandler` per
//! session, and talks back through the session's handle (queue frames, send it a message of
//! its own, close it). Socket.IO ([`crate::socketio`]) is that upper.
//!
//! [`Server`] is the HTTP server that takes the websockets of a [`crate::SocketIo`] off
//! actix-web's HTTP dispatcher, so that an idle websocket holds no buffer at all; with a
//! [`TlsConfig`] it serves HTTPS and WSS (rustls), and reloads its certificate live.
//!
//! Dependencies point down only: this layer uses the protocol crate and the shared
//! [`Config`](crate::Config), never the layers above.

mod caps;
mod connection;
mod cork;
mod echo;
#[cfg(feature = "redis")]
mod forward;
mod handle;
mod headers;
mod http;
mod limiter;
mod metrics;
mod outbox;
mod pairs;
mod polling;
mod query;
#[cfg(feature = "redis")]
mod relay;
mod routes;
mod server;
mod sessions;
mod tls;
mod upper;
mod websocket;

pub use headers::Headers;
pub use query::Query;
pub use server::Server;
pub use tls::{TlsConfig, TlsError};

#[cfg(feature = "redis")]
pub(crate) use cork::Cork;
pub(crate) use echo::Echo;
pub(crate) use handle::ConnHandle;
pub(crate) use http::configure;
pub(crate) use metrics::{label, EngineMetrics, Label};
pub(crate) use outbox::{cost, Class, Frame};
pub(crate) use routes::SessionRoutes;
pub(crate) use sessions::Engine;
#[cfg(feature = "redis")]
pub(crate) use sessions::FirstWorker;
pub(crate) use tickwire_protocol::Codec;
pub(crate) use upper::{
    AfterUpcall, CloseCause, LocalFuture, ProtocolViolation, RequestInfo, SessionHandler, Upper,
};

#[cfg(feature = "bench-internals")]
pub(crate) use outbox::Outbox;
