//! [`SocketIo`]: one Socket.IO server: its engine, its namespaces, what other layers keep on
//! it (extensions, metrics sources, shutdown hooks), and mounting into actix-web.
//!
//! Everything a server holds is its own: two servers in one process share no registry,
//! counter, worker list or shutdown.

use std::any::Any;
use std::sync::Arc;

use actix::ArbiterHandle;
use actix_web::web;
use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use serde::Serialize;

use super::adapter::{Adapter, AdapterSlot};
use super::broadcast::BroadcastOperator;
use super::builder::SocketIoBuilder;
use super::codec::EncodeCounters;
use super::error::SendError;
use super::extensions::Extensions;
use super::metrics::{Metrics, Snapshot};
use super::namespace::{Middleware, Namespace, Setup, Shared};
use super::registry::{Namespaces, SocketIoUpper};
use super::socket::Socket;
use crate::config::Config;
use crate::engine::{self, CloseCause, Codec, Echo, Engine, Upper};

type ShutdownHook = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

pub(crate) struct ServerInner {
    pub(crate) engine: Arc<Engine>,
    pub(crate) namespaces: Arc<Namespaces>,
    metrics: Metrics,
    extensions: Extensions,
    shutdown_hooks: RwLock<Vec<ShutdownHook>>,
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
            .field("path", &self.inner.engine.path())
            .finish()
    }
}

impl SocketIo {
    /// A builder with the defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::default()
    }

    pub(crate) fn new(config: Config, path: String, echo: bool) -> SocketIo {
        let config = Arc::new(config);
        let shared = Shared {
            config: config.clone(),
            adapter: Arc::new(AdapterSlot::default()),
            encodes: Arc::new(EncodeCounters::default()),
        };
        let namespaces = Arc::new(Namespaces::new(shared));
        let upper: Arc<dyn Upper> = if echo {
            Arc::new(Echo)
        } else {
            Arc::new(SocketIoUpper(namespaces.clone()))
        };
        let engine = Arc::new(Engine::new(config, path, upper));
        SocketIo {
            inner: Arc::new(ServerInner {
                metrics: Metrics::new(engine.metrics.clone()),
                engine,
                namespaces,
                extensions: Extensions::default(),
                shutdown_hooks: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.engine.config
    }

    /// Declare namespace `name` with the handler that runs for each socket joining it (after
    /// the middlewares). The handler registers the socket's event handlers; they are all in
    /// place before the client learns it is connected, so no early event is lost.
    pub fn ns(&self, name: &str, on_connect: impl Fn(Socket) + Send + Sync + 'static) -> Namespace {
        let setup = Arc::new(Setup {
            connect: Arc::new(on_connect),
            middlewares: RwLock::new(Vec::new()),
        });
        self.inner.namespaces.declare(name, setup)
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
            .namespaces
            .declare_dynamic(Arc::new(matcher), setup.clone());
        DynamicNamespace { setup }
    }

    /// The namespace named `name`, if declared or already created.
    pub fn of(&self, name: &str) -> Option<Namespace> {
        self.inner.namespaces.get(name)
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
        self.inner.engine.session_count()
    }

    /// Current counts: open connections, live connection actors, sockets, room memberships
    /// and queued frames over all namespaces. After every client has gone, all are zero.
    pub fn stats(&self) -> ServerStats {
        let engine = &self.inner.engine;
        let mut stats = ServerStats {
            connections: engine.session_count(),
            connection_actors: engine.metrics.live_actors().max(0) as usize,
            ..ServerStats::default()
        };
        for ns in self.inner.namespaces.all() {
            stats.sockets += ns.socket_count();
            stats.room_memberships += ns.membership_count();
        }
        for handle in engine.handles() {
            let (frames, bytes) = handle.outbox.depth();
            stats.queued_frames += frames;
            stats.queued_bytes += bytes;
            stats.parked_polls += usize::from(handle.outbox.poll_parked());
        }
        stats
    }

    /// Events this server encoded with `codec` so far: a broadcast costs at most one per
    /// codec present among its targets, however many they are.
    pub fn encode_count(&self, codec: Codec) -> u64 {
        self.inner.namespaces.shared.encodes.get(codec)
    }

    /// Every counter and gauge of this server (and what other parts added with
    /// [`SocketIo::add_metrics`], such as its matches) in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let stats = self.stats();
        let namespaces = self.inner.namespaces.all();
        let shared = &self.inner.namespaces.shared;
        let snapshot = Snapshot {
            connections: stats.connections,
            queued_frames: stats.queued_frames,
            queued_bytes: stats.queued_bytes,
            namespaces: namespaces
                .iter()
                .map(|ns| (ns.name().to_owned(), ns.socket_count(), ns.room_count()))
                .collect(),
            encodes: [
                shared.encodes.get(Codec::Json),
                shared.encodes.get(Codec::Compact),
            ],
            cluster: shared
                .adapter
                .get()
                .map(|adapter| adapter.counters())
                .unwrap_or_default(),
        };
        self.inner.metrics.encode(&snapshot)
    }

    /// Add metric families to [`SocketIo::metrics_text`]: `write` appends them to the text
    /// at each scrape, in the Prometheus text format, without the final `# EOF`.
    pub fn add_metrics(&self, write: impl Fn(&mut String) + Send + Sync + 'static) {
        self.inner.metrics.add_source(Arc::new(write));
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
                            .body(io.metrics_text())
                    }
                }),
            );
        }
    }

    /// Disconnect every client now (reason `server shutting down`).
    pub fn close(&self) {
        self.inner.engine.close_all(CloseCause::ServerShuttingDown);
    }

    /// Run `hook` on [`SocketIo::shutdown`], before the clients are disconnected (the game
    /// layer ends its matches there).
    pub fn on_shutdown<F, Fut>(&self, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let hook: ShutdownHook = Arc::new(move || Box::pin(hook()));
        self.inner.shutdown_hooks.write().push(hook);
    }

    /// Shut this server down: run its shutdown hooks (matches end, reason `server shutting
    /// down`), then disconnect every client. Call it from your shutdown path before stopping
    /// the HTTP server.
    pub async fn shutdown(&self) {
        let hooks: Vec<ShutdownHook> = self.inner.shutdown_hooks.read().clone();
        for hook in hooks {
            hook().await;
        }
        self.close();
    }

    /// The value of type `T` stored on this server, stored from `init` first if there is
    /// none (once, however many callers race). Parts built on a server keep their state
    /// here, e.g. the server's match registry.
    pub fn extension_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        self.inner.extensions.get_or_init(init)
    }

    /// The value of type `T` stored on this server, if any.
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.extensions.get()
    }

    /// The worker threads serving this server (each registers itself when it mounts the
    /// server), in the order they did; empty before the HTTP server has started. Spawn
    /// actors on them to spread work over the cores, as matches are.
    pub fn workers(&self) -> Vec<ArbiterHandle> {
        self.inner.engine.workers()
    }

    /// The actix-web configuration that mounts this server at its path:
    /// `App::new().configure(io.service())`.
    pub fn service(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        let engine = self.inner.engine.clone();
        move |cfg: &mut web::ServiceConfig| engine::configure(cfg, engine.clone())
    }

    /// The server's encode counters (what the layers above encode with).
    pub(crate) fn encode_counters(&self) -> Arc<EncodeCounters> {
        self.inner.namespaces.shared.encodes.clone()
    }

    /// Attach a cluster adapter; false when one is attached already.
    pub(crate) fn attach_adapter(&self, adapter: Arc<dyn Adapter>) -> bool {
        let attached = self.inner.namespaces.shared.adapter.attach(adapter.clone());
        if attached {
            if let Some(routes) = adapter.session_routes() {
                self.inner.engine.set_routes(routes);
            }
            for name in self.inner.namespaces.names() {
                adapter.namespace_added(&name);
            }
        }
        attached
    }

    /// Whether a cluster adapter is attached.
    pub(crate) fn has_adapter(&self) -> bool {
        self.inner.namespaces.shared.adapter.is_attached()
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
        Fut: std::future::Future<Output = Result<(), super::error::ConnectError>> + 'static,
    {
        let erased: Middleware = Arc::new(move |socket| Box::pin(middleware(socket)));
        self.setup.middlewares.write().push(erased);
        self
    }
}
