//! The HTTP side: the page and its scripts (embedded in the binary), Socket.IO, `/metrics`
//! and `/status`, and a graceful stop: on one node every match ends at once; a node of a
//! game cluster drains first (its matches run to their end, new ones go to other nodes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse};
use anyhow::Context as _;
use tickwire::auth::{Revocations, SessionAuth};
use tickwire::{SocketIo, TlsConfig};

use crate::events;
use crate::lobby::Lobby;
use crate::match_glue::MatchSettings;
use crate::ops;

/// The page and its scripts, compiled in so the binary runs from any directory.
const INDEX_HTML: &str = include_str!("../web/index.html");
const GAME_JS: &str = include_str!("../web/game.js");
const CLIENT_JS: &str = include_str!("../web/tickwire-client.js");
const CODECS_JS: &str = include_str!("../web/codecs.js");
const DELTA_JS: &str = include_str!("../web/delta.js");
/// The session token helper (renewal over the socket).
const AUTH_JS: &str = include_str!("../../protocol/js/tickwire-auth.js");
/// The prefix of the revocations in the cluster's Redis.
const REVOCATIONS_PREFIX: &str = "tickwire-game-auth";
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
    /// The Redis of a game cluster to join (`redis://host:port/`); `None`: one node, no
    /// Redis.
    pub redis: Option<String>,
    /// In a cluster, how long [`RunningServer::shutdown`] lets this node's matches run to
    /// their end before it ends them.
    pub drain_grace: Duration,
    /// Serve HTTPS and WSS with this certificate (its reloads included); `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
    /// The secret guest tokens are signed with; every node of a cluster needs the same.
    /// `None`: a random one (tokens of this process work only here).
    pub token_secret: Option<Vec<u8>>,
    /// How long a guest token is valid (the page and the bots renew it over the socket).
    pub token_lifetime: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: "127.0.0.1".into(),
            port: 3000,
            workers: 0,
            settings: MatchSettings::default(),
            fill_after: Some(Duration::from_secs(5)),
            redis: None,
            drain_grace: Duration::from_secs(30),
            tls: None,
            token_secret: None,
            token_lifetime: Duration::from_secs(600),
        }
    }
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// It serves HTTPS (and WSS).
    pub tls: bool,
    /// The Socket.IO server.
    pub io: SocketIo,
    /// Matchmaking and matches.
    pub lobby: Arc<Lobby>,
    /// The guest tokens: `/` admits only sockets with one.
    pub auth: SessionAuth,
    drain_grace: Duration,
    handle: ServerHandle,
    done: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
}

impl RunningServer {
    /// The page's address (`localhost` when listening on every interface).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        if self.addr.ip().is_unspecified() {
            format!("{scheme}://localhost:{}/", self.addr.port())
        } else {
            format!("{scheme}://{}/", self.addr)
        }
    }

    /// Stop gracefully, then stop the HTTP server.
    ///
    /// One node: every match ends now (players get `match-ended` with reason `server
    /// shutting down`) and the clients are disconnected with that reason.
    ///
    /// A node of a cluster drains: no new match is placed here, its matches run to their end
    /// for at most the drain grace (then end with reason `server shutting down`), then its
    /// clients are disconnected and it leaves the cluster. Players of its matches on other
    /// nodes hear the same `match-ended`; its players in matches elsewhere keep their seats
    /// for the reconnect window (the page rejoins through any node).
    pub async fn shutdown(self) {
        match self.lobby.cluster() {
            None => self.io.shutdown().await,
            Some(cluster) => cluster.drain(self.drain_grace).await,
        }
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

/// `POST /token`: a guest token, `{"token": "...", "exp": <seconds since the epoch>}`.
async fn guest_token(auth: web::Data<SessionAuth>) -> HttpResponse {
    let subject = format!("guest-{:016x}", rand::random::<u64>());
    match auth.issue(&subject, serde_json::json!({ "guest": true })) {
        Ok(issued) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({ "token": issued.token, "exp": issued.claims.exp })),
        Err(e) => {
            tracing::error!(error = %e, "no guest token issued");
            HttpResponse::InternalServerError().body("no token issued")
        }
    }
}

/// The session tokens of the game: signed with `secret` (random without one), revoked in the
/// cluster's Redis when there is one.
async fn session_auth(options: &ServerOptions) -> anyhow::Result<SessionAuth> {
    let secret = match &options.token_secret {
        Some(secret) => secret.clone(),
        None => {
            if options.redis.is_some() {
                tracing::warn!(
                    "no token secret given: guest tokens of this node are refused by the \
                     other nodes of the cluster (give every node the same --token-secret-file)"
                );
            }
            rand::random::<[u8; 32]>().to_vec()
        }
    };
    let mut builder = SessionAuth::builder(secret).lifetime(options.token_lifetime);
    if let Some(url) = &options.redis {
        let revocations = Revocations::redis(url, REVOCATIONS_PREFIX)
            .await
            .context("connecting the token revocations to --redis")?;
        builder = builder.revocations(revocations);
    }
    builder.build().context("the token secret")
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// Start the server; call inside an actix `System` (e.g. under `#[actix_web::main]`). With
/// [`ServerOptions::redis`] it first joins the game cluster there (and fails when that Redis
/// cannot be reached).
pub async fn start(options: ServerOptions) -> anyhow::Result<RunningServer> {
    let auth = session_auth(&options).await?;
    let io = SocketIo::builder().build();
    let (settings, fill_after) = (options.settings.clone(), options.fill_after);
    let lobby = match &options.redis {
        None => Lobby::single_node(&io, settings, fill_after),
        Some(url) => Lobby::join_cluster(&io, url, settings, fill_after)
            .await
            // Not the URL: it may hold a password.
            .context("joining the game cluster of --redis")?,
    };
    let ns = events::register(&io, lobby.clone());
    auth.protect(&ns);
    let (app_io, app_lobby, app_auth) = (io.clone(), lobby.clone(), auth.clone());
    // tickwire's server: the app below, with the game's websockets on sockets of their own.
    let mut server = tickwire::Server::new(&io, move || {
        App::new()
            .app_data(web::Data::new(app_lobby.clone()))
            .app_data(web::Data::new(app_io.clone()))
            .app_data(web::Data::new(app_auth.clone()))
            .route("/token", web::post().to(guest_token))
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
                "/delta.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", DELTA_JS) }),
            )
            .route(
                "/tickwire-auth.js",
                web::get().to(|| async { asset("text/javascript; charset=utf-8", AUTH_JS) }),
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
    let address = (options.bind.as_str(), options.port);
    let bound = match &options.tls {
        Some(tls) => server.bind_tls(address, tls),
        None => server.bind(address),
    };
    let server = match bound {
        Ok(server) => server,
        Err(e) => {
            // A node that cannot serve leaves the cluster it has joined.
            if let Some(cluster) = lobby.cluster() {
                cluster.stop();
            }
            return Err(e).with_context(|| format!("binding {}:{}", options.bind, options.port));
        }
    };
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
        tls: options.tls.is_some(),
        io,
        lobby,
        auth,
        drain_grace: options.drain_grace,
        handle,
        done,
    })
}
