//! A TCP proxy that a test can cut: each connection it accepts goes to the next of its
//! backends in turn (so a client that reconnects lands on another node), and
//! [`Proxy::cut`] drops every connection open through it at once, as a network cut would.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A round-robin proxy on a free loopback port; it stops (and drops its connections) when
/// dropped.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<Mutex<Vec<u16>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `backends` (ports on 127.0.0.1), the first connection to the first.
    pub(crate) async fn start(backends: Vec<u16>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (conns, log) = (connections.clone(), accepted.clone());
        let acceptor = tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backend = backends[next % backends.len()];
                next += 1;
                log.lock().push(backend);
                let task = tokio::spawn(async move {
                    let addr = SocketAddr::from(([127, 0, 0, 1], backend));
                    if let Ok(mut outbound) = TcpStream::connect(addr).await {
                        let _ = outbound.set_nodelay(true);
                        let _ = inbound.set_nodelay(true);
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut conns = conns.lock();
                conns.retain(|t| !t.is_finished());
                conns.push(task);
            }
        });
        Proxy {
            port,
            connections,
            accepted,
            acceptor,
        }
    }

    /// Drop every connection open through the proxy now (both ends see it closed).
    pub(crate) fn cut(&self) {
        for task in self.connections.lock().drain(..) {
            task.abort();
        }
    }

    /// The backend each accepted connection went to, in order.
    pub(crate) fn routed(&self) -> Vec<u16> {
        self.accepted.lock().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}
