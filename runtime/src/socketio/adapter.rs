//! The adapter: how Socket.IO reaches the other nodes of a cluster.
//!
//! A server on its own has no adapter: every operation stays on its node. Attaching one (see
//! [`crate::cluster`]) makes broadcasts, room operations, disconnects, broadcast acks,
//! remote-socket fetches and server-side events span every node. This layer only calls the
//! [`Adapter`] trait; which bus carries the operations (an in-process one, Redis pub/sub,
//! Node's dialect) is the adapter's business.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::error::{AckError, SendError};
use super::payload::Payload;
use super::shared_recovery::SharedRecovery;
use super::socket::{Socket, SocketId};
use crate::engine::{Frame, SessionRoutes};

/// The sockets an operation is for: members of `rooms` (every socket when empty), minus
/// members of `except` and the socket `except_sid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Targets {
    pub(crate) rooms: Vec<String>,
    pub(crate) except: Vec<String>,
    pub(crate) except_sid: Option<SocketId>,
}

/// A socket as its node describes it to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SocketDescription {
    pub(crate) id: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    /// The CONNECT auth payload, as JSON text.
    pub(crate) auth: String,
    pub(crate) address: Option<String>,
}

impl SocketDescription {
    pub(crate) fn of(socket: &Socket) -> SocketDescription {
        let handshake = socket.handshake();
        SocketDescription {
            id: socket.id().to_owned(),
            rooms: socket.rooms(),
            query: handshake.query.to_vec(),
            auth: handshake.auth.to_string(),
            address: handshake.address.map(|a| a.to_string()),
        }
    }
}

/// A broadcast's frames, encoded once at the origin for each codec (a codec without frames
/// is skipped): JSON frames carry no recovery offset, each node adds its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncodedBroadcast<'a> {
    pub(crate) volatile: bool,
    pub(crate) json: Option<&'a [Frame]>,
    pub(crate) compact: Option<&'a [Frame]>,
}

/// What the Socket.IO layer asks of the other nodes. Publishing never blocks: an adapter
/// queues within a bound and refuses past it ([`SendError::Cluster`]); requests wait at most
/// their timeout (and a grace for the replies' transit).
pub(crate) trait Adapter: Send + Sync + 'static {
    /// This node's id in the cluster.
    fn node_id(&self) -> u64;

    /// Deliver `broadcast` to the targets of namespace `nsp` on the other nodes.
    fn broadcast(
        &self,
        nsp: &str,
        targets: &Targets,
        broadcast: EncodedBroadcast<'_>,
    ) -> Result<(), SendError>;

    /// Make the targets on the other nodes join `room`.
    fn sockets_join(&self, nsp: &str, targets: &Targets, room: &str) -> Result<(), SendError>;

    /// Make the targets on the other nodes leave `room`.
    fn sockets_leave(&self, nsp: &str, targets: &Targets, room: &str) -> Result<(), SendError>;

    /// Disconnect the targets on the other nodes (and close their connections with `close`).
    fn disconnect_sockets(
        &self,
        nsp: &str,
        targets: &Targets,
        close: bool,
    ) -> Result<(), SendError>;

    /// Hand `event` to the other nodes' server-side handlers of `nsp`.
    fn server_side_emit(&self, nsp: &str, event: &str, payload: &Payload) -> Result<(), SendError>;

    /// Emit to the targets on the other nodes and collect one result per target.
    fn emit_with_ack(
        &self,
        nsp: &str,
        targets: &Targets,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<(SocketId, Result<Payload, AckError>)>>;

    /// The targets on the other nodes, as each describes them, with its node id.
    fn fetch_sockets(
        &self,
        nsp: &str,
        targets: &Targets,
        timeout: Duration,
    ) -> BoxFuture<'static, Vec<(u64, SocketDescription)>>;

    /// A namespace was declared or created on this node.
    fn namespace_added(&self, _nsp: &str) {}

    /// A namespace created on demand was removed from this node.
    fn namespace_removed(&self, _nsp: &str) {}

    /// Messages by outcome (`published`, `received`, ...) for the metrics.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// Connection state recovery kept by the bus for every node, when the adapter keeps
    /// one: sessions and offsets are then the cluster's, and the namespaces' own logs stay
    /// unused.
    fn shared_recovery(&self) -> Option<Arc<dyn SharedRecovery>> {
        None
    }

    /// Whether the adapter delivers this node's own broadcasts to this node's sockets (in
    /// the order of a log every node reads, so that every node delivers in one order):
    /// then a broadcast is only handed to the adapter.
    fn delivers_locally(&self) -> bool {
        false
    }

    /// Where the Engine.IO sessions of the other nodes live, when the adapter keeps a node
    /// registry: the engine then tags this node's session ids and forwards requests for
    /// other nodes' sessions to their owners (no sticky sessions needed).
    fn session_routes(&self) -> Option<Arc<dyn SessionRoutes>> {
        None
    }
}

/// A server's place for its adapter, shared by all its namespaces; empty on a single node.
#[derive(Default)]
pub(crate) struct AdapterSlot {
    adapter: OnceLock<Arc<dyn Adapter>>,
}

impl AdapterSlot {
    /// Attach `adapter`; false when one is already attached.
    pub(crate) fn attach(&self, adapter: Arc<dyn Adapter>) -> bool {
        self.adapter.set(adapter).is_ok()
    }

    /// The adapter, when one is attached.
    pub(crate) fn get(&self) -> Option<&Arc<dyn Adapter>> {
        self.adapter.get()
    }

    /// Whether operations span other nodes.
    pub(crate) fn is_attached(&self) -> bool {
        self.adapter.get().is_some()
    }

    /// This node's id (0 on a single node).
    pub(crate) fn node_id(&self) -> u64 {
        self.adapter.get().map_or(0, |a| a.node_id())
    }
}
