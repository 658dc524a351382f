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
//! Pub/sub delivers at most once and in publishing order per node, as Socket.IO's own Redis
//! adapter does. Sockets, rooms and connection state recovery stay per node: a recovering
//! client gets back what its node logged, remote broadcasts included.
//!
//! `RedisAdapterBuilder::node_compatible` makes a node speak the dialect of Node's
//! `@socket.io/redis-adapter` instead, so it joins a cluster of Node `socket.io` servers.
//! That dialect ships packets as JSON-shaped objects that every node encodes again, so it
//! cannot carry compact frames; the native one exists for that, and to encode once.

#[cfg(feature = "redis")]
mod node_dialect;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{RedisAdapter, RedisAdapterBuilder, RedisAdapterError};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::error::{AckError, SendError};
use crate::outbox::Frame;
use crate::payload::Payload;
use crate::server::ServerInner;
use crate::socket::Sid;

/// How long past its timeout an ack request waits for the other nodes' replies (transit).
const REPLY_GRACE: Duration = Duration::from_secs(2);

/// Most answers awaited for one ack request from all the other nodes: the counts peers
/// announce are capped to it before anything is allocated or awaited from them.
pub(crate) const MAX_ANNOUNCED_ANSWERS: usize = 1 << 16;

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

/// The results one node sends back for an ack request.
type AckReplies = Vec<(String, Result<WirePayload, WireAckError>)>;

/// A reply to a request: one per node, except in the Node adapter's dialect, where a node
/// answers an ack request with its target count, then one message per answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Reply {
    Acks(AckReplies),
    Sockets(Vec<WireSocket>),
    /// How many answers a node will send (it has answered).
    ClientCount(usize),
    /// One answer, of a socket the node did not name.
    Ack(Result<WirePayload, WireAckError>),
}

/// What the bus carried, by outcome (read at scrape time as `tickwire_cluster_messages`).
#[derive(Debug, Default)]
pub(crate) struct ClusterCounters {
    /// Messages this node queued for the bus.
    pub(crate) published: AtomicU64,
    /// Messages from other nodes this node applied.
    pub(crate) received: AtomicU64,
    /// Messages refused because the publish queue was full.
    pub(crate) queue_full: AtomicU64,
    /// Messages the bus failed to publish (Redis unreachable).
    pub(crate) publish_failed: AtomicU64,
    /// Messages from the bus that did not decode.
    pub(crate) malformed: AtomicU64,
}

impl ClusterCounters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `(outcome, count)` pairs for the metrics.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64)> {
        [
            ("published", &self.published),
            ("received", &self.received),
            ("queue_full", &self.queue_full),
            ("publish_failed", &self.publish_failed),
            ("malformed", &self.malformed),
        ]
        .into_iter()
        .map(|(name, counter)| (name, counter.load(Ordering::Relaxed)))
        .collect()
    }
}

/// A server's place for its bus, shared by all its namespaces; empty on a single node.
pub(crate) struct ClusterSlot {
    node: u64,
    bus: OnceLock<Arc<dyn Bus>>,
    pub(crate) counters: Arc<ClusterCounters>,
    /// Ack requests of this node waiting for the other nodes' replies.
    requests: Mutex<HashMap<u64, mpsc::UnboundedSender<(u64, Reply)>>>,
}

impl ClusterSlot {
    pub(crate) fn new() -> ClusterSlot {
        ClusterSlot {
            node: rand::random(),
            bus: OnceLock::new(),
            counters: Arc::default(),
            requests: Mutex::new(HashMap::new()),
        }
    }

    /// This node's id on the bus (its own messages come back and are skipped).
    pub(crate) fn node(&self) -> u64 {
        self.node
    }

    /// Attach `bus`; false when one is already attached.
    pub(crate) fn attach(&self, bus: Arc<dyn Bus>) -> bool {
        self.bus.set(bus).is_ok()
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.bus.get().is_some()
    }

    /// Publish `op` for namespace `nsp` to the other nodes; nothing on a single node.
    pub(crate) fn publish(&self, nsp: &str, targets: Targets, op: Op) -> Result<(), SendError> {
        self.publish_to(None, nsp, targets, op)
    }

    fn publish_to(
        &self,
        to: Option<u64>,
        nsp: &str,
        targets: Targets,
        op: Op,
    ) -> Result<(), SendError> {
        let Some(bus) = self.bus.get() else {
            return Ok(());
        };
        let message = Message {
            node: self.node,
            nsp: nsp.to_owned(),
            targets,
            op,
        };
        bus.publish(to, &message)?;
        ClusterCounters::add(&self.counters.published, 1);
        Ok(())
    }

    /// Ask every other node for a reply to `op` (made with a fresh request id) and collect
    /// one reply per node until `wait` has passed. A node that does not reply in time
    /// contributes nothing; a bus failure is logged and yields no replies.
    async fn request(
        &self,
        nsp: &str,
        targets: Targets,
        op: impl FnOnce(u64) -> Op,
        wait: Duration,
    ) -> Vec<(u64, Reply)> {
        let Some(bus) = self.bus.get() else {
            return Vec::new();
        };
        let others = match bus.node_count(nsp).await {
            Ok(n) => n.saturating_sub(1),
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot count nodes; this node only");
                return Vec::new();
            }
        };
        if others == 0 {
            return Vec::new();
        }
        let request: u64 = rand::random();
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.requests.lock().insert(request, tx);
        // The count comes from Redis: no allocation is sized by it.
        let mut replies = Vec::new();
        match self.publish(nsp, targets, op(request)) {
            Ok(()) => {
                let deadline = tokio::time::Instant::now() + wait;
                // Nodes that answered, and answers announced but not yet received.
                let (mut answered, mut announced) = (0, 0usize);
                while answered < others || announced > 0 {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(reply)) => {
                            match &reply.1 {
                                Reply::ClientCount(n) => {
                                    answered += 1;
                                    announced = (announced + n).min(MAX_ANNOUNCED_ANSWERS);
                                }
                                Reply::Ack(_) => announced = announced.saturating_sub(1),
                                Reply::Acks(_) | Reply::Sockets(_) => answered += 1,
                            }
                            replies.push(reply);
                        }
                        _ => break,
                    }
                }
                if answered < others {
                    let answered: Vec<String> = replies
                        .iter()
                        .map(|(node, _)| format!("{node:016x}"))
                        .collect();
                    tracing::warn!(
                        expected = others,
                        answered = ?answered,
                        "cluster: not every node replied in time; results from those that did"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "cluster: request not published"),
        }
        self.requests.lock().remove(&request);
        replies
    }

    /// Ask the other nodes to emit `event` with `payload` to their targets and collect one
    /// result per target within `timeout` (plus a grace period for the replies' transit).
    pub(crate) async fn emit_with_ack(
        &self,
        nsp: &str,
        targets: Targets,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> Vec<(Sid, Result<Payload, AckError>)> {
        let op = |request| Op::EmitWithAck {
            request,
            event: event.to_owned(),
            payload: WirePayload::from_payload(payload),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let replies = self.request(nsp, targets, op, timeout + REPLY_GRACE).await;
        let answer = |result: Result<WirePayload, WireAckError>| {
            result
                .map(WirePayload::into_payload)
                .map_err(AckError::from)
        };
        let mut results = Vec::new();
        let mut announced = 0;
        for (_, reply) in replies {
            match reply {
                Reply::Acks(acks) => results.extend(
                    acks.into_iter()
                        .map(|(sid, result)| (Sid::from(sid), answer(result))),
                ),
                Reply::ClientCount(n) => announced = (announced + n).min(MAX_ANNOUNCED_ANSWERS),
                Reply::Ack(result) => {
                    announced = announced.saturating_sub(1);
                    results.push((Sid::from(""), answer(result)));
                }
                Reply::Sockets(_) => {}
            }
        }
        // Answers announced and never received timed out at their node.
        results.extend((0..announced).map(|_| (Sid::from(""), Err(AckError::Timeout))));
        results
    }

    /// The targets of the other nodes, as each describes them, within `wait`.
    pub(crate) async fn fetch_sockets(
        &self,
        nsp: &str,
        targets: Targets,
        wait: Duration,
    ) -> Vec<(u64, WireSocket)> {
        let replies = self
            .request(nsp, targets, |request| Op::FetchSockets { request }, wait)
            .await;
        let mut sockets = Vec::new();
        for (node, reply) in replies {
            if let Reply::Sockets(described) = reply {
                sockets.extend(described.into_iter().map(|socket| (node, socket)));
            }
        }
        sockets
    }

    /// A namespace was declared or created after the bus was attached.
    pub(crate) fn namespace_added(&self, nsp: &str) {
        if let Some(bus) = self.bus.get() {
            bus.namespace_added(nsp);
        }
    }

    /// A namespace created on demand was removed.
    pub(crate) fn namespace_removed(&self, nsp: &str) {
        if let Some(bus) = self.bus.get() {
            bus.namespace_removed(nsp);
        }
    }

    /// Hand another node's reply to the request waiting for it (if it still waits).
    pub(crate) fn deliver_reply(&self, node: u64, request: u64, reply: Reply) {
        if let Some(tx) = self.requests.lock().get(&request) {
            let _ = tx.send((node, reply));
        }
    }
}

/// The format version, the first byte of every message.
const VERSION: u8 = 1;

/// One broadcast or room operation, as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// The publishing node.
    pub(crate) node: u64,
    pub(crate) nsp: String,
    pub(crate) targets: Targets,
    pub(crate) op: Op,
}

/// The sockets an operation is for: members of `rooms` (every socket when empty), minus
/// members of `except` and the socket `except_sid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Targets {
    pub(crate) rooms: Vec<String>,
    pub(crate) except: Vec<String>,
    pub(crate) except_sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// Deliver these frames: `json` to JSON sockets, `compact` to compact ones (a codec
    /// without frames is skipped). JSON frames carry no recovery offset; each node adds its
    /// own.
    Emit {
        volatile: bool,
        json: Option<Vec<WireFrame>>,
        compact: Option<Vec<WireFrame>>,
    },
    Join(String),
    Leave(String),
    Disconnect {
        close: bool,
    },
    /// Emit with an ack id of the receiving node's own, and reply with the results.
    EmitWithAck {
        request: u64,
        event: String,
        payload: WirePayload,
        timeout_ms: u64,
    },
    /// An event for the namespace's server-side handlers (`server_side_emit`).
    ServerEvent {
        event: String,
        payload: WirePayload,
    },
    /// Describe the targets.
    FetchSockets {
        request: u64,
    },
    /// One node's reply to a request, sent to the asking node only.
    Reply {
        request: u64,
        reply: Reply,
    },
}

/// A socket on any node of the cluster, as
/// [`BroadcastOperator::fetch_remote_sockets`](crate::BroadcastOperator::fetch_remote_sockets)
/// describes it: what its node told, and actions that reach it wherever it is (they travel
/// as broadcasts to its own room).
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    ns: crate::Namespace,
    node: u64,
    id: Sid,
    rooms: Vec<String>,
    query: Vec<(String, String)>,
    auth: serde_json::Value,
    address: Option<String>,
}

impl RemoteSocket {
    pub(crate) fn new(ns: crate::Namespace, node: u64, socket: WireSocket) -> RemoteSocket {
        RemoteSocket {
            ns,
            node,
            id: Sid::from(socket.id),
            rooms: socket.rooms,
            query: socket.query,
            auth: serde_json::from_str(&socket.auth).unwrap_or_default(),
            address: socket.address,
        }
    }

    pub(crate) fn local(socket: &crate::Socket, node: u64) -> RemoteSocket {
        RemoteSocket::new(socket.ns().clone(), node, WireSocket::describe(socket))
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

/// A socket as its node describes it to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireSocket {
    pub(crate) id: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    /// The CONNECT auth payload, as JSON text.
    pub(crate) auth: String,
    pub(crate) address: Option<String>,
}

impl WireSocket {
    fn describe(socket: &crate::Socket) -> WireSocket {
        let handshake = socket.handshake();
        WireSocket {
            id: socket.id().to_owned(),
            rooms: socket.rooms(),
            query: handshake.query.to_vec(),
            auth: handshake.auth.to_string(),
            address: handshake.address.map(|a| a.to_string()),
        }
    }
}

/// A [`Payload`] on the bus: JSON arguments as JSON text (the bus format cannot carry a
/// self-describing JSON value), attachments, or compact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WirePayload {
    args: String,
    attachments: Vec<Vec<u8>>,
    compact: Option<Vec<u8>>,
}

impl WirePayload {
    pub(crate) fn from_payload(payload: &Payload) -> WirePayload {
        WirePayload {
            args: serde_json::Value::Array(payload.args().to_vec()).to_string(),
            attachments: payload.attachments().iter().map(|b| b.to_vec()).collect(),
            compact: payload.compact_bytes().map(|b| b.to_vec()),
        }
    }

    pub(crate) fn into_payload(self) -> Payload {
        match self.compact {
            Some(bytes) => Payload::from_compact(bytes),
            None => Payload::from_parts(
                serde_json::from_str(&self.args).unwrap_or_default(),
                self.attachments.into_iter().map(Bytes::from).collect(),
            ),
        }
    }
}

/// An [`AckError`] on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireAckError {
    Timeout,
    Disconnected,
    TooManyPending,
    Decode(String),
}

impl From<&AckError> for WireAckError {
    fn from(e: &AckError) -> WireAckError {
        match e {
            AckError::Timeout => WireAckError::Timeout,
            AckError::Disconnected => WireAckError::Disconnected,
            AckError::TooManyPending => WireAckError::TooManyPending,
            AckError::Decode(m) => WireAckError::Decode(m.clone()),
        }
    }
}

impl From<WireAckError> for AckError {
    fn from(e: WireAckError) -> AckError {
        match e {
            WireAckError::Timeout => AckError::Timeout,
            WireAckError::Disconnected => AckError::Disconnected,
            WireAckError::TooManyPending => AckError::TooManyPending,
            WireAckError::Decode(m) => AckError::Decode(m),
        }
    }
}

/// A frame on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireFrame {
    Text(String),
    Binary(Vec<u8>),
}

/// Why a message from the bus was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("format version {0}, this node reads version {VERSION}")]
    Version(u8),
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl Message {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, SendError> {
        let body = tickwire_protocol::compact::to_payload(self)
            .map_err(|e| SendError::Serialize(e.to_string()))?;
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(VERSION);
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        tickwire_protocol::compact::from_payload(body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

impl WireFrame {
    pub(crate) fn from_frames(frames: &[Frame]) -> Vec<WireFrame> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Text(text) => WireFrame::Text(text.to_string()),
                Frame::Binary(bytes) => WireFrame::Binary(bytes.to_vec()),
            })
            .collect()
    }

    pub(crate) fn into_frames(frames: Vec<WireFrame>) -> Vec<Frame> {
        frames
            .into_iter()
            .map(|frame| match frame {
                WireFrame::Text(text) => Frame::Text(ByteString::from(text)),
                WireFrame::Binary(bytes) => Frame::Binary(Bytes::from(bytes)),
            })
            .collect()
    }
}

/// Apply a message from the bus to this node's sockets. Messages from this node, and those
/// for a namespace this node does not have, are skipped (an ack request is still answered,
/// with no results, so the asker need not wait); a message that does not decode is dropped
/// with a warning: a bad message never stops the bus.
pub(crate) fn apply(server: &ServerInner, bytes: &[u8]) {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(e) => {
            ClusterCounters::add(&server.cluster.counters.malformed, 1);
            tracing::warn!(error = %e, "cluster: message dropped");
            return;
        }
    };
    if message.node == server.cluster.node() {
        return;
    }
    ClusterCounters::add(&server.cluster.counters.received, 1);
    let Message {
        node: asker,
        nsp,
        targets,
        op,
    } = message;
    if let Op::Reply { request, reply } = op {
        server.cluster.deliver_reply(asker, request, reply);
        return;
    }
    let Some(ns) = server.namespace(&nsp) else {
        match op {
            Op::EmitWithAck { request, .. } => {
                reply(
                    &server.cluster,
                    asker,
                    &nsp,
                    request,
                    Reply::Acks(Vec::new()),
                );
            }
            Op::FetchSockets { request } => {
                reply(
                    &server.cluster,
                    asker,
                    &nsp,
                    request,
                    Reply::Sockets(Vec::new()),
                );
            }
            _ => {}
        }
        return;
    };
    let operator = ns.broadcast().remote(targets);
    match op {
        Op::Emit {
            volatile,
            json,
            compact,
        } => {
            let operator = if volatile {
                operator.volatile()
            } else {
                operator
            };
            operator.deliver_encoded(
                json.map(WireFrame::into_frames),
                compact.map(WireFrame::into_frames),
            );
        }
        Op::Join(room) => operator.sockets_join(room),
        Op::Leave(room) => operator.sockets_leave(&room),
        Op::Disconnect { close } => operator.disconnect_sockets(close),
        Op::EmitWithAck {
            request,
            event,
            payload,
            timeout_ms,
        } => {
            let cluster = server.cluster.clone();
            let operator = operator.timeout(Duration::from_millis(timeout_ms));
            tokio::spawn(async move {
                let results = operator
                    .emit_with_ack(&event, payload.into_payload())
                    .await
                    .into_iter()
                    .map(|(sid, result)| {
                        let result = match &result {
                            Ok(payload) => Ok(WirePayload::from_payload(payload)),
                            Err(e) => Err(WireAckError::from(e)),
                        };
                        (sid.to_string(), result)
                    })
                    .collect();
                reply(&cluster, asker, &nsp, request, Reply::Acks(results));
            });
        }
        Op::ServerEvent { event, payload } => {
            ns.on_remote_server_event(&event, payload.into_payload());
        }
        Op::FetchSockets { request } => {
            let sockets = operator
                .fetch_sockets()
                .iter()
                .map(WireSocket::describe)
                .collect();
            reply(
                &server.cluster,
                asker,
                &nsp,
                request,
                Reply::Sockets(sockets),
            );
        }
        Op::Reply { .. } => {}
    }
}

fn reply(cluster: &ClusterSlot, asker: u64, nsp: &str, request: u64, reply: Reply) {
    let op = Op::Reply { request, reply };
    if let Err(e) = cluster.publish_to(Some(asker), nsp, Targets::default(), op) {
        tracing::warn!(error = %e, "cluster: reply not sent back");
    }
}

/// Append a recovery offset as the last argument of a JSON event packet: the packet's text
/// is the event's argument array, so `…]` becomes `…,"<offset>"]`.
pub(crate) fn with_json_offset(frames: &[Frame], offset: u64) -> Option<Vec<Frame>> {
    let mut out = frames.to_vec();
    let Some(Frame::Text(text)) = out.first() else {
        return None;
    };
    let head = text.strip_suffix(']')?;
    let mut patched = String::with_capacity(text.len() + 24);
    patched.push_str(head);
    patched.push_str(",\"");
    patched.push_str(&offset.to_string());
    patched.push_str("\"]");
    out[0] = Frame::Text(ByteString::from(patched));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_event, Codec};

    fn message(op: Op) -> Message {
        Message {
            node: 7,
            nsp: "/chat".into(),
            targets: Targets {
                rooms: vec!["a".into(), "b".into()],
                except: vec!["c".into()],
                except_sid: Some("sid1".into()),
            },
            op,
        }
    }

    #[test]
    fn messages_round_trip() {
        for op in [
            Op::Emit {
                volatile: true,
                json: Some(vec![
                    WireFrame::Text("451-[\"x\",{\"_placeholder\":true,\"num\":0}]".into()),
                    WireFrame::Binary(vec![0, 1, 255]),
                ]),
                compact: None,
            },
            Op::Emit {
                volatile: false,
                json: None,
                compact: Some(vec![WireFrame::Binary(vec![9; 300])]),
            },
            Op::Join("room".into()),
            Op::Leave("room".into()),
            Op::Disconnect { close: true },
            Op::EmitWithAck {
                request: u64::MAX,
                event: "poll".into(),
                payload: WirePayload::from_payload(
                    &Payload::new().arg(&"q").unwrap().binary(vec![1u8, 2]),
                ),
                timeout_ms: 300,
            },
            Op::FetchSockets { request: 1 },
            Op::ServerEvent {
                event: "match-started".into(),
                payload: WirePayload::from_payload(&Payload::new().arg(&42).unwrap()),
            },
            Op::Reply {
                request: 1,
                reply: Reply::Acks(vec![
                    ("s1".into(), Ok(WirePayload::from_payload(&Payload::new()))),
                    ("s2".into(), Err(WireAckError::Decode("bad".into()))),
                ]),
            },
            Op::Reply {
                request: 2,
                reply: Reply::Sockets(vec![WireSocket {
                    id: "s1".into(),
                    rooms: vec!["s1".into(), "red".into()],
                    query: vec![("EIO".into(), "4".into())],
                    auth: r#"{"token":"t"}"#.into(),
                    address: Some("127.0.0.1:5000".into()),
                }]),
            },
        ] {
            let message = message(op);
            let bytes = message.encode().unwrap();
            assert_eq!(bytes[0], VERSION);
            assert_eq!(Message::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn payloads_cross_the_bus_unchanged() {
        for payload in [
            Payload::new(),
            Payload::new()
                .arg(&serde_json::json!({"a": [1, 2.5, null]}))
                .unwrap()
                .binary(vec![0u8, 255]),
            Payload::from_compact(vec![7u8, 8, 9]),
        ] {
            let wire = WirePayload::from_payload(&payload);
            assert_eq!(wire.into_payload(), payload);
        }
    }

    #[test]
    fn bad_messages_are_refused_not_panicked_on() {
        assert!(matches!(Message::decode(&[]), Err(DecodeError::Empty)));
        assert!(matches!(
            Message::decode(&[2, 0, 0]),
            Err(DecodeError::Version(2))
        ));
        let good = message(Op::Join("r".into())).encode().unwrap();
        for cut in 1..good.len() {
            assert!(Message::decode(&good[..cut]).is_err(), "prefix of {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Message::decode(&trailing).is_err());
        // A length prefix far beyond the message allocates nothing much and fails.
        let mut huge = vec![VERSION, 7, 5, b'/', b'c', b'h', b'a', b't'];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Message::decode(&huge).is_err());
    }

    /// A bus with one other node that answers every ack request by announcing `announce`
    /// answers and sending none.
    struct Boastful {
        slot: OnceLock<Arc<ClusterSlot>>,
        announce: usize,
    }

    impl Bus for Boastful {
        fn publish(&self, _to: Option<u64>, message: &Message) -> Result<(), SendError> {
            if let (Op::EmitWithAck { request, .. }, Some(slot)) = (&message.op, self.slot.get()) {
                slot.deliver_reply(1, *request, Reply::ClientCount(self.announce));
            }
            Ok(())
        }

        fn node_count(&self, _nsp: &str) -> BoxFuture<'static, Result<usize, String>> {
            Box::pin(async { Ok(2) })
        }
    }

    #[tokio::test]
    async fn an_announced_answer_count_is_capped_before_anything_is_allocated() {
        let slot = Arc::new(ClusterSlot::new());
        let bus = Arc::new(Boastful {
            slot: OnceLock::new(),
            announce: usize::MAX,
        });
        let _ = bus.slot.set(slot.clone());
        assert!(slot.attach(bus));
        let results = slot
            .emit_with_ack(
                "/",
                Targets::default(),
                "ev",
                &Payload::new(),
                Duration::ZERO,
            )
            .await;
        // Every announced answer times out; there are at most the cap of them.
        assert_eq!(results.len(), MAX_ANNOUNCED_ANSWERS);
        assert!(results.iter().all(|(_, r)| *r == Err(AckError::Timeout)));
    }

    #[test]
    fn the_offset_is_appended_as_the_last_argument() {
        let data = serde_json::json!({"a": [1, 2]});
        let base = encode_event(Codec::Json, "/", "ev", &data, None).unwrap();
        assert_eq!(
            with_json_offset(&base, 42).unwrap(),
            vec![Frame::Text(r#"42["ev",{"a":[1,2]},"42"]"#.into())]
        );
        let compact = encode_event(Codec::Compact, "/", "ev", &data, None).unwrap();
        assert_eq!(with_json_offset(&compact, 1), None);
    }
}
