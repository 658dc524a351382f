//! [`BroadcastOperator`]: every broadcast form (`to`, `except`, `volatile`, `local`) and
//! every action on the targets (emit, emit with acks, fetch, join, leave, disconnect), on
//! this node and, with an adapter, on every node.

use std::time::Duration;

use serde::Serialize;

use super::adapter::{Adapter, EncodedBroadcast, Targets};
use super::codec::{encode_payload_event, with_json_offset, EncodeOnce};
use super::error::{AckError, SendError};
use super::namespace::Namespace;
use super::payload::Payload;
use super::remote_socket::RemoteSocket;
use super::socket::{Socket, SocketId};
use crate::engine::{Class, Codec, Frame};

/// A broadcast being described: targets (`to`, `except`), delivery (`volatile`, `local`),
/// then an action (`emit`, `emit_with_ack`, `fetch_sockets`, `sockets_join`,
/// `sockets_leave`, `disconnect_sockets`).
///
/// The packet is encoded once and the same bytes are queued for every target.
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    ns: Namespace,
    targets: Targets,
    volatile: bool,
    local: bool,
    timeout: Duration,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            targets: Targets::default(),
            volatile: false,
            local: false,
            timeout: Duration::from_secs(10),
        }
    }

    pub(crate) fn except_socket(mut self, sid: SocketId) -> BroadcastOperator {
        self.targets.except_sid = Some(sid);
        self
    }

    /// The operator for a message from another node: its targets, on this node only.
    pub(crate) fn remote(mut self, targets: Targets) -> BroadcastOperator {
        self.targets = targets;
        self.local = true;
        self
    }

    /// The adapter that carries this operation to the other nodes, unless it stays here
    /// (no adapter attached, or `local`).
    fn remote_part(&self) -> Option<&dyn Adapter> {
        if self.local {
            return None;
        }
        self.ns.adapter().get().map(|adapter| &**adapter)
    }

    /// Deliver frames encoded without a recovery offset (here, or on another node) to this
    /// node's targets: each socket gets its codec's frames, JSON ones with this node's
    /// recovery offset when recovery is on.
    pub(crate) fn deliver_encoded(&self, json: Option<&[Frame]>, compact: Option<&[Frame]>) {
        let with_offset = match (json, self.recovery_offset()) {
            (Some(frames), Some(offset)) => {
                with_json_offset(frames, &offset.to_string()).inspect(|frames| {
                    self.log_for_recovery(offset, frames.clone());
                })
            }
            _ => None,
        };
        self.deliver_frames(with_offset.as_deref().or(json), compact);
    }

    /// Deliver frames of the cluster's log to this node's targets, JSON ones with the log's
    /// `offset` (the cluster's, for connection state recovery through any node) when
    /// recovery is on here.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
    pub(crate) fn deliver_logged(
        &self,
        json: Option<&[Frame]>,
        compact: Option<&[Frame]>,
        offset: Option<&str>,
    ) {
        let recovers = self.ns.0.recovery.is_some() && !self.volatile;
        let with_offset = json
            .zip(offset.filter(|_| recovers))
            .and_then(|(frames, offset)| with_json_offset(frames, offset));
        self.deliver_frames(with_offset.as_deref().or(json), compact);
    }

    /// Each target socket gets its codec's frames.
    fn deliver_frames(&self, json: Option<&[Frame]>, compact: Option<&[Frame]>) {
        let class = self.class();
        for socket in self.fetch_sockets() {
            let frames = match socket.codec() {
                Codec::Json => json,
                Codec::Compact => compact,
            };
            if let Some(frames) = frames {
                let _ = socket.send_frames(frames, class);
            }
        }
    }

    /// Add `room` to the targets (union with the rooms already named).
    pub fn to(mut self, room: impl Into<String>) -> BroadcastOperator {
        self.targets.rooms.push(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    pub fn within(self, room: impl Into<String>) -> BroadcastOperator {
        self.to(room)
    }

    /// Leave out the members of `room`.
    pub fn except(mut self, room: impl Into<String>) -> BroadcastOperator {
        self.targets.except.push(room.into());
        self
    }

    /// Drop the packet for targets whose transport cannot write now.
    pub fn volatile(mut self) -> BroadcastOperator {
        self.volatile = true;
        self
    }

    /// Only this node's sockets, when a cluster adapter ([`crate::cluster`]) is attached; a
    /// single server is always local.
    pub fn local(mut self) -> BroadcastOperator {
        self.local = true;
        self
    }

    /// Whether [`BroadcastOperator::local`] was set.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// How long `emit_with_ack` waits for the answers (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> BroadcastOperator {
        self.timeout = timeout;
        self
    }

    /// The sockets this operator targets now, on this node (sockets are per node; a cluster
    /// adapter carries operations, not sockets).
    pub fn fetch_sockets(&self) -> Vec<Socket> {
        self.ns.0.index.select(&self.targets)
    }

    /// Every target on every node, described ([`RemoteSocket`]): this node's at once, the
    /// others' as their nodes reply (within the operator's timeout). Without a cluster
    /// adapter, or with [`BroadcastOperator::local`], this node's only.
    pub async fn fetch_remote_sockets(&self) -> Vec<RemoteSocket> {
        let node = self.ns.adapter().node_id();
        let mut sockets: Vec<RemoteSocket> = self
            .fetch_sockets()
            .iter()
            .map(|socket| RemoteSocket::local(socket, node))
            .collect();
        if let Some(adapter) = self.remote_part() {
            let remote = adapter
                .fetch_sockets(self.ns.name(), &self.targets, self.timeout)
                .await;
            sockets.extend(
                remote
                    .into_iter()
                    .map(|(node, socket)| RemoteSocket::new(self.ns.clone(), node, socket)),
            );
        }
        sockets
    }

    /// Emit `event` with one argument to every target.
    ///
    /// The packet is encoded at most once per codec among the targets, and those bytes are
    /// shared by every target of that codec. With a cluster adapter, both codecs' frames are
    /// encoded here, once, and published for the other nodes' targets; an `Err` then means
    /// this node's targets got it and the others may not.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        if let Some(adapter) = self.remote_part() {
            return self.emit_over_cluster(adapter, event, data);
        }
        let offset = self.recovery_offset();
        let mut once = EncodeOnce::new(self.ns.encodes(), self.ns.name(), event, data, None)
            .with_json_offset(offset.map(|o| o.to_string()));
        let class = self.class();
        if let Some(offset) = offset {
            let frames = once.frames(Codec::Json)?.to_vec();
            self.log_for_recovery(offset, frames);
        }
        for socket in self.fetch_sockets() {
            let frames = once.frames(socket.codec())?;
            let _ = socket.send_frames(frames, class);
        }
        Ok(())
    }

    /// [`BroadcastOperator::emit`] over a cluster: both codecs encoded here, once, without a
    /// recovery offset (each node adds its own), delivered here and published.
    fn emit_over_cluster<T: Serialize + ?Sized>(
        &self,
        adapter: &dyn Adapter,
        event: &str,
        data: &T,
    ) -> Result<(), SendError> {
        let mut once = EncodeOnce::new(self.ns.encodes(), self.ns.name(), event, data, None);
        let json = once.frames(Codec::Json)?.to_vec();
        // Data postcard cannot carry still reaches the JSON sockets of every node.
        let compact = once.frames(Codec::Compact);
        let compact_error = compact.as_ref().err().cloned();
        let compact = compact.ok().map(<[_]>::to_vec);
        self.deliver_and_publish(adapter, Some(&json), compact.as_deref())?;
        compact_error.map_or(Ok(()), Err)
    }

    /// Deliver frames encoded without a recovery offset to this node's targets (unless the
    /// adapter does, in its log's order), then publish them for the other nodes'.
    fn deliver_and_publish(
        &self,
        adapter: &dyn Adapter,
        json: Option<&[Frame]>,
        compact: Option<&[Frame]>,
    ) -> Result<(), SendError> {
        if !adapter.delivers_locally() {
            self.deliver_encoded(json, compact);
        }
        let broadcast = EncodedBroadcast {
            volatile: self.volatile,
            json,
            compact,
        };
        adapter.broadcast(self.ns.name(), &self.targets, broadcast)
    }

    /// The offset of this broadcast, when recovery is on and the packet is recoverable (not
    /// volatile).
    fn recovery_offset(&self) -> Option<u64> {
        if self.volatile {
            return None;
        }
        self.ns
            .0
            .recovery
            .as_ref()
            .map(|log| log.lock().next_offset())
    }

    fn log_for_recovery(&self, offset: u64, frames: Vec<Frame>) {
        if let Some(log) = &self.ns.0.recovery {
            let mut except = self.targets.except.clone();
            if let Some(sid) = &self.targets.except_sid {
                except.push(sid.to_string());
            }
            log.lock().log(
                offset,
                self.targets.rooms.clone(),
                except,
                frames,
                std::time::Instant::now(),
            );
        }
    }

    fn class(&self) -> Class {
        if self.volatile {
            Class::Volatile
        } else {
            Class::Reliable
        }
    }

    /// Emit any arguments and binary attachments to every target of the payload's codec
    /// (JSON arguments reach JSON clients, compact bytes compact ones). Targets that are gone
    /// or too slow are skipped (the slow ones are disconnected); the others all get it.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), SendError> {
        let codec = payload.codec();
        let encodes = self.ns.encodes();
        if let Some(adapter) = self.remote_part() {
            let frames =
                encode_payload_event(encodes, codec, self.ns.name(), event, &payload, None)?;
            let (json, compact) = match codec {
                Codec::Json => (Some(&frames[..]), None),
                Codec::Compact => (None, Some(&frames[..])),
            };
            return self.deliver_and_publish(adapter, json, compact);
        }
        let mut payload = payload;
        let offset = if codec == Codec::Json {
            self.recovery_offset()
        } else {
            None
        };
        if let Some(offset) = offset {
            payload
                .args_mut()
                .push(serde_json::Value::String(offset.to_string()));
        }
        let frames = encode_payload_event(encodes, codec, self.ns.name(), event, &payload, None)?;
        if let Some(offset) = offset {
            self.log_for_recovery(offset, frames.clone());
        }
        let class = self.class();
        for socket in self.fetch_sockets() {
            if socket.codec() == codec {
                let _ = socket.send_frames(&frames, class);
            }
        }
        Ok(())
    }

    /// Emit to every target and collect each one's ack within the timeout: one result per
    /// target, as its socket id and answer, in no particular order.
    ///
    /// With a cluster adapter, the targets of every node answer: each other node emits with
    /// its own ack ids and sends its results back (see [`crate::cluster`]). A node's own
    /// sockets are at [`Namespace::get_socket`].
    pub async fn emit_with_ack(
        &self,
        event: &str,
        payload: Payload,
    ) -> Vec<(SocketId, Result<Payload, AckError>)> {
        let Some(adapter) = self.remote_part() else {
            return self.local_emit_with_ack(event, &payload).await;
        };
        let remote =
            adapter.emit_with_ack(self.ns.name(), &self.targets, event, &payload, self.timeout);
        let local = self.local_emit_with_ack(event, &payload);
        let (mut results, remote) = futures_util::join!(local, remote);
        results.extend(remote);
        results
    }

    async fn local_emit_with_ack(
        &self,
        event: &str,
        payload: &Payload,
    ) -> Vec<(SocketId, Result<Payload, AckError>)> {
        let id = self.ns.next_ack_id();
        let codec = payload.codec();
        let encodes = self.ns.encodes();
        let Ok(frames) =
            encode_payload_event(encodes, codec, self.ns.name(), event, payload, Some(id))
        else {
            return Vec::new();
        };
        let mut waits = Vec::new();
        let mut results = Vec::new();
        for socket in self
            .fetch_sockets()
            .into_iter()
            .filter(|s| s.codec() == codec)
        {
            match socket.register_ack(id) {
                Ok(ack) => {
                    if socket.send_frames(&frames, Class::Reliable).is_ok() {
                        waits.push(ack);
                    } else {
                        results.push((socket.socket_id(), Err(AckError::Disconnected)));
                    }
                }
                Err(e) => results.push((socket.socket_id(), Err(e))),
            }
        }
        let timeout = self.timeout;
        let pending = waits.into_iter().map(|ack| async move {
            let socket = ack.socket().socket_id();
            (socket, ack.wait(timeout).await)
        });
        results.extend(futures_util::future::join_all(pending).await);
        results
    }

    /// Make every target join `room` (on every node, with a cluster adapter).
    pub fn sockets_join(&self, room: impl Into<String>) {
        let room = room.into();
        for socket in self.fetch_sockets() {
            let _ = socket.join(room.clone());
        }
        if let Some(adapter) = self.remote_part() {
            let sent = adapter.sockets_join(self.ns.name(), &self.targets, &room);
            self.warn_if_local_only(sent);
        }
    }

    /// Make every target leave `room` (on every node, with a cluster adapter).
    pub fn sockets_leave(&self, room: &str) {
        for socket in self.fetch_sockets() {
            socket.leave(room);
        }
        if let Some(adapter) = self.remote_part() {
            let sent = adapter.sockets_leave(self.ns.name(), &self.targets, room);
            self.warn_if_local_only(sent);
        }
    }

    /// Disconnect every target (and close their connections with `close`), on every node
    /// with a cluster adapter.
    pub fn disconnect_sockets(&self, close: bool) {
        for socket in self.fetch_sockets() {
            socket.disconnect(close);
        }
        if let Some(adapter) = self.remote_part() {
            let sent = adapter.disconnect_sockets(self.ns.name(), &self.targets, close);
            self.warn_if_local_only(sent);
        }
    }

    fn warn_if_local_only(&self, sent: Result<(), SendError>) {
        if let Err(e) = sent {
            tracing::warn!(error = %e, namespace = self.ns.name(), "cluster: operation stayed on this node");
        }
    }
}
