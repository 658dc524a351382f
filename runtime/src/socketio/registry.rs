//! [`Namespaces`]: one server's namespaces (declared ones, and those created on demand by a
//! dynamic matcher), and the engine's upper for Socket.IO: each new Engine.IO session gets a
//! [`SioSession`] over them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use super::handshake::Handshake;
use super::namespace::{Namespace, Setup, Shared};
use super::session::SioSession;
use crate::config::Config;
use crate::engine::{ConnHandle, RequestInfo, SessionHandler, Upper};

type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The namespaces of one server.
pub(crate) struct Namespaces {
    pub(crate) config: Arc<Config>,
    pub(crate) shared: Shared,
    map: RwLock<HashMap<String, Namespace>>,
    dynamic: RwLock<Vec<(Matcher, Arc<Setup>)>>,
    dynamic_created: AtomicUsize,
}

impl Namespaces {
    pub(crate) fn new(shared: Shared) -> Namespaces {
        Namespaces {
            config: shared.config.clone(),
            shared,
            map: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
            dynamic_created: AtomicUsize::new(0),
        }
    }

    /// Declare namespace `name` with `setup` (replacing one of the same name).
    pub(crate) fn declare(&self, name: &str, setup: Arc<Setup>) -> Namespace {
        let ns = Namespace::new(name.to_owned(), setup, self.shared.clone(), false);
        self.map.write().insert(name.to_owned(), ns.clone());
        if let Some(adapter) = self.shared.adapter.get() {
            adapter.namespace_added(name);
        }
        ns
    }

    /// Namespaces named by `matcher` are created on demand with `setup`.
    pub(crate) fn declare_dynamic(&self, matcher: Matcher, setup: Arc<Setup>) {
        self.dynamic.write().push((matcher, setup));
    }

    /// The names of the namespaces declared or created so far.
    pub(crate) fn names(&self) -> Vec<String> {
        self.map.read().keys().cloned().collect()
    }

    /// The namespace named `name`, if declared or already created.
    pub(crate) fn get(&self, name: &str) -> Option<Namespace> {
        self.map.read().get(name).cloned()
    }

    /// Every namespace now.
    pub(crate) fn all(&self) -> Vec<Namespace> {
        self.map.read().values().cloned().collect()
    }

    /// The namespace a CONNECT names: a static one, or a new child of a dynamic matcher
    /// (within `max_dynamic_namespaces`).
    pub(crate) fn for_connect(&self, name: &str) -> Option<Namespace> {
        if let Some(ns) = self.map.read().get(name) {
            return Some(ns.clone());
        }
        let setup = {
            let dynamic = self.dynamic.read();
            dynamic
                .iter()
                .find(|(matcher, _)| matcher(name))
                .map(|(_, setup)| setup.clone())?
        };
        let mut map = self.map.write();
        if let Some(ns) = map.get(name) {
            return Some(ns.clone());
        }
        self.reclaim_idle(&mut map, Instant::now());
        if self.dynamic_created.load(Ordering::Relaxed) >= self.config.max_dynamic_namespaces {
            tracing::warn!(
                namespace = name,
                "dynamic namespace limit reached; refusing"
            );
            return None;
        }
        self.dynamic_created.fetch_add(1, Ordering::Relaxed);
        let ns = Namespace::new(name.to_owned(), setup, self.shared.clone(), true);
        map.insert(name.to_owned(), ns.clone());
        drop(map);
        if let Some(adapter) = self.shared.adapter.get() {
            adapter.namespace_added(name);
        }
        Some(ns)
    }

    /// Names are the clients' choice: dynamic namespaces nobody has used for their grace
    /// give their place back (amortized: only when a new one is created).
    fn reclaim_idle(&self, map: &mut HashMap<String, Namespace>, now: Instant) {
        let mut reclaimed = Vec::new();
        map.retain(|name, ns| {
            let idle = ns.reclaim_if_idle(now);
            if idle {
                reclaimed.push(name.clone());
            }
            !idle
        });
        if reclaimed.is_empty() {
            return;
        }
        self.dynamic_created
            .fetch_sub(reclaimed.len(), Ordering::Relaxed);
        tracing::debug!(count = reclaimed.len(), "idle dynamic namespaces removed");
        if let Some(adapter) = self.shared.adapter.get() {
            for name in &reclaimed {
                adapter.namespace_removed(name);
            }
        }
    }
}

/// The engine's upper for Socket.IO: a [`SioSession`] per Engine.IO session.
pub(crate) struct SocketIoUpper(pub(crate) Arc<Namespaces>);

impl Upper for SocketIoUpper {
    fn open(&self, conn: ConnHandle, request: RequestInfo) -> Box<dyn SessionHandler> {
        Box::new(SioSession::new(
            self.0.clone(),
            conn,
            Handshake::from_request(request),
        ))
    }

    fn establish_timeout(&self) -> Option<Duration> {
        Some(self.0.config.connect_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Namespaces `/d…` created on demand, one at most, reclaimed as soon as empty.
    fn one_dynamic_at_a_time() -> Namespaces {
        let config = Arc::new(Config {
            max_dynamic_namespaces: 1,
            dynamic_namespace_grace: Duration::ZERO,
            ..Config::default()
        });
        let namespaces = Namespaces::new(Shared {
            config,
            adapter: Default::default(),
            encodes: Default::default(),
        });
        let setup = Arc::new(Setup {
            connect: Arc::new(|_| {}),
            middlewares: parking_lot::RwLock::new(Vec::new()),
        });
        namespaces.declare_dynamic(Arc::new(|name: &str| name.starts_with("/d")), setup);
        namespaces
    }

    #[actix_rt::test]
    async fn a_reclaimed_dynamic_namespace_is_freed_with_its_admission_actor() {
        for with_actor in [false, true] {
            let namespaces = one_dynamic_at_a_time();
            let ns = namespaces.for_connect("/d1").unwrap();
            let actor = with_actor.then(|| ns.actor().downgrade());
            if with_actor {
                // Let the arbiter start the actor (it then holds what it holds of `ns`).
                for _ in 0..10 {
                    actix_rt::task::yield_now().await;
                }
            }
            let freed = Arc::downgrade(&ns.0);
            drop(ns);

            let _d2 = namespaces
                .for_connect("/d2")
                .expect("the idle /d1 gave its place back");

            assert!(namespaces.get("/d1").is_none());
            assert!(
                freed.upgrade().is_none(),
                "the reclaimed namespace is freed (with_actor: {with_actor})"
            );
            // Its actor, with no address left, stops once it has had its turn.
            if let Some(actor) = actor {
                for _ in 0..1_000 {
                    if actor.upgrade().is_none() {
                        break;
                    }
                    actix_rt::task::yield_now().await;
                }
                assert!(actor.upgrade().is_none(), "the admission actor stopped");
            }
        }
    }
}
