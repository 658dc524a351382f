//! Matches across the nodes of a cluster, on Redis (feature `redis`).
//!
//! A [`GameCluster`] makes a server one node of a game cluster. Then:
//!
//! - [`ClusterMatchmaker`]: one queue per mode for the whole cluster, in Redis and updated
//!   atomically; groups form across nodes, exactly one node takes each, and the least
//!   loaded node that is not draining hosts its match (among nodes about as loaded, the
//!   one most of the group's players are connected to).
//! - Cross-node seats: a socket on one node sits in a match on another. Its inputs travel
//!   to the match's node (bounded per player, applied in sequence order, duplicates
//!   skipped, as for local players); the snapshots come back encoded once per codec at the
//!   match's node and are delivered in the latest class, so a lagging link gets the newest
//!   snapshot, never a backlog. A match whose players are all on its node takes no bus hop.
//! - Seat tokens name their match, so a dropped player rejoins through any node within the
//!   reconnect window ([`GameCluster::join`]); spectating a remote match is a seat too.
//! - The match directory: every node lists its matches (with their label, players and
//!   game summary) beside its heartbeat; [`GameCluster::directory`] reads the cluster's.
//! - Node loss: each node keeps a heartbeat key with a TTL. When one lapses, the players of
//!   its matches on the other nodes get `match-ended` with reason `node lost` (within twice
//!   the TTL), the groups it was to host go back to their queue with their places, its own
//!   tickets leave the queue, and its directory entries lapse with it.
//! - Graceful drain ([`GameCluster::drain`]): no new match, matches run to their end within
//!   the grace, then the clients are disconnected so the balancer sends them elsewhere.
//!
//! What travels: on each node's own pub/sub channel, postcard messages (spawn a group, a
//! seat assigned, requests to a match and their replies, inputs, drops, snapshots and
//! events for remote members). Queues, tickets, heartbeats and the directory are Redis keys
//! under the cluster's prefix.

mod matchmaker;
mod node;
mod placement;
mod queue;
mod remote_seats;
mod wire;

pub use matchmaker::{ClusterAssignment, ClusterMatchmaker};
pub use node::{
    GameCluster, GameClusterBuilder, GameClusterError, MatchEntry, MatchRef, MAX_LISTED_STATE,
};
pub use placement::NodeLoad;
