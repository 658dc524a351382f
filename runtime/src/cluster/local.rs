//! [`LocalCluster`]: a cluster of servers in one process, on an in-process bus. The same
//! messages as over Redis, encoded the same way, each node reading its own bounded queue.

use std::sync::{Arc, Weak};

use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::bus::{Bus, ClusterCounters};
use super::message::Message;
use super::node::ClusterNode;
use crate::socketio::{SendError, SocketIo};

/// Messages one node's queue holds; past it, a publish fails (`queue_full`).
const QUEUE: usize = 8192;

/// A cluster of servers in one process: attach each [`SocketIo`], and broadcasts, room
/// operations, acks, remote sockets and server-side events span them all, as with Redis.
///
/// ```no_run
/// # async fn run() {
/// let (a, b) = (tickwire::SocketIo::builder().build(), tickwire::SocketIo::builder().build());
/// let cluster = tickwire::cluster::LocalCluster::new();
/// cluster.attach(&a).unwrap();
/// cluster.attach(&b).unwrap();
/// a.emit("news", &"reaches the sockets of both").ok();
/// # }
/// ```
///
/// Each attached server reads its queue on a task of the runtime `attach` is called on.
#[derive(Clone, Default)]
pub struct LocalCluster {
    members: Arc<RwLock<Vec<Member>>>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("nodes", &self.members.read().len())
            .finish()
    }
}

struct Member {
    node: u64,
    tx: mpsc::Sender<Arc<[u8]>>,
}

/// The server already has a cluster adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this server already has a cluster adapter")]
pub struct AlreadyAttached;

impl LocalCluster {
    /// An empty cluster.
    pub fn new() -> LocalCluster {
        LocalCluster::default()
    }

    /// Make `io` a node of this cluster. Must be called within a tokio runtime (an actix
    /// `System` is one): the node reads its messages on a task of it.
    pub fn attach(&self, io: &SocketIo) -> Result<(), AlreadyAttached> {
        if io.has_adapter() {
            return Err(AlreadyAttached);
        }
        let id: u64 = rand::random();
        let counters = Arc::new(ClusterCounters::default());
        let bus = LocalBus {
            node: id,
            members: Arc::downgrade(&self.members),
            counters: counters.clone(),
        };
        let node = ClusterNode::new(id, Arc::new(bus), counters);
        if !io.attach_adapter(node.clone()) {
            return Err(AlreadyAttached);
        }
        let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(QUEUE);
        self.members.write().push(Member { node: id, tx });
        let namespaces = Arc::downgrade(&io.inner.namespaces);
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                let Some(namespaces) = namespaces.upgrade() else {
                    return;
                };
                super::apply::apply(&namespaces, &node, &bytes);
            }
        });
        Ok(())
    }
}

/// One node's side of the in-process bus.
struct LocalBus {
    node: u64,
    members: Weak<RwLock<Vec<Member>>>,
    counters: Arc<ClusterCounters>,
}

impl Bus for LocalBus {
    fn publish(&self, to: Option<u64>, message: &Message) -> Result<(), SendError> {
        let Some(members) = self.members.upgrade() else {
            return Err(SendError::Cluster("the cluster is gone".to_owned()));
        };
        // Encoded once, the same bytes queued for every other node.
        let bytes: Arc<[u8]> = message.encode()?.into();
        let mut full = false;
        for member in members.read().iter() {
            let addressed = to.is_none_or(|node| node == member.node);
            if member.node == self.node || !addressed {
                continue;
            }
            if member.tx.try_send(bytes.clone()).is_err() {
                full = true;
            }
        }
        if full {
            ClusterCounters::add(&self.counters.queue_full, 1);
            return Err(SendError::Cluster(
                "a node's queue is full; it misses this message".to_owned(),
            ));
        }
        Ok(())
    }

    fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
        let count = self.members.upgrade().map_or(0, |m| m.read().len());
        Box::pin(async move { Ok(count) })
    }
}
