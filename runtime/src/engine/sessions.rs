//! [`Engine`]: one server's Engine.IO side: its sessions, connection caps, worker threads
//! and the protocol above it. Every value here belongs to one server: two servers in one
//! process share nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix::{Arbiter, ArbiterHandle};
use parking_lot::RwLock;

use super::caps::{CapRefusal, ConnectionCaps};
use super::limiter::InboundLimits;
use super::metrics::EngineMetrics;
use super::routes::SessionRoutes;
use super::upper::Upper;
use super::{CloseCause, ConnHandle};
use crate::config::Config;

/// An Engine.IO session id (the `sid` of the handshake), distinct from a Socket.IO socket id.
pub(crate) type SessionId = Arc<str>;

/// A session in the registry, with the peer address its place was taken for.
struct Registered {
    handle: ConnHandle,
    ip: Option<IpAddr>,
}

/// The Engine.IO side of one server.
pub(crate) struct Engine {
    pub(crate) config: Arc<Config>,
    /// The Engine.IO limits of `config`, shared by every session's protocol state.
    pub(crate) session_config: Arc<tickwire_protocol::engineio::Config>,
    path: String,
    pub(crate) upper: Arc<dyn Upper>,
    sessions: RwLock<HashMap<SessionId, Registered>>,
    caps: ConnectionCaps,
    ws_ids: AtomicU64,
    pub(crate) metrics: Arc<EngineMetrics>,
    /// The inbound limits every connection is judged against.
    pub(crate) inbound: InboundLimits,
    /// The worker threads serving this server (each registers itself when it mounts it).
    workers: RwLock<Vec<(std::thread::ThreadId, ArbiterHandle)>>,
    /// Where the sessions of other nodes live, once a cluster that forwards is attached.
    routes: OnceLock<Arc<dyn SessionRoutes>>,
}

impl Engine {
    pub(crate) fn new(config: Arc<Config>, path: String, upper: Arc<dyn Upper>) -> Engine {
        let caps = ConnectionCaps::new(config.max_connections, config.max_connections_per_ip);
        let inbound = InboundLimits::new(
            config.max_inbound_messages_per_sec,
            config.max_inbound_bytes_per_sec,
        );
        Engine {
            session_config: Arc::new(config.engine),
            config,
            path,
            upper,
            sessions: RwLock::new(HashMap::new()),
            caps,
            ws_ids: AtomicU64::new(0),
            metrics: Arc::default(),
            inbound,
            workers: RwLock::new(Vec::new()),
            routes: OnceLock::new(),
        }
    }

    /// The mount path, e.g. `/socket.io`.
    pub(crate) fn path(&self) -> &str {
        &self.path
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

    /// Register a session admitted with [`Engine::admit`] for the same `ip`.
    pub(crate) fn register(&self, sid: SessionId, handle: ConnHandle, ip: Option<IpAddr>) {
        self.sessions.write().insert(sid, Registered { handle, ip });
    }

    /// Forget a session and give its place back (once, however often it is called).
    pub(crate) fn unregister(&self, sid: &str) {
        let removed = self.sessions.write().remove(sid);
        if let Some(registered) = removed {
            self.caps.release(registered.ip);
        }
    }

    /// Route requests for sessions of other nodes with `routes` (once; false when routes
    /// are set already). New session ids carry this node's tag from now on.
    pub(crate) fn set_routes(&self, routes: Arc<dyn SessionRoutes>) -> bool {
        self.routes.set(routes).is_ok()
    }

    /// The routes to other nodes' sessions, in a cluster that forwards.
    pub(crate) fn routes(&self) -> Option<&dyn SessionRoutes> {
        self.routes.get().map(|r| &**r)
    }

    /// This node's tag in session ids, in a cluster that forwards.
    pub(crate) fn own_tag(&self) -> Option<&str> {
        self.routes().map(|r| r.own_tag())
    }

    /// A new session id: random, and tagged with this node in a cluster that forwards.
    pub(crate) fn new_sid(&self) -> SessionId {
        use tickwire_protocol::engineio::handshake::{sid_from_entropy, tagged_sid_from_entropy};
        let entropy = rand::random();
        self.own_tag()
            .and_then(|tag| tagged_sid_from_entropy(tag, entropy))
            .unwrap_or_else(|| sid_from_entropy(entropy))
            .into()
    }

    pub(crate) fn lookup(&self, sid: &str) -> Option<ConnHandle> {
        self.sessions.read().get(sid).map(|r| r.handle.clone())
    }

    /// Every open session.
    pub(crate) fn handles(&self) -> Vec<ConnHandle> {
        self.sessions
            .read()
            .values()
            .map(|r| r.handle.clone())
            .collect()
    }

    /// Open sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.read().len()
    }

    pub(crate) fn next_ws_id(&self) -> u64 {
        self.ws_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Close every session for `cause`.
    pub(crate) fn close_all(&self, cause: CloseCause) {
        for handle in self.handles() {
            handle.close(cause);
        }
    }

    /// Make the current thread's arbiter one of this server's workers (once per thread).
    /// Each HTTP worker calls it when it mounts the server.
    pub(crate) fn register_current_worker(&self) {
        let Some(arbiter) = Arbiter::try_current() else {
            return;
        };
        let thread = std::thread::current().id();
        let mut workers = self.workers.write();
        if !workers.iter().any(|(t, _)| *t == thread) {
            workers.push((thread, arbiter));
        }
    }

    /// The worker threads serving this server, in the order they mounted it.
    pub(crate) fn workers(&self) -> Vec<ArbiterHandle> {
        self.workers.read().iter().map(|(_, a)| a.clone()).collect()
    }

    /// Where the first worker runs, seen from the current thread: where a task that serves
    /// every worker (a node's publisher to Redis, its channel's reader) belongs once the
    /// server runs, so that the thread of the sockets and matches hands it messages without
    /// waking another thread.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
    pub(crate) fn first_worker(&self) -> FirstWorker {
        match self.workers.read().first() {
            None => FirstWorker::NotYet,
            Some((thread, _)) if *thread == std::thread::current().id() => FirstWorker::Here,
            Some((_, arbiter)) => FirstWorker::Elsewhere(arbiter.clone()),
        }
    }
}

/// Where a server's first worker runs, seen from the current thread.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // used by the cluster layer only
pub(crate) enum FirstWorker {
    /// No worker has started yet.
    NotYet,
    /// On this thread.
    Here,
    /// On another thread.
    Elsewhere(ArbiterHandle),
}
