//! The HTTP side: the page and its scripts (embedded in the binary), Socket.IO, `/metrics`
//! and `/status`, and a graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse};
use tickwire::SocketIo;

use crate::events::{self, Lobby};
use crate::match_glue::MatchSettings;
use crate::ops;

/// The page and its scripts, compiled in so the binary runs from any directory.
const INDEX_HTML: &str = include_str!("../web/index.html");
const GAME_JS: &str = include_str!("../web/game.js");
const CLIENT_JS: &str = include_str!("../web/tickwire-client.js");
const CODECS_JS: &str = include_str!("../web/codecs.js");
/// The compact codec's browser module (empty when the protocol crate does not ship it).
const COMPACT_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/tickwire-compact.js"));

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address to listen on.
    pub bind: String,
    /// Port (0: any free port; [`RunningServer::addr`] tells which).
    pub port: u16,
    /// HTTP workers (each is an arbiter matches are spread over); 0: one per core.
    pub workers: usize,
    /// How matches are made.
    pub settings: MatchSettings,
    /// How long a lone player waits before bots fill the match (`None`: never).
    pub fill_after: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: "127.0.0.1".into(),
            port: 3000,
            workers: 0,
            settings: MatchSettings::default(),
            fill_after: Some(Duration::from_secs(5)),
        }
    }
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The Socket.IO server.
    pub io: SocketIo,
    /// Matchmaking and matches.
    pub lobby: Arc<Lobby>,
    handle: ServerHandle,
    done: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
}

impl RunningServer {
    /// The page's address (`localhost` when listening on every interface).
    pub fn url(&self) -> String {
        if self.addr.ip().is_unspecified() {
            format!("http://localhost:{}/", self.addr.port())
        } else {
            format!("http://{}/", self.addr)
        }
    }

    /// Stop gracefully: matches end (players get `match-ended`), clients are disconnected
    /// with reason `server shutting down`, then the HTTP server stops.
    pub async fn shutdown(self) {
        self.io.shutdown().await;
        // Let the connections write their goodbyes before the workers stop.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.io.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.handle.stop(true).await;
        let _ = self.done.await;
    }

    /// Wait until the HTTP server stops by itself (it does not, unless stopped).
    pub async fn stopped(&mut self) {
        let _ = (&mut self.done).await;
    }
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// Start the server; call inside an actix `System` (e.g. under `#[actix_web::main]`).
pub fn start(options: ServerOptions) -> anyhow::Result<RunningServer> {
    let io = SocketIo::builder().build();
    let lobby = Lobby::start(&io, options.settings.clone(), options.fill_after);
    events::register(&io, lobby.clone());
    let (app_io, app_lobby) = (io.clone(), lobby.clone());
    // tickwire's server: the app below, with the game's websockets on sockets of their own.
    let mut server = tickwire::Server::new(&io, move || {
        App::new()
            .app_data(web::Data::new(app_lobby.clone()))
            .app_data(web::Data::new(app_io.clone()))
            .route(
                "/",
                web::get().to(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
            )
            .route(
                "/game.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", GAME_JS) }),
            )
            .route(
                "/tickwire-client.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", CLIENT_JS) }),
            )
            .route(
                "/codecs.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", CODECS_JS) }),
            )
            .route(
                "/tickwire-compact.js",
                web::get().to(|| async {
                    if COMPACT_JS.is_empty() {
                        HttpResponse::NotFound().body("compact codec module not built in")
                    } else {
                        asset("text/javascript; charset=utf-8", COMPACT_JS)
                    }
                }),
            )
            .route(
                "/favicon.ico",
                web::get().to(|| async { HttpResponse::NoContent().finish() }),
            )
            .route("/metrics", web::get().to(ops::metrics))
            .route("/status", web::get().to(ops::status))
            .configure(app_io.service())
    })
    .disable_signals()
    .shutdown_timeout(3);
    if options.workers > 0 {
        server = server.workers(options.workers);
    }
    let server = server.bind((options.bind.as_str(), options.port))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the server bound no address"))?;
    let server = server.run();
    let handle = server.handle();
    let (tx, done) = tokio::sync::oneshot::channel();
    actix_rt::spawn(async move {
        let _ = tx.send(server.await);
    });
    Ok(RunningServer {
        addr,
        io,
        lobby,
        handle,
        done,
    })
}
