//! [`Namespace`]: a namespace's handlers (connect, middlewares, server-side events), its
//! room index and its recovery log; broadcasts start here ([`Namespace::broadcast`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use actix::{Actor, Addr, System};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::adapter::AdapterSlot;
use super::admission::NamespaceActor;
use super::broadcast::BroadcastOperator;
use super::codec::EncodeCounters;
use super::error::{ConnectError, SendError};
use super::payload::{FromPayload, Payload};
use super::recovery::RecoveryLog;
use super::rooms::RoomIndex;
use super::socket::{Socket, SocketId};
use crate::config::Config;

pub(crate) type ConnectHandler = Arc<dyn Fn(Socket) + Send + Sync>;
pub(crate) type MiddlewareFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>>>>;
pub(crate) type Middleware = Arc<dyn Fn(Socket) -> MiddlewareFuture + Send + Sync>;
type ServerEventHandler = Arc<dyn Fn(Payload) + Send + Sync>;

/// What runs when a client joins a namespace: middlewares, then the connect handler.
pub(crate) struct Setup {
    pub(crate) connect: ConnectHandler,
    pub(crate) middlewares: RwLock<Vec<Middleware>>,
}

/// What every namespace of one server shares: its configuration, adapter and counters.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) adapter: Arc<AdapterSlot>,
    pub(crate) encodes: Arc<EncodeCounters>,
}

pub(crate) struct NamespaceInner {
    name: String,
    pub(crate) setup: Arc<Setup>,
    pub(crate) shared: Shared,
    pub(crate) index: RoomIndex,
    ack_ids: AtomicU64,
    /// The admission actor, once started. It holds this namespace only weakly: actix stops
    /// an actor once no address of it is left, so a strong reference back would keep both
    /// (and the recovery log) alive after the namespace is dropped (e.g. reclaimed).
    actor: OnceLock<Addr<NamespaceActor>>,
    pub(crate) recovery: Option<Mutex<RecoveryLog>>,
    /// Handlers of events other nodes send with `server_side_emit`.
    server_events: RwLock<HashMap<String, ServerEventHandler>>,
    /// Created on demand by a dynamic matcher: removed once empty for a grace period.
    dynamic: bool,
    /// Since when a dynamic namespace has had no socket.
    empty_since: Mutex<Option<Instant>>,
    /// Removed from its server: no socket enters it any more.
    reclaimed: AtomicBool,
}

/// A namespace that does not keep it alive (what its admission actor holds).
#[derive(Clone)]
pub(crate) struct WeakNamespace(Weak<NamespaceInner>);

impl WeakNamespace {
    /// The namespace, unless it has been dropped.
    pub(crate) fn upgrade(&self) -> Option<Namespace> {
        self.0.upgrade().map(Namespace)
    }
}

/// A namespace: a handle to broadcast to its sockets and to manage its rooms.
///
/// Room membership is an index read under a shared lock, not an actor: `join` is immediate
/// and a broadcast right after a join reaches the new member.
#[derive(Clone)]
pub struct Namespace(pub(crate) Arc<NamespaceInner>);

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Namespace").field(&self.0.name).finish()
    }
}

impl Namespace {
    pub(crate) fn new(name: String, setup: Arc<Setup>, shared: Shared, dynamic: bool) -> Namespace {
        let recovery = shared
            .config
            .recovery
            .clone()
            .map(|c| Mutex::new(RecoveryLog::new(c)));
        Namespace(Arc::new(NamespaceInner {
            recovery,
            name,
            setup,
            shared,
            index: RoomIndex::default(),
            ack_ids: AtomicU64::new(0),
            actor: OnceLock::new(),
            server_events: RwLock::new(HashMap::new()),
            dynamic,
            empty_since: Mutex::new(dynamic.then(Instant::now)),
            reclaimed: AtomicBool::new(false),
        }))
    }

    /// The namespace's name, e.g. `/` or `/chat`.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub(crate) fn config(&self) -> &Config {
        &self.0.shared.config
    }

    pub(crate) fn encodes(&self) -> &EncodeCounters {
        &self.0.shared.encodes
    }

    pub(crate) fn adapter(&self) -> &AdapterSlot {
        &self.0.shared.adapter
    }

    /// For a dynamic namespace empty for longer than its grace at `now`: mark it reclaimed
    /// (no socket enters it any more) and return true. The server then forgets it.
    pub(crate) fn reclaim_if_idle(&self, now: Instant) -> bool {
        if !self.0.dynamic {
            return false;
        }
        let grace = self.config().dynamic_namespace_grace;
        // Under the sockets' lock, as `insert_socket` checks the flag.
        self.0.index.if_empty(|| {
            let idle = self
                .0
                .empty_since
                .lock()
                .is_some_and(|since| now.saturating_duration_since(since) >= grace);
            if idle {
                self.0.reclaimed.store(true, Ordering::Release);
            }
            idle
        })
    }

    /// Send `event` with one argument to this namespace on the other nodes of the cluster
    /// (their [`Namespace::on_server_event`] handlers; never to clients). Nothing happens
    /// on a single node.
    pub fn server_side_emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        let Some(adapter) = self.adapter().get() else {
            return Ok(());
        };
        let payload = Payload::new().arg(data)?;
        adapter.server_side_emit(self.name(), event, &payload)
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

    /// A reference to this namespace that does not keep it alive.
    pub(crate) fn downgrade(&self) -> WeakNamespace {
        WeakNamespace(Arc::downgrade(&self.0))
    }

    /// The actor that admits connections, started on first use on the system arbiter. It
    /// stops once this namespace is dropped (and what it was admitting is done).
    pub(crate) fn actor(&self) -> Addr<NamespaceActor> {
        self.0
            .actor
            .get_or_init(|| {
                let (ns, name) = (self.downgrade(), self.name().to_owned());
                NamespaceActor::start_in_arbiter(&System::current().arbiter().clone(), move |_| {
                    NamespaceActor::new(ns, name)
                })
            })
            .clone()
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.0.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.0.index.socket_count()
    }

    /// The names of the rooms with members (sockets' private rooms included).
    #[cfg(feature = "redis")]
    pub(crate) fn room_names(&self) -> Vec<String> {
        self.0.index.room_names()
    }

    /// Number of rooms with members (sockets' private rooms included).
    pub fn room_count(&self) -> usize {
        self.0.index.room_count()
    }

    /// Room memberships (sum of room sizes).
    pub fn membership_count(&self) -> usize {
        self.0.index.membership_count()
    }

    /// Members of `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.0.index.room_size(room)
    }

    /// The socket with id `sid`, if connected here.
    pub fn get_socket(&self, sid: &str) -> Option<Socket> {
        self.0.index.get(sid)
    }

    /// Add a socket; false when the namespace was reclaimed meanwhile.
    pub(crate) fn insert_socket(&self, socket: &Socket) -> bool {
        let inserted = self
            .0
            .index
            .insert(socket, || self.0.reclaimed.load(Ordering::Acquire));
        if !inserted {
            return false;
        }
        if self.0.dynamic {
            *self.0.empty_since.lock() = None;
        }
        true
    }

    pub(crate) fn index_join(&self, sid: &SocketId, room: String) {
        self.0.index.join(sid, room);
    }

    pub(crate) fn index_leave(&self, sid: &SocketId, room: &str) {
        self.0.index.leave(sid, room);
    }

    pub(crate) fn remove_socket(&self, sid: &SocketId, rooms: &[String]) {
        let now_empty = self.0.index.remove(sid, rooms);
        if self.0.dynamic && now_empty {
            *self.0.empty_since.lock() = Some(Instant::now());
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
