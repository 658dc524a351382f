//! [`MatchLink`]: how a match reaches members seated from other nodes. The game layer knows
//! no bus: a cluster gives the registry a link, and the matches of that registry deliver
//! through it.

use crate::socketio::{Codec, Frame, SocketId};

/// What a match sends to members on another node.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // read by the cluster
pub(crate) enum Delivery<'a> {
    /// This tick's snapshot, in the latest class under `key`: `members` of namespace `nsp`
    /// each get the frames of their codec.
    Latest {
        key: u64,
        nsp: &'a str,
        json: Option<&'a [Frame]>,
        compact: Option<&'a [Frame]>,
        members: &'a [(SocketId, Codec)],
    },
    /// Frames for one member, in order with the others (its events).
    Reliable {
        nsp: &'a str,
        member: &'a SocketId,
        frames: &'a [Frame],
    },
    /// The member no longer holds a seat of this match: its node stops forwarding for it.
    Released {
        nsp: &'a str,
        member: &'a SocketId,
        match_id: u64,
    },
}

/// The way out to the other nodes of a cluster.
pub(crate) trait MatchLink: Send + Sync + 'static {
    /// This node's id in the cluster.
    fn node_id(&self) -> u64;

    /// Hand `delivery` to `node` (never waits: a full link drops it, counted).
    fn deliver(&self, node: u64, delivery: Delivery<'_>);
}
