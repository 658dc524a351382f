//! The Socket.IO layer: namespaces, sockets, rooms, broadcasts, acks, recovery, payloads and
//! the two codecs, on top of the engine.
//!
//! - A [`SocketIo`] server holds its namespaces ([`SocketIo::ns`], [`SocketIo::dynamic_ns`]).
//!   A client joins a namespace with a CONNECT packet: the namespace's middlewares run (on
//!   its admission actor, only when it has middleware), then its connect handler, which
//!   registers the [`Socket`]'s event handlers before the client hears it is connected.
//! - Rooms are an index per namespace, not actors: `join` is immediate, a broadcast right
//!   after a join reaches the new member, `to(a).to(b)` deduplicates in one pass, and
//!   fan-out takes no mailbox hop ([`BroadcastOperator`]).
//! - Every emit is encoded at most once per codec among its targets ([`Codec`]): Socket.IO
//!   JSON, or the compact binary codec a client may choose at its handshake.
//! - Connection state recovery ([`RecoveryConfig`]) gives a dropped client its id, rooms
//!   and missed broadcasts back, or a fresh session, never a gap.
//! - With an adapter (see [`crate::cluster`]), every operation spans the nodes of a cluster.
//!
//! The engine is reached through one narrow interface: this layer is the engine's upper
//! (each Engine.IO session gets a Socket.IO session handler), and writes through the
//! session's handle. It never names a transport, and never names the cluster's buses.

mod ack;
mod adapter;
mod admission;
mod broadcast;
mod builder;
mod by_name;
mod codec;
mod compact;
mod dedupe;
mod disconnect;
mod error;
mod extensions;
mod handshake;
mod metrics;
mod namespace;
mod payload;
mod recovery;
mod registry;
mod remote_socket;
mod rooms;
mod server;
mod session;
mod shared_recovery;
mod socket;

pub use ack::AckSender;
pub use broadcast::BroadcastOperator;
pub use builder::SocketIoBuilder;
pub use dedupe::DedupeStats;
pub use disconnect::DisconnectReason;
pub use error::{AckError, ConnectError, SendError};
pub use handshake::Handshake;
pub use namespace::Namespace;
pub use payload::{Data, FromPayload, Payload};
pub use recovery::RecoveryConfig;
pub use remote_socket::RemoteSocket;
pub use server::{DynamicNamespace, ServerStats, SocketIo};
pub(crate) use socket::ErasedHandler;
pub use socket::{Socket, SocketId, VolatileEmitter};
pub use tickwire_protocol::Codec;

#[cfg(feature = "redis")]
pub(crate) use crate::engine::cost as frames_cost;
/// The cluster's readers apply what they read at once under one cork: one write per socket.
#[cfg(feature = "redis")]
pub(crate) use crate::engine::Cork;
pub(crate) use crate::engine::{Frame, SessionRoutes};
pub(crate) use adapter::{Adapter, EncodedBroadcast, SocketDescription, Targets};
#[cfg(feature = "redis")]
pub(crate) use codec::with_json_offset;
pub(crate) use codec::{encode_event, encode_payload_event, EncodeCounters, EncodeOnce};
pub(crate) use registry::Namespaces;
pub(crate) use shared_recovery::SharedRecovery;
#[cfg(feature = "redis")]
pub(crate) use shared_recovery::{ResumeGuard, SessionRecord, SharedRestore, SharedRestored};
