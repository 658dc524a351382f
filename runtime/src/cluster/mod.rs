//! Scale-out: one Socket.IO server spread over several processes ("nodes").
//!
//! Every node delivers a broadcast to its own sockets, then publishes it on a bus that all
//! nodes read; each of the others delivers it to its own sockets. What travels is the
//! broadcast's targets (`to`, `except`, the excluded sender), its flags (`volatile`) and its
//! frames, already encoded at the origin, once per codec: no node encodes it again. Room
//! operations (`sockets_join`, `sockets_leave`) and `disconnect_sockets` travel the same way.
//! A broadcast made with [`BroadcastOperator::local`](crate::BroadcastOperator::local) stays
//! on its node.
//!
//! A broadcast `emit_with_ack` is a request: each other node emits to its targets with its
//! own ack ids, waits for their answers within the timeout, and sends the results back to
//! the asking node on that node's own channel; the asker waits for as many replies as the bus
//! counts other nodes (or the timeout and a grace period), so the aggregate holds one result
//! per target on every node.
//!
//! The bus is a real distributed engine: Redis pub/sub (`RedisAdapter`, feature `redis`).
//! [`LocalCluster`] carries the same messages between servers in one process (tests, and a
//! single process that runs several servers).
//! Pub/sub delivers at most once and in publishing order per node, as Socket.IO's own Redis
//! adapter does. Sockets, rooms and connection state recovery stay per node: a recovering
//! client gets back what its node logged, remote broadcasts included.
//!
//! `RedisAdapterBuilder::node_compatible` makes a node speak the dialect of Node's
//! `@socket.io/redis-adapter` instead, so it joins a cluster of Node `socket.io` servers.
//! That dialect ships packets as JSON-shaped objects that every node encodes again, so it
//! cannot carry compact frames; the native one exists for that, and to encode once.
//!
//! No sticky sessions: with `advertise("http://host:port")` on either Redis adapter's builder,
//! a node registers its address in Redis (`node_registry`, a key per node with a heartbeat
//! TTL) and hands the Socket.IO layer, which hands the engine, the routes to the other nodes'
//! sessions: each Engine.IO session id names its node, and a polling request or websocket
//! upgrade that lands on another node is forwarded there.
//!
//! Files: [`message`](self) (what travels), `node` (the adapter the Socket.IO layer calls),
//! `apply` (messages from other nodes, applied here), `bus` (what carries them),
//! `node_registry` (advertised addresses), `local`,
//! `redis_pubsub` and `node_dialect` (the buses). The Socket.IO layer sees none of them: it
//! calls its adapter trait, which [`ClusterNode`](self) implements.

mod apply;
mod bus;
mod local;
mod message;
mod node;
#[cfg(feature = "redis")]
mod node_dialect;
#[cfg(feature = "redis")]
mod node_registry;
#[cfg(feature = "redis")]
mod redis_pubsub;
#[cfg(feature = "redis")]
mod redis_streams;
#[cfg(feature = "redis")]
mod stream_entry;
#[cfg(feature = "redis")]
mod stream_log;
#[cfg(feature = "redis")]
mod stream_session;

pub use crate::socketio::RemoteSocket;
pub use local::{AlreadyAttached, LocalCluster};
#[cfg(feature = "redis")]
pub use redis_pubsub::{RedisAdapter, RedisAdapterBuilder, RedisAdapterError};
#[cfg(feature = "redis")]
pub use redis_streams::{RedisStreamsAdapter, RedisStreamsAdapterBuilder};
