//! Plumbing the layers that span nodes share: the counters of a bus, the requests awaiting
//! other nodes' replies, and (feature `redis`) Redis connections: a bounded, pipelined
//! publisher, and subscriptions whose unread backlog is bounded and that come back with
//! backoff when Redis goes away; and what the buses carry as bytes (frames, payloads,
//! versioned messages). Below the Socket.IO layer (it uses the engine's frames only): the
//! Socket.IO cluster adapter and the game's cluster both build on it.

mod awaiting;
mod counters;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub(crate) mod subscription;
pub(crate) mod wire;

pub(crate) use awaiting::Awaiting;
pub(crate) use counters::BusCounters;
