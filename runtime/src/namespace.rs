//! Namespaces: their handlers, their room index, and broadcasting.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, System};
use parking_lot::RwLock;
use serde::Serialize;

use crate::actor::namespace::NamespaceActor;
use crate::cluster::{self, ClusterSlot, Op, RemoteSocket, Targets, WireFrame};
use crate::codec::{encode_payload_event, Codec, EncodeOnce};
use crate::config::Config;
use crate::error::{AckError, ConnectError, SendError};
use crate::outbox::Class;
use crate::payload::{FromPayload, Payload};
use crate::recovery::RecoveryLog;
use crate::socket::{Sid, Socket};

pub(crate) type ConnectHandler = Arc<dyn Fn(Socket) + Send + Sync>;
pub(crate) type MiddlewareFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>>>>;
pub(crate) type Middleware = Arc<dyn Fn(Socket) -> MiddlewareFuture + Send + Sync>;
type ServerEventHandler = Arc<dyn Fn(Payload) + Send + Sync>;

/// What runs when a client joins a namespace: middlewares, then the connect handler.
pub(crate) struct Setup {
    pub(crate) connect: ConnectHandler,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
}

pub(crate) struct NamespaceInner {
    name: String,
    pub(crate) setup: Arc<Setup>,
    config: Arc<Config>,
    sockets: RwLock<HashMap<Sid, Socket>>,
    rooms: RwLock<HashMap<String, HashSet<Sid>>>,
    ack_ids: AtomicU64,
    actor: OnceLock<Addr<NamespaceActor>>,
    pub(crate) recovery: Option<parking_lot::Mutex<RecoveryLog>>,
    cluster: Arc<ClusterSlot>,
    /// Handlers of events other nodes send with `server_side_emit`.
    server_events: RwLock<HashMap<String, ServerEventHandler>>,
    /// Created on demand by a dynamic matcher: removed once empty for a grace period.
    dynamic: bool,
    /// Since when a dynamic namespace has had no socket.
    empty_since: parking_lot::Mutex<Option<Instant>>,
    /// Removed from its server: no socket enters it any more.
    reclaimed: AtomicBool,
}

/// A namespace: a handle to broadcast to its sockets and to manage its rooms.
///
/// Room membership is an in-process index read under a shared lock, so `join` is immediate
/// and a broadcast right after a join reaches the new member.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NamespaceInner>);

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Namespace").field(&self.0.name).finish()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        setup: Arc<Setup>,
        config: Arc<Config>,
        cluster: Arc<ClusterSlot>,
        dynamic: bool,
    ) -> Namespace {
        let recovery = config
            .recovery
            .clone()
            .map(|c| parking_lot::Mutex::new(RecoveryLog::new(c)));
        Namespace(Arc::new(NamespaceInner {
            recovery,
            name,
            setup,
            config,
            sockets: RwLock::new(HashMap::new()),
            rooms: RwLock::new(HashMap::new()),
            ack_ids: AtomicU64::new(0),
            actor: OnceLock::new(),
            cluster,
            server_events: RwLock::new(HashMap::new()),
            dynamic,
            empty_since: parking_lot::Mutex::new(dynamic.then(Instant::now)),
            reclaimed: AtomicBool::new(false),
        }))
    }

    /// For a dynamic namespace empty for longer than its grace at `now`: mark it reclaimed
    /// (no socket enters it any more) and return true. The server then forgets it.
    pub(crate) fn reclaim_if_idle(&self, now: Instant) -> bool {
        if !self.0.dynamic {
            return false;
        }
        // Under the sockets lock, as `insert_socket` checks the flag.
        let sockets = self.0.sockets.write();
        let idle = sockets.is_empty()
            && self.0.empty_since.lock().is_some_and(|since| {
                now.saturating_duration_since(since) >= self.0.config.dynamic_namespace_grace
            });
        if idle {
            self.0.reclaimed.store(true, Ordering::Release);
        }
        idle
    }

    /// The namespace's name, e.g. `/` or `/chat`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub(crate) fn config(&self) -> &Config {
        &self.0.config
    }

    /// Send `event` with one argument to this namespace on the other nodes of the cluster
    /// (their [`Namespace::on_server_event`] handlers; never to clients). Nothing happens
    /// on a single node.
    pub fn server_side_emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        let payload = Payload::new().arg(data)?;
        let op = Op::ServerEvent {
            event: event.to_owned(),
            payload: cluster::WirePayload::from_payload(&payload),
        };
        self.0.cluster.publish(self.name(), Targets::default(), op)
    }

    /// Handle `event` when another node sends it with [`Namespace::server_side_emit`]. The
    /// handler runs on the cluster adapter's task: keep it short, or spawn. A payload the
    /// handler's parameter type does not accept is logged and skipped.
    pub fn on_server_event<T, F>(&self, event: &str, handler: F) -> &Self
    where
        T: FromPayload + 'static,
        F: Fn(T) + Send + Sync + 'static,
    {
        let name = event.to_owned();
        let erased: ServerEventHandler = Arc::new(move |payload| match T::from_payload(payload) {
            Ok(data) => handler(data),
            Err(e) => tracing::warn!(event = %name, error = %e, "server event skipped"),
        });
        self.0
            .server_events
            .write()
            .insert(event.to_owned(), erased);
        self
    }

    /// Run the handler of a server-side event from another node.
    pub(crate) fn on_remote_server_event(&self, event: &str, payload: Payload) {
        let handler = self.0.server_events.read().get(event).cloned();
        match handler {
            Some(handler) => handler(payload),
            None => tracing::debug!(event, "server event without a handler"),
        }
    }

    /// Add a connect middleware: it runs before the connect handler, in the order added, and
    /// may refuse the connection with a [`ConnectError`] (sent as CONNECT_ERROR).
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + 'static,
    {
        let erased: Middleware = Arc::new(move |socket| Box::pin(middleware(socket)));
        self.0.setup.middlewares.write().push(erased);
        self
    }

    /// The actor that admits connections, started on first use on the system arbiter.
    pub(crate) fn actor(&self) -> Addr<NamespaceActor> {
        self.0
            .actor
            .get_or_init(|| {
                let ns = self.clone();
                NamespaceActor::start_in_arbiter(&System::current().arbiter().clone(), move |_| {
                    NamespaceActor::new(ns)
                })
            })
            .clone()
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.0.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.0.sockets.read().len()
    }

    /// The names of the rooms with members (sockets' private rooms included).
    pub(crate) fn room_names(&self) -> Vec<String> {
        self.0.rooms.read().keys().cloned().collect()
    }

    /// Number of rooms with members (sockets' private rooms included).
    pub fn room_count(&self) -> usize {
        self.0.rooms.read().len()
    }

    /// Room memberships (sum of room sizes).
    pub fn membership_count(&self) -> usize {
        self.0.rooms.read().values().map(HashSet::len).sum()
    }

    /// Members of `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.0.rooms.read().get(room).map_or(0, HashSet::len)
    }

    /// The socket with id `sid`, if connected here.
    pub fn get_socket(&self, sid: &str) -> Option<Socket> {
        self.0.sockets.read().get(sid).cloned()
    }

    /// Add a socket; false when the namespace was reclaimed meanwhile.
    pub(crate) fn insert_socket(&self, socket: &Socket) -> bool {
        {
            let mut sockets = self.0.sockets.write();
            if self.0.reclaimed.load(Ordering::Acquire) {
                return false;
            }
            sockets.insert(socket.inner.id.clone(), socket.clone());
            if self.0.dynamic {
                *self.0.empty_since.lock() = None;
            }
        }
        let _ = socket.join(socket.id().to_owned());
        true
    }

    pub(crate) fn index_join(&self, sid: &Sid, room: String) {
        self.0
            .rooms
            .write()
            .entry(room)
            .or_default()
            .insert(sid.clone());
    }

    pub(crate) fn index_leave(&self, sid: &Sid, room: &str) {
        let mut rooms = self.0.rooms.write();
        if let Some(members) = rooms.get_mut(room) {
            members.remove(sid);
            if members.is_empty() {
                rooms.remove(room);
            }
        }
    }

    pub(crate) fn remove_socket(&self, sid: &Sid, rooms: &[String]) {
        {
            let mut sockets = self.0.sockets.write();
            sockets.remove(sid);
            if self.0.dynamic && sockets.is_empty() {
                *self.0.empty_since.lock() = Some(Instant::now());
            }
        }
        let mut index = self.0.rooms.write();
        for room in rooms {
            if let Some(members) = index.get_mut(room.as_str()) {
                members.remove(sid);
                if members.is_empty() {
                    index.remove(room.as_str());
                }
            }
        }
    }

    /// Broadcast to every socket of the namespace.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        self.broadcast().emit(event, data)
    }

    /// A broadcast to every socket of the namespace, to narrow with the operator's methods.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.clone())
    }

    /// Broadcast to the members of `room`.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Broadcast to every socket not in `room`.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().except(room)
    }
}

/// A broadcast being described: targets (`to`, `except`), delivery (`volatile`, `local`),
/// then an action (`emit`, `emit_with_ack`, `fetch_sockets`, `sockets_join`,
/// `sockets_leave`, `disconnect_sockets`).
///
/// The packet is encoded once and the same bytes are queued for every target.
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    ns: Namespace,
    rooms: Vec<String>,
    except: Vec<String>,
    except_sid: Option<Sid>,
    volatile: bool,
    local: bool,
    timeout: Duration,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> BroadcastOperator {
        BroadcastOperator {
            ns,
            rooms: Vec::new(),
            except: Vec::new(),
            except_sid: None,
            volatile: false,
            local: false,
            timeout: Duration::from_secs(10),
        }
    }

    pub(crate) fn except_socket(mut self, sid: Sid) -> BroadcastOperator {
        self.except_sid = Some(sid);
        self
    }

    /// The operator for a message from another node: its targets, on this node only.
    pub(crate) fn remote(mut self, targets: Targets) -> BroadcastOperator {
        self.rooms = targets.rooms;
        self.except = targets.except;
        self.except_sid = targets.except_sid.map(Sid::from);
        self.local = true;
        self
    }

    /// Whether this operation also goes to the other nodes.
    fn spans_cluster(&self) -> bool {
        !self.local && self.ns.0.cluster.is_attached()
    }

    /// Publish `op` for this operator's targets to the other nodes (when a cluster adapter
    /// is attached and the operator is not `local`).
    fn publish(&self, op: Op) -> Result<(), SendError> {
        if !self.spans_cluster() {
            return Ok(());
        }
        self.ns
            .0
            .cluster
            .publish(self.ns.name(), self.targets(), op)
    }

    fn targets(&self) -> Targets {
        Targets {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
            except_sid: self.except_sid.as_deref().map(str::to_owned),
        }
    }

    /// Deliver frames encoded without a recovery offset (here, or on another node) to this
    /// node's targets: each socket gets its codec's frames, JSON ones with this node's
    /// recovery offset when recovery is on.
    pub(crate) fn deliver_encoded(
        &self,
        json: Option<Vec<crate::outbox::Frame>>,
        compact: Option<Vec<crate::outbox::Frame>>,
    ) {
        let json = match (json, self.recovery_offset()) {
            (Some(frames), Some(offset)) => match cluster::with_json_offset(&frames, offset) {
                Some(with_offset) => {
                    self.log_for_recovery(offset, with_offset.clone());
                    Some(with_offset)
                }
                None => Some(frames),
            },
            (json, _) => json,
        };
        let class = self.class();
        for socket in self.fetch_sockets() {
            let frames = match socket.codec() {
                Codec::Json => json.as_deref(),
                Codec::Compact => compact.as_deref(),
            };
            if let Some(frames) = frames {
                let _ = socket.send_frames(frames, class);
            }
        }
    }

    /// Add `room` to the targets (union with the rooms already named).
    pub fn to(mut self, room: impl Into<String>) -> BroadcastOperator {
        self.rooms.push(room.into());
        self
    }

    /// Same as [`BroadcastOperator::to`].
    pub fn within(self, room: impl Into<String>) -> BroadcastOperator {
        self.to(room)
    }

    /// Leave out the members of `room`.
    pub fn except(mut self, room: impl Into<String>) -> BroadcastOperator {
        self.except.push(room.into());
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
        let sockets = self.ns.0.sockets.read();
        let rooms = self.ns.0.rooms.read();
        let mut excluded: HashSet<&Sid> = HashSet::new();
        for room in &self.except {
            if let Some(members) = rooms.get(room) {
                excluded.extend(members.iter());
            }
        }
        if let Some(sid) = &self.except_sid {
            excluded.insert(sid);
        }
        let keep = |sid: &Sid| !excluded.contains(sid);
        if self.rooms.is_empty() {
            sockets
                .iter()
                .filter(|(sid, _)| keep(sid))
                .map(|(_, s)| s.clone())
                .collect()
        } else {
            let mut seen: HashSet<&Sid> = HashSet::new();
            let mut out = Vec::new();
            for room in &self.rooms {
                for sid in rooms.get(room).into_iter().flatten() {
                    if keep(sid) && seen.insert(sid) {
                        if let Some(s) = sockets.get(sid) {
                            out.push(s.clone());
                        }
                    }
                }
            }
            out
        }
    }

    /// Every target on every node, described ([`RemoteSocket`]): this node's at once, the
    /// others' as their nodes reply (within the operator's timeout). Without a cluster
    /// adapter, or with [`BroadcastOperator::local`], this node's only.
    pub async fn fetch_remote_sockets(&self) -> Vec<RemoteSocket> {
        let node = self.ns.0.cluster.node();
        let mut sockets: Vec<RemoteSocket> = self
            .fetch_sockets()
            .iter()
            .map(|socket| RemoteSocket::local(socket, node))
            .collect();
        if self.spans_cluster() {
            let remote = self
                .ns
                .0
                .cluster
                .fetch_sockets(self.ns.name(), self.targets(), self.timeout)
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
        if self.spans_cluster() {
            return self.emit_over_cluster(event, data);
        }
        let offset = self.recovery_offset();
        let mut once = EncodeOnce::new(self.ns.name(), event, data, None)
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
        event: &str,
        data: &T,
    ) -> Result<(), SendError> {
        let mut once = EncodeOnce::new(self.ns.name(), event, data, None);
        let json = once.frames(Codec::Json)?.to_vec();
        // Data postcard cannot carry still reaches the JSON sockets of every node.
        let compact = once.frames(Codec::Compact);
        let compact_error = compact.as_ref().err().cloned();
        let compact = compact.ok().map(<[_]>::to_vec);
        self.deliver_and_publish(Some(json), compact)?;
        compact_error.map_or(Ok(()), Err)
    }

    /// Deliver frames encoded without a recovery offset to this node's targets, then publish
    /// them for the other nodes'.
    fn deliver_and_publish(
        &self,
        json: Option<Vec<crate::outbox::Frame>>,
        compact: Option<Vec<crate::outbox::Frame>>,
    ) -> Result<(), SendError> {
        let op = Op::Emit {
            volatile: self.volatile,
            json: json.as_deref().map(WireFrame::from_frames),
            compact: compact.as_deref().map(WireFrame::from_frames),
        };
        self.deliver_encoded(json, compact);
        self.publish(op)
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

    fn log_for_recovery(&self, offset: u64, frames: Vec<crate::outbox::Frame>) {
        if let Some(log) = &self.ns.0.recovery {
            let mut except = self.except.clone();
            if let Some(sid) = &self.except_sid {
                except.push(sid.to_string());
            }
            log.lock().log(
                offset,
                self.rooms.clone(),
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
        let codec = payload_codec(&payload);
        if self.spans_cluster() {
            let frames = encode_payload_event(codec, self.ns.name(), event, &payload, None)?;
            let (json, compact) = match codec {
                Codec::Json => (Some(frames), None),
                Codec::Compact => (None, Some(frames)),
            };
            return self.deliver_and_publish(json, compact);
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
        let frames = encode_payload_event(codec, self.ns.name(), event, &payload, None)?;
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
    ) -> Vec<(Sid, Result<Payload, AckError>)> {
        if !self.spans_cluster() {
            return self.local_emit_with_ack(event, &payload).await;
        }
        let remote = self.ns.0.cluster.emit_with_ack(
            self.ns.name(),
            self.targets(),
            event,
            &payload,
            self.timeout,
        );
        let local = self.local_emit_with_ack(event, &payload);
        let (mut results, remote) = futures_util::join!(local, remote);
        results.extend(remote);
        results
    }

    async fn local_emit_with_ack(
        &self,
        event: &str,
        payload: &Payload,
    ) -> Vec<(Sid, Result<Payload, AckError>)> {
        let id = self.ns.next_ack_id();
        let codec = payload_codec(payload);
        let Ok(frames) = encode_payload_event(codec, self.ns.name(), event, payload, Some(id))
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
                Ok(rx) => {
                    if socket.send_frames(&frames, Class::Reliable).is_ok() {
                        waits.push((socket, rx));
                    } else {
                        results.push((socket.sid(), Err(AckError::Disconnected)));
                    }
                }
                Err(e) => results.push((socket.sid(), Err(e))),
            }
        }
        let timeout = self.timeout;
        let pending = waits.into_iter().map(|(socket, rx)| async move {
            let result = socket.await_ack(id, rx, timeout).await;
            (socket.sid(), result)
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
        self.publish_or_warn(Op::Join(room));
    }

    /// Make every target leave `room` (on every node, with a cluster adapter).
    pub fn sockets_leave(&self, room: &str) {
        for socket in self.fetch_sockets() {
            socket.leave(room);
        }
        self.publish_or_warn(Op::Leave(room.to_owned()));
    }

    /// Disconnect every target (and close their connections with `close`), on every node
    /// with a cluster adapter.
    pub fn disconnect_sockets(&self, close: bool) {
        for socket in self.fetch_sockets() {
            socket.disconnect(close);
        }
        self.publish_or_warn(Op::Disconnect { close });
    }

    fn publish_or_warn(&self, op: Op) {
        if let Err(e) = self.publish(op) {
            tracing::warn!(error = %e, namespace = self.ns.name(), "cluster: operation stayed on this node");
        }
    }
}

/// The codec a raw payload was made for.
fn payload_codec(payload: &Payload) -> Codec {
    payload.codec()
}
