//! [`Server`]: an HTTP server for an actix-web app that takes Socket.IO websockets off the
//! HTTP dispatcher.
//!
//! Mounted in a plain `actix_web::HttpServer`, a websocket lives inside actix-http's HTTP/1
//! dispatcher for its whole life: two 8 KiB buffers and the dispatcher's per-poll work for
//! every frame. [`Server`] serves the same app, but asks actix-http to hand websocket
//! upgrades over: tickwire then owns the socket, and an idle websocket holds no buffer at
//! all. Every other request (polling included) goes to the app as usual. Listeners are plain
//! HTTP or HTTPS ([`TlsConfig`]).

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use actix_codec::{Framed, FramedParts};
use actix_http::body::MessageBody;
use actix_http::{h1, HttpService, Request, Response};
use actix_rt::net::TcpStream;
use actix_server::ServerBuilder;
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{AppConfig, Service, ServiceFactory};
use actix_web::Error;
use socket2::{Domain, Protocol, Socket, Type};

use super::sessions::Engine;
use super::tls::TlsConfig;
use super::websocket::{SharedTcp, WsStream};
use crate::SocketIo;

/// An HTTP server for an actix-web app that mounts a [`SocketIo`]: like
/// `actix_web::HttpServer`, but the websockets of that `SocketIo` run on sockets of their
/// own instead of inside the HTTP dispatcher (less memory per connection, less CPU per
/// frame), and every connection has `TCP_NODELAY` (frames go out at once).
///
/// Websocket upgrade requests are all handed to tickwire: an upgrade for another path gets
/// `404`. Apps with websockets of their own keep `actix_web::HttpServer`, where
/// [`SocketIo::service`] works the same (and TLS comes from
/// [`TlsConfig::server_config`]). The app runs with actix-web's default `AppConfig`: request
/// info such as the host comes from each request's headers, and on an HTTPS listener
/// `ConnectionInfo::scheme` says `https` only when a `Forwarded` or `X-Forwarded-Proto`
/// header says so.
///
/// HTTPS and WSS: [`Server::bind_tls`] with a [`TlsConfig`] (its
/// [`reload`](TlsConfig::reload) swaps the certificate under running listeners). Plain and
/// TLS listeners can be mixed in one server.
///
/// ```no_run
/// use actix_web::App;
/// use tickwire::{Server, SocketIo};
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let io = SocketIo::builder().build();
///     io.ns("/", |socket| socket.on("ping", |_, _: tickwire::Payload, ack| async move {
///         ack.send(&"pong").ok();
///     }));
///     let service = io.service();
///     Server::new(&io, move || App::new().configure(service.clone()))
///         .bind(("127.0.0.1", 3000))?
///         .run()
///         .await
/// }
/// ```
pub struct Server<F, I, S, B> {
    ios: Vec<Arc<Engine>>,
    factory: F,
    builder: ServerBuilder,
    addrs: Vec<SocketAddr>,
    fd_reserve: usize,
    backlog: u32,
    _app: AppTypes<I, S, B>,
}

/// The app's factory types, for the bounds only.
type AppTypes<I, S, B> = PhantomData<fn() -> (I, S, B)>;

impl<F, I, S, B> fmt::Debug for Server<F, I, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

impl<F, I, S, B> Server<F, I, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    /// A server for the app `factory` builds (once per worker), whose websockets on `io`'s
    /// path are taken over.
    pub fn new(io: &SocketIo, factory: F) -> Self {
        Server {
            ios: vec![io.inner.engine.clone()],
            factory,
            builder: ServerBuilder::default(),
            addrs: Vec::new(),
            fd_reserve: DEFAULT_FD_RESERVE,
            backlog: DEFAULT_BACKLOG,
            _app: PhantomData,
        }
    }

    /// Take over the websockets of another [`SocketIo`] the app mounts (on its own path).
    /// Call before [`Server::bind`].
    pub fn with(mut self, io: &SocketIo) -> Self {
        self.ios.push(io.inner.engine.clone());
        self
    }

    /// File descriptors the process table is grown to before serving (default 4,096; `0`
    /// leaves it alone). The kernel grows a process's descriptor table by doubling, and in
    /// a multi-threaded process every growth stalls all threads for an RCU grace period
    /// (5–10 ms measured here): paid once at start, not during the first rush of clients.
    pub fn fd_reserve(mut self, descriptors: usize) -> Self {
        self.fd_reserve = descriptors;
        self
    }

    /// The listen backlog of the sockets [`Server::bind`] and [`Server::bind_tls`] open
    /// (default 2,048, capped by the kernel's `somaxconn`): connections the kernel
    /// completes while the accept thread is busy. When it overflows, a client's SYN is
    /// dropped and it connects a second later; a storm of clients at a high concurrency
    /// needs more than the 128 of a `std` listener. Call before binding.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self.builder = self.builder.backlog(backlog);
        self
    }

    /// Worker threads (default: one per physical core).
    pub fn workers(mut self, workers: usize) -> Self {
        self.builder = self.builder.workers(workers);
        self
    }

    /// Do not stop on SIGINT / SIGTERM / SIGQUIT.
    pub fn disable_signals(mut self) -> Self {
        self.builder = self.builder.disable_signals();
        self
    }

    /// Seconds a graceful stop waits for workers (default 30).
    pub fn shutdown_timeout(mut self, seconds: u64) -> Self {
        self.builder = self.builder.shutdown_timeout(seconds);
        self
    }

    /// Listen on every address `addrs` resolves to (plain HTTP and WS).
    pub fn bind<A: ToSocketAddrs>(mut self, addrs: A) -> io::Result<Self> {
        for addr in addrs.to_socket_addrs()? {
            let listener = listener(addr, self.backlog)?;
            self = self.listen(listener)?;
        }
        Ok(self)
    }

    /// Listen with TLS (HTTPS and WSS) on every address `addrs` resolves to, with the
    /// certificate of `tls` (and of its later reloads).
    pub fn bind_tls<A: ToSocketAddrs>(mut self, addrs: A, tls: &TlsConfig) -> io::Result<Self> {
        for addr in addrs.to_socket_addrs()? {
            let listener = listener(addr, self.backlog)?;
            self = self.listen_tls(listener, tls)?;
        }
        Ok(self)
    }

    /// Serve plain HTTP and WS on a listener that is already bound.
    pub fn listen(mut self, listener: TcpListener) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        self.addrs.push(addr);
        let factory = self.factory.clone();
        let io: Arc<[Arc<Engine>]> = self.ios.clone().into();
        self.builder = self
            .builder
            .listen(format!("tickwire-{addr}"), listener, move || {
                let app = factory()
                    .into_factory()
                    .map_err(|err| err.into().error_response());
                HttpService::build()
                    .tcp_nodelay(true)
                    .local_addr(addr)
                    .upgrade(take_over(io.clone(), SharedTcp::new))
                    .finish(map_config(app, |_| AppConfig::default()))
                    .tcp()
            })?;
        Ok(self)
    }

    /// Serve HTTPS and WSS on a listener that is already bound, with the certificate of
    /// `tls` (and of its later reloads).
    pub fn listen_tls(mut self, listener: TcpListener, tls: &TlsConfig) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        self.addrs.push(addr);
        let factory = self.factory.clone();
        let io: Arc<[Arc<Engine>]> = self.ios.clone().into();
        let config = tls.server_config();
        self.builder =
            self.builder
                .listen(format!("tickwire-tls-{addr}"), listener, move || {
                    let app = factory()
                        .into_factory()
                        .map_err(|err| err.into().error_response());
                    HttpService::build()
                        .tcp_nodelay(true)
                        .local_addr(addr)
                        .secure()
                        .upgrade(take_over::<TlsStream<TcpStream>, _>(
                            io.clone(),
                            std::convert::identity,
                        ))
                        .finish(map_config(app, |_| AppConfig::default()))
                        .rustls_0_23(config.clone())
                })?;
        Ok(self)
    }

    /// The addresses listened on (with the real ports of `:0` binds).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Start the workers; the returned server resolves when it stops.
    pub fn run(self) -> actix_server::Server {
        grow_fd_table(self.fd_reserve);
        self.builder.run()
    }
}

const DEFAULT_FD_RESERVE: usize = 4096;

/// The listen backlog by default: actix-web's.
const DEFAULT_BACKLOG: u32 = 2048;

/// A listening socket on `addr` with `backlog` (`SO_REUSEADDR` set, as `std` does on Unix:
/// a restarted server binds while its old connections sit in `TIME_WAIT`).
fn listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// The upgrade service of a listener whose sockets are `T`: every websocket upgrade is taken
/// over (see [`super::websocket::take_over`]) on the stream `wrap` makes of its socket.
fn take_over<T: 'static, S: WsStream>(
    io: Arc<[Arc<Engine>]>,
    wrap: fn(T) -> S,
) -> impl ServiceFactory<
    (Request, Framed<T, h1::Codec>),
    Config = (),
    Response = (),
    Error = UpgradeError,
    InitError = (),
> {
    fn_factory(move || {
        let io = io.clone();
        async move {
            Ok::<_, ()>(fn_service(
                move |(req, framed): (Request, Framed<T, h1::Codec>)| {
                    let io = io.clone();
                    // The dispatcher's two buffers go now; only bytes the client already
                    // sent are kept.
                    let FramedParts {
                        io: socket,
                        read_buf,
                        ..
                    } = framed.into_parts();
                    async move {
                        super::websocket::take_over(io, req, wrap(socket), read_buf).await;
                        Ok::<_, UpgradeError>(())
                    }
                },
            ))
        }
    })
}

/// Grow the descriptor table to hold `descriptors` entries: open that many descriptors at
/// once (stopping at the process limit) and close them again. The table keeps its size.
fn grow_fd_table(descriptors: usize) {
    let mut held = Vec::with_capacity(descriptors);
    while held.len() < descriptors {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(_) => break,
        }
    }
}

/// The take-over never fails as a service (errors end that websocket only).
#[derive(Debug)]
struct UpgradeError(Infallible);

impl fmt::Display for UpgradeError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {}
    }
}

impl From<UpgradeError> for Response<actix_http::body::BoxBody> {
    fn from(error: UpgradeError) -> Self {
        match error.0 {}
    }
}
