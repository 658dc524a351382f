//! Who takes a seat: a socket on this node, or a socket on another node of the cluster
//! (whose node forwards its inputs here and delivers what the match sends it).

use std::sync::Arc;

use crate::socketio::{Codec, Socket, SocketId};

/// A socket on another node, seated in a match on this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteMember {
    /// The node the socket is connected to.
    pub(crate) node: u64,
    pub(crate) socket: SocketId,
    /// Its namespace (the match's frames are encoded for it).
    pub(crate) nsp: Arc<str>,
    pub(crate) codec: Codec,
}

/// The occupant of a seat.
#[derive(Debug, Clone)]
pub(crate) enum Member {
    Local(Socket),
    Remote(RemoteMember),
}

impl Member {
    pub(crate) fn codec(&self) -> Codec {
        match self {
            Member::Local(socket) => socket.codec(),
            Member::Remote(remote) => remote.codec,
        }
    }

    pub(crate) fn nsp(&self) -> &str {
        match self {
            Member::Local(socket) => socket.ns().name(),
            Member::Remote(remote) => &remote.nsp,
        }
    }

    /// Whether both are the same socket.
    pub(crate) fn same(&self, other: &Member) -> bool {
        match (self, other) {
            (Member::Local(a), Member::Local(b)) => a == b,
            (Member::Remote(a), Member::Remote(b)) => a.node == b.node && a.socket == b.socket,
            _ => false,
        }
    }
}

/// The latest-class key of a match's snapshots: distinct for matches of different nodes
/// that a socket may see side by side.
pub(crate) fn latest_key(node: u64, id: u64) -> u64 {
    node.rotate_left(29) ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_matches_of_different_nodes_differ() {
        assert_ne!(latest_key(1, 7), latest_key(2, 7));
        assert_ne!(latest_key(1, 7), latest_key(1, 8));
        assert_eq!(latest_key(3, 9), latest_key(3, 9));
    }
}
