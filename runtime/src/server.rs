//! The server: configuration, namespaces, the session registry, and mounting into actix-web.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use parking_lot::RwLock;
use serde::Serialize;

use crate::actor::connection::{ConnHandle, Kill};
use crate::cluster::ClusterSlot;
use crate::config::Config;
use crate::connection_caps::{CapRefusal, ConnectionCaps};
use crate::error::SendError;
use crate::metrics::{Metrics, Snapshot};
use crate::namespace::{BroadcastOperator, Namespace, Setup};
use crate::socket::{DisconnectReason, Socket};
use crate::transport;

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub(crate) struct ServerInner {
    pub(crate) config: Arc<Config>,
    path: String,
    echo: bool,
    namespaces: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<(Matcher, Arc<Setup>)>>,
    dynamic_created: AtomicUsize,
    sessions: RwLock<HashMap<Arc<str>, Registered>>,
    caps: ConnectionCaps,
    ws_ids: AtomicU64,
    pub(crate) metrics: Arc<Metrics>,
    /// The scale-out bus, when a cluster adapter is attached.
    pub(crate) cluster: Arc<ClusterSlot>,
}

/// A session in the registry, with the peer address its place was taken for.
struct Registered {
    handle: ConnHandle,
    ip: Option<IpAddr>,
}

impl ServerInner {
    pub(crate) fn is_echo(&self) -> bool {
        self.echo
    }

    /// Take a place for a new session from `ip` (before starting it), or refuse: logged and
    /// counted.
    pub(crate) fn admit(&self, ip: Option<IpAddr>) -> Result<(), CapRefusal> {
        self.caps.admit(ip).inspect_err(|refusal| {
            tracing::warn!(?ip, reason = refusal.as_str(), "new session refused");
            self.metrics.refused(refusal.as_str());
        })
    }

    /// Whether a request with this `Origin` may open or use a session; a refusal is logged
    /// and counted.
    pub(crate) fn check_origin(&self, origin: Option<&[u8]>) -> bool {
        let allowed = self.config.origin_allowed(origin);
        if !allowed {
            let origin = origin.map(String::from_utf8_lossy);
            tracing::debug!(?origin, "request from a forbidden origin refused");
            self.metrics.refused("origin");
        }
        allowed
    }

    /// Register a session admitted with [`ServerInner::admit`] for the same `ip`.
    pub(crate) fn register(&self, sid: Arc<str>, handle: ConnHandle, ip: Option<IpAddr>) {
        self.sessions.write().insert(sid, Registered { handle, ip });
    }

    /// Forget a session and give its place back (once, however often it is called).
    pub(crate) fn unregister(&self, sid: &str) {
        let removed = self.sessions.write().remove(sid);
        if let Some(registered) = removed {
            self.caps.release(registered.ip);
        }
    }

    pub(crate) fn lookup(&self, sid: &str) -> Option<ConnHandle> {
        self.sessions.read().get(sid).map(|r| r.handle.clone())
    }

    fn handles(&self) -> Vec<ConnHandle> {
        self.sessions
            .read()
            .values()
            .map(|r| r.handle.clone())
            .collect()
    }

    /// The names of the namespaces declared or created so far.
    pub(crate) fn namespace_names(&self) -> Vec<String> {
        self.namespaces.read().keys().cloned().collect()
    }

    /// The namespace named `name`, if declared or already created.
    pub(crate) fn namespace(&self, name: &str) -> Option<Namespace> {
        self.namespaces.read().get(name).cloned()
    }

    pub(crate) fn next_ws_id(&self) -> u64 {
        self.ws_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The namespace a CONNECT names: a static one, or a new child of a dynamic matcher
    /// (within `max_dynamic_namespaces`).
    pub(crate) fn namespace_for_connect(&self, name: &str) -> Option<Namespace> {
        if let Some(ns) = self.namespaces.read().get(name) {
            return Some(ns.clone());
        }
        let setup = {
            let dynamic = self.dynamic.read();
            dynamic
                .iter()
                .find(|(matcher, _)| matcher(name))
                .map(|(_, setup)| setup.clone())?
        };
        let mut namespaces = self.namespaces.write();
        if let Some(ns) = namespaces.get(name) {
            return Some(ns.clone());
        }
        // Names are the clients' choice: namespaces nobody uses any more give their place
        // back (amortized: only when a new one is created).
        let now = std::time::Instant::now();
        let mut reclaimed = Vec::new();
        namespaces.retain(|name, ns| {
            let idle = ns.reclaim_if_idle(now);
            if idle {
                reclaimed.push(name.clone());
            }
            !idle
        });
        if !reclaimed.is_empty() {
            self.dynamic_created
                .fetch_sub(reclaimed.len(), Ordering::Relaxed);
            tracing::debug!(count = reclaimed.len(), "idle dynamic namespaces removed");
            for name in &reclaimed {
                self.cluster.namespace_removed(name);
            }
        }
        if self.dynamic_created.load(Ordering::Relaxed) >= self.config.max_dynamic_namespaces {
            tracing::warn!(
                namespace = name,
                "dynamic namespace limit reached; refusing"
            );
            return None;
        }
        self.dynamic_created.fetch_add(1, Ordering::Relaxed);
        let ns = Namespace::new(
            name.to_owned(),
            setup,
            self.config.clone(),
            self.cluster.clone(),
            true,
        );
        namespaces.insert(name.to_owned(), ns.clone());
        drop(namespaces);
        self.cluster.namespace_added(name);
        Some(ns)
    }
}

/// A Socket.IO server to mount into an actix-web `App`.
///
/// ```no_run
/// use actix_web::{App, HttpServer};
/// use tickwire::{Data, SocketIo};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let io = SocketIo::builder().build();
///     io.ns("/", |socket| {
///         socket.on("ping", |_socket, Data(value): Data<serde_json::Value>, ack| async move {
///             ack.send(&value).ok();
///         });
///     });
///     HttpServer::new(move || App::new().configure(io.service()))
///         .bind(("127.0.0.1", 3000))?
///         .run()
///         .await
/// }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    pub(crate) inner: Arc<ServerInner>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Builds a [`SocketIo`]; every option has the default of [`Config`].
#[derive(Debug, Clone)]
pub struct SocketIoBuilder {
    config: Config,
    path: String,
}

impl SocketIoBuilder {
    /// Mount path (default `/socket.io`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// Time between server pings.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.engine.ping_interval = d;
        self
    }

    /// How long to wait for a pong.
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.engine.ping_timeout = d;
        self
    }

    /// How long an upgrade may take.
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.engine.upgrade_timeout = d;
        self
    }

    /// Largest accepted message or polling body, in bytes.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.config.engine.max_payload = bytes;
        self
    }

    /// How long a connection may take to join its first namespace.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Most bytes waiting in one connection's outbound queue (every frame counts).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.config.max_buffered_bytes = bytes;
        self
    }

    /// How long queued frames may wait without the transport writing any of them.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.config.write_timeout = d;
        self
    }

    /// Most open Engine.IO sessions, in all and from one peer address.
    pub fn max_connections(mut self, total: usize, per_ip: usize) -> Self {
        self.config.max_connections = total;
        self.config.max_connections_per_ip = per_ip;
        self
    }

    /// Allow sessions from pages of `origin` only (call once per origin; `*` for any).
    /// Requests without an `Origin` header (non-browser clients) are always allowed.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.allowed_origins.push(origin.into());
        self
    }

    /// Most acks a socket may await at once.
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        self.config.max_pending_acks = n;
        self
    }

    /// Turn on connection state recovery: a client that drops abnormally and reconnects within
    /// the window gets its socket id, its rooms and the broadcasts it missed.
    pub fn connection_state_recovery(mut self, config: crate::RecoveryConfig) -> Self {
        self.config.recovery = Some(config);
        self
    }

    /// Allow cross-origin polling from `origin` (`*` for any).
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.cors_origins.push(origin.into());
        self
    }

    /// Replace the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Build the Socket.IO server.
    pub fn build(self) -> SocketIo {
        self.build_inner(false)
    }

    /// Build a raw Engine.IO endpoint that echoes every message back (text stays text,
    /// binary stays binary): the server the Engine.IO protocol test suite expects.
    pub fn build_engine_echo(self) -> SocketIo {
        self.build_inner(true)
    }

    fn build_inner(self, echo: bool) -> SocketIo {
        let caps = ConnectionCaps::new(
            self.config.max_connections,
            self.config.max_connections_per_ip,
        );
        SocketIo {
            inner: Arc::new(ServerInner {
                config: Arc::new(self.config),
                path: self.path,
                echo,
                namespaces: RwLock::new(HashMap::new()),
                dynamic: RwLock::new(Vec::new()),
                dynamic_created: AtomicUsize::new(0),
                sessions: RwLock::new(HashMap::new()),
                caps,
                ws_ids: AtomicU64::new(0),
                metrics: Arc::new(Metrics::new()),
                cluster: Arc::new(ClusterSlot::new()),
            }),
        }
    }
}

impl SocketIo {
    /// A builder with the defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder {
            config: Config::default(),
            path: "/socket.io".to_owned(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Declare namespace `name` with the handler that runs for each socket joining it (after
    /// the middlewares). The handler registers the socket's event handlers; they are all in
    /// place before the client learns it is connected, so no early event is lost.
    pub fn ns(&self, name: &str, on_connect: impl Fn(Socket) + Send + Sync + 'static) -> Namespace {
        let setup = Arc::new(Setup {
            connect: Arc::new(on_connect),
            middlewares: RwLock::new(Vec::new()),
        });
        let ns = Namespace::new(
            name.to_owned(),
            setup,
            self.inner.config.clone(),
            self.inner.cluster.clone(),
            false,
        );
        self.inner
            .namespaces
            .write()
            .insert(name.to_owned(), ns.clone());
        self.inner.cluster.namespace_added(name);
        ns
    }

    /// Declare namespaces created on demand: the first CONNECT to a name that `matcher`
    /// accepts creates it, with `on_connect` as its handler. Returns a handle to add
    /// middlewares shared by all of them.
    pub fn dynamic_ns(
        &self,
        matcher: impl Fn(&str) -> bool + Send + Sync + 'static,
        on_connect: impl Fn(Socket) + Send + Sync + 'static,
    ) -> DynamicNamespace {
        let setup = Arc::new(Setup {
            connect: Arc::new(on_connect),
            middlewares: RwLock::new(Vec::new()),
        });
        self.inner
            .dynamic
            .write()
            .push((Arc::new(matcher), setup.clone()));
        DynamicNamespace { setup }
    }

    /// The namespace named `name`, if declared or already created.
    pub fn of(&self, name: &str) -> Option<Namespace> {
        self.inner.namespace(name)
    }

    fn main_ns(&self) -> Namespace {
        self.of("/").unwrap_or_else(|| self.ns("/", |_| {}))
    }

    /// Broadcast to every socket of `/`.
    pub fn emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        self.main_ns().emit(event, data)
    }

    /// [`Namespace::server_side_emit`] on `/`: an event for the other nodes' server-side
    /// handlers.
    pub fn server_side_emit(&self, event: &str, data: &impl Serialize) -> Result<(), SendError> {
        self.main_ns().server_side_emit(event, data)
    }

    /// Broadcast to `room` of `/`.
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.main_ns().to(room)
    }

    /// Number of open Engine.IO connections.
    pub fn connection_count(&self) -> usize {
        self.inner.sessions.read().len()
    }

    /// Current counts: open connections, live connection actors, sockets and room
    /// memberships over all namespaces. After every client has gone, all are zero.
    pub fn stats(&self) -> ServerStats {
        let namespaces: Vec<Namespace> = self.inner.namespaces.read().values().cloned().collect();
        let mut stats = ServerStats {
            connections: self.inner.sessions.read().len(),
            connection_actors: self.inner.metrics.live_actors().max(0) as usize,
            ..ServerStats::default()
        };
        for ns in namespaces {
            stats.sockets += ns.socket_count();
            stats.room_memberships += ns.membership_count();
        }
        let handles = self.inner.handles();
        for handle in &handles {
            let (frames, bytes) = handle.outbox.depth();
            stats.queued_frames += frames;
            stats.queued_bytes += bytes;
            stats.parked_polls += usize::from(handle.outbox.poll_parked());
        }
        stats
    }

    fn queued(&self) -> (usize, usize) {
        let handles = self.inner.handles();
        handles.iter().fold((0, 0), |(f, b), h| {
            let (hf, hb) = h.outbox.depth();
            (f + hf, b + hb)
        })
    }

    /// Every counter and gauge of this server (and of the process's match rooms) in the
    /// Prometheus text format.
    pub async fn metrics_text(&self) -> String {
        let matches = crate::actor::matchroom::list_matches().await;
        let (queued_frames, queued_bytes) = self.queued();
        let namespaces: Vec<Namespace> = self.inner.namespaces.read().values().cloned().collect();
        let connections = self.inner.sessions.read().len();
        let snapshot = Snapshot {
            connections,
            queued_frames,
            queued_bytes,
            namespaces: namespaces
                .iter()
                .map(|ns| (ns.name().to_owned(), ns.socket_count(), ns.room_count()))
                .collect(),
            matches,
            cluster: if self.inner.cluster.is_attached() {
                self.inner.cluster.counters.snapshot()
            } else {
                Vec::new()
            },
        };
        self.inner.metrics.encode(&snapshot)
    }

    /// A ready-made Prometheus endpoint: `App::new().configure(io.metrics_service("/metrics"))`.
    pub fn metrics_service(
        &self,
        path: &str,
    ) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let io = self.clone();
        let path = path.to_owned();
        move |cfg: &mut web::ServiceConfig| {
            let io = io.clone();
            cfg.route(
                &path,
                web::get().to(move || {
                    let io = io.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("text/plain; version=0.0.4; charset=utf-8")
                            .body(io.metrics_text().await)
                    }
                }),
            );
        }
    }

    /// Disconnect every client (reason `server shutting down`).
    pub fn close(&self) {
        let handles = self.inner.handles();
        for handle in handles {
            // One per connection, once.
            handle
                .addr
                .do_send(Kill(DisconnectReason::ServerShuttingDown));
        }
    }

    /// The actix-web configuration that mounts this server at its path:
    /// `App::new().configure(io.service())`.
    pub fn service(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let inner = self.inner.clone();
        move |cfg: &mut web::ServiceConfig| transport::configure(cfg, inner.clone())
    }
}

impl ServerInner {
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// Current counts of a server ([`SocketIo::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Open Engine.IO connections (registry entries).
    pub connections: usize,
    /// Live connection actors.
    pub connection_actors: usize,
    /// Connected sockets over all namespaces.
    pub sockets: usize,
    /// Room memberships over all namespaces (each socket's own room included).
    pub room_memberships: usize,
    /// Frames waiting in outbound queues.
    pub queued_frames: usize,
    /// Bytes waiting in outbound queues.
    pub queued_bytes: usize,
    /// Long-polling GETs held open, waiting for something to send.
    pub parked_polls: usize,
}

/// Namespaces created on demand by [`SocketIo::dynamic_ns`].
#[derive(Clone)]
pub struct DynamicNamespace {
    setup: Arc<Setup>,
}

impl std::fmt::Debug for DynamicNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamicNamespace").finish()
    }
}

impl DynamicNamespace {
    /// Add a connect middleware to every namespace this matcher creates.
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), crate::ConnectError>> + 'static,
    {
        let erased: crate::namespace::Middleware =
            Arc::new(move |socket| Box::pin(middleware(socket)));
        self.setup.middlewares.write().push(erased);
        self
    }
}
