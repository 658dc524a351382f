//! [`Bus`]: the sending half of what carries messages between nodes (in-process, Redis
//! pub/sub, Node's dialect), and the counters of what it carried.

use futures_util::future::BoxFuture;

use super::message::Message;
use crate::socketio::SendError;

/// Where a node publishes: the sending half of a bus. Publishing never waits: a bus has a
/// bounded queue and refuses when it is full.
pub(crate) trait Bus: Send + Sync + 'static {
    /// Publish to every node (`to: None`) or to one node's own channel.
    fn publish(&self, to: Option<u64>, message: &Message) -> Result<(), SendError>;
    /// How many nodes answer requests for namespace `nsp` now, this one included.
    fn node_count(&self, nsp: &str) -> BoxFuture<'static, Result<usize, String>>;
    /// A namespace was declared or created on this node after the bus was attached.
    fn namespace_added(&self, _nsp: &str) {}
    /// A namespace created on demand was removed from this node.
    fn namespace_removed(&self, _nsp: &str) {}
}

pub(crate) use crate::link::BusCounters as ClusterCounters;
