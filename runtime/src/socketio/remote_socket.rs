//! [`RemoteSocket`]: a socket on any node of the cluster, with actions that reach it.

use serde::Serialize;

use super::adapter::SocketDescription;
use super::error::SendError;
use super::namespace::Namespace;
use super::socket::{Socket, SocketId};

/// A socket on any node of the cluster, as
/// [`BroadcastOperator::fetch_remote_sockets`](crate::BroadcastOperator::fetch_remote_sockets)
/// describes it: what its node told, and actions that reach it wherever it is (they travel
/// as broadcasts to its own room).
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    ns: Namespace,
    node: u64,
    id: SocketId,
    rooms: Vec<String>,
    query: Vec<(String, String)>,
    auth: serde_json::Value,
    address: Option<String>,
}

impl RemoteSocket {
    pub(crate) fn new(ns: Namespace, node: u64, socket: SocketDescription) -> RemoteSocket {
        RemoteSocket {
            ns,
            node,
            id: SocketId::from(socket.id),
            rooms: socket.rooms,
            query: socket.query,
            auth: serde_json::from_str(&socket.auth).unwrap_or_default(),
            address: socket.address,
        }
    }

    pub(crate) fn local(socket: &Socket, node: u64) -> RemoteSocket {
        RemoteSocket::new(socket.ns().clone(), node, SocketDescription::of(socket))
    }

    /// The socket id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the node the socket is connected to.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// Its rooms when it was described (its own room included).
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// The query parameters of its connection's handshake.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The CONNECT packet's auth payload.
    pub fn auth(&self) -> &serde_json::Value {
        &self.auth
    }

    /// The peer address, when its node knew it.
    pub fn address(&self) -> Option<&str> {
        self.address.as_deref()
    }

    /// Emit `event` to this socket, wherever it is.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        self.ns.to(self.id.to_string()).emit(event, data)
    }

    /// Make this socket join `room`.
    pub fn join(&self, room: impl Into<String>) {
        self.ns.to(self.id.to_string()).sockets_join(room);
    }

    /// Make this socket leave `room`.
    pub fn leave(&self, room: &str) {
        self.ns.to(self.id.to_string()).sockets_leave(room);
    }

    /// Disconnect this socket (and close its connection with `close`).
    pub fn disconnect(&self, close: bool) {
        self.ns.to(self.id.to_string()).disconnect_sockets(close);
    }
}
