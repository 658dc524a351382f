//! [`Socket`]: a client's connection to one namespace, the handle user code holds.

use std::any::Any;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tickwire_protocol::socketio::Packet;

use super::ack::{AckSender, AwaitedAck, PendingAcks};
use super::broadcast::BroadcastOperator;
use super::by_name::ByName;
use super::codec::{encode_control, encode_event, encode_payload_event};
use super::dedupe::{DedupeState, DedupeStats, DedupeWindow};
use super::disconnect::DisconnectReason;
use super::error::{AckError, SendError};
use super::extensions::Extensions;
use super::handshake::Handshake;
use super::namespace::Namespace;
use super::payload::{FromPayload, Payload};
use super::session::ToSession;
use crate::engine::{Class, Codec, ConnHandle, Frame, LocalFuture};

/// A Socket.IO socket id: one client's membership of one namespace (distinct from the
/// Engine.IO session id, which names the connection under all its sockets).
pub type SocketId = Arc<str>;
/// An event handler with its argument type erased; it is given the event's name (for its
/// log line when the payload does not fit), so that it keeps no copy of it.
pub(crate) type ErasedHandler =
    Arc<dyn Fn(&str, Socket, Payload, AckSender) -> Option<LocalFuture> + Send + Sync>;
type DisconnectHandler = Box<dyn FnOnce(Socket, DisconnectReason) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// Connect handler running; emits are buffered until the CONNECT reply is written.
    Pending,
    Connected,
    Disconnected,
}

struct State {
    lifecycle: Lifecycle,
    /// Why it disconnected, once it has.
    closed_with: Option<DisconnectReason>,
    /// What the connect handler emitted, held until the CONNECT reply is written (boxed:
    /// only a socket whose connect handler emits has any, and only until it is live).
    buffered: Option<Box<Buffered>>,
}

/// Emits held while the connect handler runs.
#[derive(Default)]
struct Buffered {
    frames: Vec<(Vec<Frame>, Class)>,
    /// What `frames` cost the connection's byte budget.
    bytes: usize,
}

pub(crate) struct SocketInner {
    pub(crate) id: SocketId,
    /// The private session id of connection state recovery, when it is on.
    pid: Option<Arc<str>>,
    recovered: bool,
    pub(crate) ns: Namespace,
    pub(crate) conn: ConnHandle,
    handshake: Arc<Handshake>,
    connected: AtomicBool,
    state: Mutex<State>,
    handlers: RwLock<ByName<ErasedHandler>>,
    any_handler: RwLock<Option<ErasedHandler>>,
    /// What runs once on disconnect: the user's handlers (no key), then the runtime's
    /// hooks (e.g. a match seat), replaced and removed by key. A list: a socket holds one
    /// hook per match it plays, and an idle one holds none.
    disconnect: Mutex<Vec<(Option<u64>, DisconnectHandler)>>,
    /// The rooms it joined, its own room apart (see `own_room`). A tree: no hasher state to
    /// carry per socket, and a socket's rooms are few and bounded.
    pub(crate) rooms: Mutex<BTreeSet<String>>,
    /// Whether it is in its own room, the one named by its id. That room is implicit (the
    /// namespace's index finds the socket by its id): an idle socket keeps no entry for it.
    pub(crate) own_room: AtomicBool,
    acks: PendingAcks,
    extensions: Extensions,
    /// The emit ids of exactly-once emits seen, and their answers; allocated at the first
    /// one, so an idle socket pays for none of it.
    dedupe: Mutex<Option<Box<DedupeWindow>>>,
}

/// One client's membership of one namespace. Cheap to clone; all clones are the same socket.
///
/// ```no_run
/// use tickwire::{Data, SocketIo};
/// let io = SocketIo::builder().build();
/// io.ns("/", |socket| {
///     socket.on("chat", |socket, Data(text): Data<String>, _ack| async move {
///         socket.broadcast().emit("chat", &text).ok();
///     });
/// });
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("ns", &self.inner.ns.name())
            .finish()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Namespace,
        conn: ConnHandle,
        handshake: Arc<Handshake>,
        pid: Option<Arc<str>>,
        recovered: bool,
    ) -> Socket {
        Socket {
            inner: Arc::new(SocketInner {
                id,
                pid,
                recovered,
                ns,
                conn,
                handshake,
                connected: AtomicBool::new(false),
                state: Mutex::new(State {
                    lifecycle: Lifecycle::Pending,
                    closed_with: None,
                    buffered: None,
                }),
                handlers: RwLock::default(),
                any_handler: RwLock::new(None),
                disconnect: Mutex::new(Vec::new()),
                rooms: Mutex::new(BTreeSet::new()),
                own_room: AtomicBool::new(true),
                acks: PendingAcks::default(),
                extensions: Extensions::default(),
                dedupe: Mutex::new(None),
            }),
        }
    }

    /// This socket's id (its private room has the same name).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The socket id as a shared [`SocketId`] (cheap to clone and keep).
    pub fn socket_id(&self) -> SocketId {
        self.inner.id.clone()
    }

    /// Whether this socket was restored by connection state recovery (same id, same rooms,
    /// the missed broadcasts replayed).
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    /// The namespace this socket belongs to.
    pub fn ns(&self) -> &Namespace {
        &self.inner.ns
    }

    /// What the client presented at connection.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    pub(crate) fn handshake_arc(&self) -> Arc<Handshake> {
        self.inner.handshake.clone()
    }

    pub(crate) fn encodes(&self) -> &super::codec::EncodeCounters {
        self.inner.ns.encodes()
    }

    /// The codec this socket's connection speaks.
    pub fn codec(&self) -> Codec {
        self.inner.conn.codec
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.inner.state.lock().lifecycle != Lifecycle::Disconnected
    }

    /// Register the handler of `event`, replacing any previous one.
    ///
    /// The handler receives the socket, the payload as `A` ([`crate::Data`] for a typed
    /// payload, [`Payload`] for raw arguments and binary) and an [`AckSender`] to answer the
    /// client when it asked for an ack. Handlers run on the connection's worker thread, in
    /// the order their events arrived; the future need not be `Send`. Once the socket has
    /// disconnected, nothing is registered.
    pub fn on<A, F, Fut>(&self, event: &str, handler: F)
    where
        A: FromPayload + 'static,
        F: Fn(Socket, A, AckSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.on_kept(event, handler);
    }

    /// [`Socket::on`], returning the handler as set, for [`Socket::off_if`] (`None` once the
    /// socket has disconnected: nothing was set).
    pub(crate) fn on_kept<A, F, Fut>(&self, event: &str, handler: F) -> Option<ErasedHandler>
    where
        A: FromPayload + 'static,
        F: Fn(Socket, A, AckSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let erased: ErasedHandler = Arc::new(move |event: &str, socket, payload, ack| {
            match A::from_payload(payload) {
                Ok(arg) => Some(Box::pin(handler(socket, arg, ack)) as LocalFuture),
                Err(error) => {
                    tracing::debug!(event, %error, "event payload did not match the handler's type; skipped");
                    None
                }
            }
        });
        let mut handlers = self.inner.handlers.write();
        // `close` marks the socket disconnected before it clears the handlers: either it
        // clears this one, or this call sees it gone and keeps nothing.
        if !self.connected() {
            return None;
        }
        handlers.insert(event, erased.clone());
        Some(erased)
    }

    /// Register a handler for events that have no handler of their own; it receives the
    /// event name as the first argument of the payload. Once the socket has disconnected,
    /// nothing is registered.
    pub fn on_any<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, Payload, AckSender) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let erased: ErasedHandler = Arc::new(move |_: &str, socket, payload, ack| {
            Some(Box::pin(handler(socket, payload, ack)) as LocalFuture)
        });
        let mut any = self.inner.any_handler.write();
        if self.connected() {
            *any = Some(erased);
        }
    }

    /// Remove the handler of `event`.
    pub fn off(&self, event: &str) {
        self.inner.handlers.write().remove(event);
    }

    /// Remove the handler of `event` if it is still `handler` (another may have replaced it
    /// since: that one stays).
    pub(crate) fn off_if(&self, event: &str, handler: &ErasedHandler) {
        let mut handlers = self.inner.handlers.write();
        if handlers.get(event).is_some_and(|h| Arc::ptr_eq(h, handler)) {
            handlers.remove(event);
        }
    }

    /// Run `handler` once when the socket disconnects, with the reason.
    ///
    /// Registered once the socket has gone (by a handler that awaited something), it runs
    /// at once, with the reason the socket went for.
    pub fn on_disconnect(&self, handler: impl FnOnce(Socket, DisconnectReason) + Send + 'static) {
        self.inner.disconnect.lock().push((None, Box::new(handler)));
        // `close` marks the socket disconnected before it takes the handlers: it runs this
        // one, or this call sees the reason and runs what is left.
        if let Some(reason) = self.closed_with() {
            self.run_disconnect_handlers(reason);
        }
    }

    /// Why the socket disconnected, once it has.
    fn closed_with(&self) -> Option<DisconnectReason> {
        self.inner.state.lock().closed_with
    }

    /// Run the disconnect handlers registered so far (each once), then its hooks.
    fn run_disconnect_handlers(&self, reason: DisconnectReason) {
        let (handlers, hooks): (Vec<_>, Vec<_>) =
            std::mem::take(&mut *self.inner.disconnect.lock())
                .into_iter()
                .partition(|(key, _)| key.is_none());
        for (_, handler) in handlers.into_iter().chain(hooks) {
            handler(self.clone(), reason);
        }
    }

    /// Emit `event` with one argument to this client.
    ///
    /// With connection state recovery on, the emit is kept like a broadcast to the socket's
    /// own room and carries its offset (a JSON client's), so a session recovered after a
    /// drop gets the emits it missed too, as with Socket.IO.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        if let Some(logged) = self.logged_route()? {
            return logged.emit(event, data);
        }
        let frames = encode_event(
            self.encodes(),
            self.codec(),
            self.inner.ns.name(),
            event,
            data,
            None,
        )?;
        self.send_frames(&frames, Class::Reliable)
    }

    /// Emit `event` with any arguments and binary attachments to this client.
    ///
    /// A payload travels only on its own codec: JSON arguments to a JSON client, compact
    /// bytes ([`Payload::from_compact`]) to a compact client. Typed emits reach both.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), SendError> {
        if let Some(logged) = self.logged_route()? {
            return logged.emit_payload(event, payload);
        }
        let nsp = self.inner.ns.name();
        let frames =
            encode_payload_event(self.encodes(), self.codec(), nsp, event, &payload, None)?;
        self.send_frames(&frames, Class::Reliable)
    }

    /// With recovery on, the route of a JSON client's emits: a broadcast to its own room,
    /// kept in this node's log (or in the cluster's, whose adapter delivers it in the log's
    /// order). `None` with recovery off and for compact clients (which do not recover).
    fn logged_route(&self) -> Result<Option<BroadcastOperator>, SendError> {
        if self.inner.ns.0.recovery.is_none() || self.codec() != Codec::Json {
            return Ok(None);
        }
        if self.inner.state.lock().lifecycle == Lifecycle::Disconnected {
            return Err(SendError::Disconnected);
        }
        let to_self = self.inner.ns.to(self.inner.id.to_string());
        let shared = self
            .inner
            .ns
            .adapter()
            .get()
            .is_some_and(|adapter| adapter.shared_recovery().is_some());
        Ok(Some(if shared { to_self } else { to_self.local() }))
    }

    /// Emit and wait for the client's ack (at most `timeout`), deserialized as `T` (the
    /// single ack argument, or all of them as a tuple).
    pub async fn emit_with_ack<T: DeserializeOwned>(
        &self,
        event: &str,
        data: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, AckError> {
        let id = self.inner.ns.next_ack_id();
        let nsp = self.inner.ns.name();
        let frames = encode_event(self.encodes(), self.codec(), nsp, event, data, Some(id))
            .map_err(|e| AckError::Decode(e.to_string()))?;
        let ack = self.register_ack(id)?;
        if self.send_frames(&frames, Class::Reliable).is_err() {
            return Err(AckError::Disconnected);
        }
        let reply = ack.wait(timeout).await?;
        reply.deserialize().map_err(AckError::Decode)
    }

    /// Emit a raw payload and wait for the client's ack payload (at most `timeout`).
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
        timeout: Duration,
    ) -> Result<Payload, AckError> {
        let id = self.inner.ns.next_ack_id();
        let nsp = self.inner.ns.name();
        let frames =
            encode_payload_event(self.encodes(), self.codec(), nsp, event, &payload, Some(id))
                .map_err(|e| AckError::Decode(e.to_string()))?;
        let ack = self.register_ack(id)?;
        if self.send_frames(&frames, Class::Reliable).is_err() {
            return Err(AckError::Disconnected);
        }
        ack.wait(timeout).await
    }

    /// Await ack `id` from the client (refused past `max_pending_acks`).
    pub(crate) fn register_ack(&self, id: u64) -> Result<AwaitedAck, AckError> {
        let rx = self
            .inner
            .acks
            .register(id, self.inner.ns.config().max_pending_acks)?;
        Ok(AwaitedAck::new(self.clone(), id, rx))
    }

    /// Stop awaiting ack `id`.
    pub(crate) fn forget_ack(&self, id: u64) {
        self.inner.acks.forget(id);
    }

    /// Join `room` (idempotent). Returns `false` when the socket has disconnected (a
    /// handler that awaited something may outlive its socket: nothing is joined then), or is
    /// already in `max_rooms_per_socket` rooms (the join is refused and logged).
    pub fn join(&self, room: impl Into<String>) -> bool {
        let room = room.into();
        // Held until the room index has the entry: `close` marks the socket disconnected
        // before it takes this lock to leave every room, so either it sees this room and
        // removes its entry, or this join sees it disconnected.
        let mut rooms = self.inner.rooms.lock();
        if !self.connected() {
            return false;
        }
        if *room == *self.inner.id {
            self.inner.own_room.store(true, Ordering::Release);
            return true;
        }
        if rooms.contains(&room) {
            return true;
        }
        // Its own room counts, as in every Socket.IO server.
        if rooms.len() + 1 >= self.inner.ns.config().max_rooms_per_socket {
            tracing::warn!(socket = %self.inner.id, %room, "room limit reached; join refused");
            return false;
        }
        rooms.insert(room.clone());
        self.inner.ns.index_join(&self.inner.id, room);
        true
    }

    /// Leave `room`.
    pub fn leave(&self, room: &str) {
        if room == &*self.inner.id {
            self.inner.own_room.store(false, Ordering::Release);
            return;
        }
        if self.inner.rooms.lock().remove(room) {
            self.inner.ns.index_leave(&self.inner.id, room);
        }
    }

    /// The rooms this socket is in (its own id included).
    pub fn rooms(&self) -> Vec<String> {
        let rooms = self.inner.rooms.lock();
        let own = self.in_own_room() && self.connected();
        own.then(|| self.inner.id.to_string())
            .into_iter()
            .chain(rooms.iter().cloned())
            .collect()
    }

    /// Whether it is in its own room (it is unless it left it).
    pub(crate) fn in_own_room(&self) -> bool {
        self.inner.own_room.load(Ordering::Acquire)
    }

    /// Broadcast to `room`, excluding this socket.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().to(room)
    }

    /// Broadcast to every socket of the namespace except those in `room` and this one.
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.broadcast().except(room)
    }

    /// Broadcast to every other socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.inner.ns.clone()).except_socket(self.inner.id.clone())
    }

    /// Emit to this client unless its transport is busy right now.
    pub fn volatile(&self) -> VolatileEmitter<'_> {
        VolatileEmitter { socket: self }
    }

    /// Disconnect from this namespace, telling the client; with `close`, also close the
    /// whole connection (every namespace of this client).
    pub fn disconnect(&self, close: bool) {
        self.close(DisconnectReason::ServerNamespaceDisconnect, true);
        if close {
            // One message per call by server code: bounded volume.
            self.inner.conn.upcall(ToSession::CloseAll);
        } else {
            self.inner
                .conn
                .upcall(ToSession::SocketGone(self.inner.ns.name().to_owned()));
        }
    }

    /// Run `hook` once on disconnect, replacing any hook with the same `key`. Returns
    /// `false` (and drops the hook) when the socket has already disconnected.
    pub(crate) fn set_disconnect_hook(
        &self,
        key: u64,
        hook: impl FnOnce(Socket, DisconnectReason) + Send + 'static,
    ) -> bool {
        // `close` marks the socket disconnected before it takes the hooks: either it runs
        // this one, or this call sees it disconnected.
        let mut hooks = self.inner.disconnect.lock();
        if !self.connected() {
            return false;
        }
        hooks.retain(|(k, _)| *k != Some(key));
        hooks.push((Some(key), Box::new(hook)));
        true
    }

    /// Remove the hook stored under `key`.
    pub(crate) fn clear_disconnect_hook(&self, key: u64) {
        let mut hooks = self.inner.disconnect.lock();
        hooks.retain(|(k, _)| *k != Some(key));
        if hooks.is_empty() {
            *hooks = Vec::new();
        }
    }

    /// Store a typed value on the socket, replacing any value of the same type. Once the
    /// socket has disconnected, nothing is kept.
    pub fn insert_extension<T: Any + Send + Sync>(&self, value: T) {
        self.inner.extensions.insert(value);
        // `close` marks the socket disconnected before it clears them: either it clears
        // this one, or this sees it gone and does (nothing outlives its socket).
        if !self.connected() {
            self.inner.extensions.clear();
        }
    }

    /// A value stored with [`Socket::insert_extension`].
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.extensions.get()
    }

    /// Remove a stored value.
    pub fn remove_extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.extensions.remove()
    }

    // ----- crate-internal plumbing -----

    /// Queue encoded frames in the reliable class.
    pub(crate) fn send_reliable(&self, frames: &[Frame]) -> Result<(), SendError> {
        self.send_frames(frames, Class::Reliable)
    }

    /// Queue frames for this client, buffering until the CONNECT reply is out (within the
    /// connection's byte budget). Overflow disconnects the client as a slow consumer.
    #[inline]
    pub(crate) fn send_frames(&self, frames: &[Frame], class: Class) -> Result<(), SendError> {
        if !self.inner.connected.load(Ordering::Acquire) {
            let mut st = self.inner.state.lock();
            match st.lifecycle {
                Lifecycle::Disconnected => return Err(SendError::Disconnected),
                Lifecycle::Pending => {
                    if class == Class::Volatile {
                        return Ok(());
                    }
                    let cost = crate::engine::cost(frames);
                    let buffered = st.buffered.get_or_insert_with(Box::default);
                    if buffered.bytes + cost > self.inner.ns.config().max_buffered_bytes {
                        drop(st);
                        self.inner.conn.slow_consumer();
                        return Err(SendError::SlowConsumer);
                    }
                    buffered.bytes += cost;
                    buffered.frames.push((frames.to_vec(), class));
                    return Ok(());
                }
                Lifecycle::Connected => {}
            }
        }
        self.inner
            .conn
            .send(frames, class)
            .map_err(|_| SendError::SlowConsumer)
    }

    /// Queue the newest state for `key` in the latest class (older queued state of the same
    /// key is dropped). Dropped while the socket is not live.
    #[inline]
    pub(crate) fn send_latest(&self, key: u64, frame: Frame) {
        if self.inner.connected.load(Ordering::Acquire) {
            self.inner.conn.send_latest(key, frame);
        }
    }

    /// The connection wrote nothing yet for this socket: write the CONNECT reply, then what
    /// the connect handler emitted, and go live.
    pub(crate) fn go_live(&self) {
        let mut st = self.inner.state.lock();
        if st.lifecycle != Lifecycle::Pending {
            return;
        }
        let mut data = serde_json::Map::new();
        data.insert("sid".into(), Value::String(self.inner.id.to_string()));
        if let Some(pid) = &self.inner.pid {
            data.insert("pid".into(), Value::String(pid.to_string()));
        }
        let reply = Packet::connect(self.inner.ns.name(), Some(Value::Object(data)));
        let frames = encode_control(self.codec(), &reply);
        // Over the budget the connection is cut (never a silent gap): the rest is moot.
        let mut sent = self.inner.conn.send(&frames, Class::Control);
        let buffered = st.buffered.take().map(|b| b.frames).unwrap_or_default();
        for (frames, class) in buffered {
            if sent.is_ok() {
                sent = self.inner.conn.send(&frames, class);
            }
        }
        st.lifecycle = Lifecycle::Connected;
        self.inner.connected.store(true, Ordering::Release);
    }

    /// Dispatch an event from the client. Returns the handler's future to run, if any.
    /// `payload` holds the arguments after the event name. An exactly-once emit (`tw:once`)
    /// is unwrapped and deduplicated first.
    pub(crate) fn dispatch_event(
        &self,
        name: &str,
        payload: Payload,
        ack_id: Option<u64>,
    ) -> Option<LocalFuture> {
        if name == super::dedupe::ONCE_EVENT {
            return super::dedupe::dispatch(self, payload, ack_id);
        }
        let ack = AckSender {
            socket: self.clone(),
            id: ack_id,
            once: None,
        };
        self.run_handler(name, payload, ack)
    }

    /// Run the handler of `name` (or the catch-all one) with `payload` and `ack`.
    pub(crate) fn run_handler(
        &self,
        name: &str,
        payload: Payload,
        ack: AckSender,
    ) -> Option<LocalFuture> {
        let handler = self.inner.handlers.read().get(name).cloned();
        match handler {
            Some(handler) => handler(name, self.clone(), payload, ack),
            None => {
                let any = self.inner.any_handler.read().clone();
                let mut payload = payload;
                if !payload.is_compact() {
                    payload.args_mut().insert(0, Value::String(name.to_owned()));
                }
                any.and_then(|h| h(name, self.clone(), payload, ack))
            }
        }
    }

    /// An ack from the client.
    pub(crate) fn resolve_ack(&self, id: u64, payload: Payload) {
        self.inner.acks.resolve(id, payload);
    }

    /// What this socket's exactly-once deduplication did so far.
    ///
    /// A client emit sent as `42<ack>["tw:once","<emit id>","<event>",...args]` (or its
    /// compact equivalent) runs the handler of `<event>` with `args` the first time the
    /// socket sees `<emit id>`; a duplicate gets the first run's answer for its own ack id
    /// (or waits for it), and never runs the handler again. The socket remembers the last
    /// [`Config::emit_dedupe_window`](crate::Config::emit_dedupe_window) emit ids (a copy of
    /// an id forgotten past it runs again) and up to
    /// [`Config::emit_dedupe_max_ack_bytes`](crate::Config::emit_dedupe_max_ack_bytes) of
    /// their answers; connection state recovery carries them over to the recovered socket.
    /// Clients: `tickwire_client::Client::emit_once_with_ack`, or `emitOnce` of
    /// `protocol/js/tickwire-once.js` for the official JS client.
    pub fn emit_dedupe_stats(&self) -> DedupeStats {
        self.inner
            .dedupe
            .lock()
            .as_ref()
            .map(|window| window.stats())
            .unwrap_or_default()
    }

    /// The emit ids and answers of exactly-once emits, as connection state recovery keeps
    /// them with the session.
    pub(crate) fn dedupe_state(&self) -> DedupeState {
        self.inner
            .dedupe
            .lock()
            .as_ref()
            .map(|window| window.state())
            .unwrap_or_default()
    }

    /// Take over a recovered session's emit ids and answers (before the socket goes live).
    pub(crate) fn restore_dedupe_state(&self, state: DedupeState) {
        if state.is_empty() {
            return;
        }
        self.with_dedupe(|window| window.restore(state));
    }

    /// Run `f` on this socket's window of exactly-once emit ids (allocating it first).
    pub(crate) fn with_dedupe<R>(&self, f: impl FnOnce(&mut DedupeWindow) -> R) -> R {
        let mut window = self.inner.dedupe.lock();
        let window =
            window.get_or_insert_with(|| Box::new(DedupeWindow::new(self.inner.ns.config())));
        f(window)
    }

    /// The private session id of connection state recovery, when it is on.
    pub(crate) fn recovery_pid(&self) -> Option<&str> {
        self.inner.pid.as_deref()
    }

    /// Tear the socket down once: leave every room, fail pending acks, run disconnect
    /// handlers. With `notify`, tell the client with a DISCONNECT packet first.
    pub(crate) fn close(&self, reason: DisconnectReason, notify: bool) {
        {
            let mut st = self.inner.state.lock();
            if st.lifecycle == Lifecycle::Disconnected {
                return;
            }
            let was_connected = st.lifecycle == Lifecycle::Connected;
            st.lifecycle = Lifecycle::Disconnected;
            st.closed_with = Some(reason);
            st.buffered = None;
            self.inner.connected.store(false, Ordering::Release);
            if notify && was_connected {
                let packet = Packet::disconnect(self.inner.ns.name());
                let frames = encode_control(self.codec(), &packet);
                // Over the budget the connection is cut, which tells the client as much.
                let _ = self.inner.conn.send(&frames, Class::Control);
            }
        }
        let mut rooms: Vec<String> = std::mem::take(&mut *self.inner.rooms.lock())
            .into_iter()
            .collect();
        self.inner.ns.remove_socket(&self.inner.id, &rooms);
        if self.in_own_room() {
            rooms.insert(0, self.inner.id.to_string());
        }
        if let Some(pid) = self.inner.pid.as_deref() {
            if super::recovery::recoverable(reason) {
                self.persist_session(pid, rooms);
            }
        }
        self.inner.acks.clear();
        self.run_disconnect_handlers(reason);
        self.inner.handlers.write().clear();
        *self.inner.any_handler.write() = None;
        self.inner.extensions.clear();
    }

    /// Keep the session of a socket that dropped for a recoverable reason: in the cluster's
    /// store when the adapter keeps one, else in the namespace's own log.
    fn persist_session(&self, pid: &str, rooms: Vec<String>) {
        let ns = &self.inner.ns;
        if let Some(shared) = ns.adapter().get().and_then(|a| a.shared_recovery()) {
            let session = super::shared_recovery::SessionRecord {
                sid: self.inner.id.clone(),
                rooms,
                // The emit ids already answered follow the session to any node.
                extra: serde_json::to_value(self.dedupe_state()).unwrap_or(Value::Null),
            };
            shared.persist(ns.name(), pid, session);
        } else if let Some(log) = &ns.0.recovery {
            let now = std::time::Instant::now();
            log.lock()
                .persist(pid, self.inner.id.clone(), rooms, self.dedupe_state(), now);
        }
    }
}

/// Emits to one socket that are dropped when its transport is busy.
#[derive(Debug)]
pub struct VolatileEmitter<'a> {
    socket: &'a Socket,
}

impl VolatileEmitter<'_> {
    /// Emit `event` with one argument, or drop it if the transport cannot write now.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        let s = self.socket;
        let frames = encode_event(s.encodes(), s.codec(), s.inner.ns.name(), event, data, None)?;
        s.send_frames(&frames, Class::Volatile)
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// Every connected socket holds one of these for its life, behind an `Arc` (16 bytes
    /// of counts): up to 304 bytes it takes the allocator's 320-byte class, past that 384
    /// (benches/README, "Idle memory, byte by byte").
    #[test]
    fn a_socket_stays_in_its_size_class() {
        let size = std::mem::size_of::<SocketInner>();
        assert!(size <= 304, "a socket is {size} bytes");
    }
}
