//! `game-example`: serve the arena game. `--help` lists the options.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use game_example::game::state::RoundConfig;
use game_example::match_glue::MatchSettings;
use game_example::{headless, start, ServerOptions};
use tickwire::{Codec, TlsConfig};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A top-down multiplayer arena shooter on tickwire. Open the printed URL in two browser
/// tabs (or one: bots fill the match) and play: WASD or arrows to move, mouse to aim, click
/// or hold space to shoot.
#[derive(Debug, Parser)]
#[command(name = "game-example", version)]
struct Cli {
    /// Address to listen on (0.0.0.0 to accept other machines).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to listen on (0: any free port; the URL is printed).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Match ticks (snapshots) per second, 1–120.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    tick_rate: u32,
    /// Players per match, 2–8 (humans first, bots fill the rest after --fill-after).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=8))]
    match_size: u32,
    /// Seconds the first queued player waits before server-side bots fill the match
    /// (0: never fill; wait for a full match of humans).
    #[arg(long, default_value_t = 5.0)]
    fill_after: f64,
    /// Headless load bots to start: websocket clients (tickwire's Rust client, alternately
    /// on the compact and the JSON codec) that queue and play like people.
    #[arg(long, default_value_t = 0)]
    bots: u32,
    /// Round length in seconds.
    #[arg(long, default_value_t = 90.0)]
    round_secs: f64,
    /// HTTP worker threads (matches are spread over them); 0: one per core.
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Join the game cluster on this Redis (e.g. redis://127.0.0.1:6379/): one queue for
    /// every node, each match on the least loaded node, seats and spectators through any
    /// node. Without it the server is one node and needs no Redis.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// With --redis, on Ctrl-C or SIGTERM: how long this node's matches may run to their end
    /// (no new match is placed here meanwhile) before they end and its clients are
    /// disconnected.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    drain_grace: f64,
    /// Serve HTTPS and WSS with this certificate chain (PEM: the server's certificate first,
    /// then the intermediates, as in a "fullchain" file). Needs --tls-key. On SIGHUP both
    /// files are read again: new connections get the new certificate, players stay
    /// connected, and files that do not load keep the old certificate (the error is logged).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A file holding the secret the guest session tokens are signed with (its bytes, a
    /// trailing newline dropped; 32 or more). Give every node of a cluster the same file, so
    /// a token of one node works on all. Without it each process makes a random secret.
    #[arg(long, value_name = "PATH")]
    token_secret_file: Option<PathBuf>,
    /// Seconds a guest token is valid; the page and the bots renew it over the socket
    /// before it expires.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    token_lifetime: u64,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    if !(cli.fill_after.is_finite() && cli.fill_after >= 0.0) {
        bail!("--fill-after must be a number of seconds, 0 or more");
    }
    if !(cli.round_secs.is_finite() && cli.round_secs > 0.0) {
        bail!("--round-secs must be positive");
    }
    if !(cli.drain_grace.is_finite() && cli.drain_grace >= 0.0) {
        bail!("--drain-grace must be a number of seconds, 0 or more");
    }
    let drain_grace = Duration::from_secs_f64(cli.drain_grace);
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => {
            if cli.bots > 0 {
                bail!(
                    "--bots needs plain HTTP: the headless bots (tickwire's Rust client) do not \
                     speak TLS; run them against a plain listener"
                );
            }
            Some(TlsConfig::from_pem_files(cert, key).context("loading --tls-cert and --tls-key")?)
        }
        _ => None,
    };
    let token_secret = match &cli.token_secret_file {
        Some(path) => {
            let mut secret = std::fs::read(path)
                .with_context(|| format!("reading --token-secret-file {}", path.display()))?;
            while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                secret.pop();
            }
            if secret.len() < 32 {
                bail!("--token-secret-file: the secret must be 32 bytes or more");
            }
            Some(secret)
        }
        None => None,
    };
    if cli.token_lifetime == 0 {
        bail!("--token-lifetime must be at least 1 second");
    }
    let options = ServerOptions {
        bind: cli.bind.clone(),
        port: cli.port,
        workers: cli.workers,
        settings: MatchSettings {
            tick_rate: cli.tick_rate,
            match_size: cli.match_size as usize,
            round: RoundConfig {
                round_secs: cli.round_secs,
                ..RoundConfig::default()
            },
            ..MatchSettings::default()
        },
        fill_after: (cli.fill_after > 0.0).then(|| Duration::from_secs_f64(cli.fill_after)),
        redis: cli.redis.clone(),
        drain_grace,
        tls: tls.clone(),
        token_secret,
        token_lifetime: Duration::from_secs(cli.token_lifetime),
    };
    let mut server = start(options).await?;
    let url = server.url();
    println!("tickwire arena listening on {url}");
    println!(
        "  play: open {url} in two browser tabs · status: {url}status · metrics: {url}metrics"
    );
    // Not the URL: it may hold a password.
    let node = server
        .lobby
        .cluster()
        .map(|c| format!("{:016x}", c.node_id()));
    if let Some(node) = &node {
        println!("  cluster: node {node}; one queue with every node on this Redis");
    }
    if let Some(tls) = tls {
        reload_on_hangup(tls);
    }
    let bots: Vec<_> = (0..cli.bots)
        .map(|i| {
            let name = format!("loadbot-{}", i + 1);
            let codec = if i % 2 == 0 {
                Codec::Compact
            } else {
                Codec::Json
            };
            let seed = u64::from(i) + 1;
            actix_rt::spawn(headless::run_load_bot(url.clone(), name, seed, codec))
        })
        .collect();
    if !bots.is_empty() {
        println!("  started {} headless load bots", bots.len());
    }
    tokio::select! {
        _ = shutdown_signal() => {}
        _ = server.stopped() => return Ok(()),
    }
    if node.is_some() {
        println!(
            "draining: no new match here; matches running here have up to {} s to finish, \
             then clients are disconnected (Ctrl-C again: stop now)",
            drain_grace.as_secs_f64()
        );
    } else {
        println!("shutting down: ending matches, disconnecting clients");
    }
    for bot in bots {
        bot.abort();
    }
    tokio::select! {
        _ = server.shutdown() => {}
        _ = shutdown_signal() => {
            println!("stopped before the shutdown finished");
            return Ok(());
        }
    }
    println!("bye");
    Ok(())
}

/// Read the certificate and key again on every SIGHUP (a renewal): new connections get the
/// new certificate, live ones go on; files that do not load keep the old one.
fn reload_on_hangup(tls: TlsConfig) {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => hangup,
            Err(error) => {
                tracing::warn!(%error, "no SIGHUP handler: the certificate is not reloaded");
                return;
            }
        };
        println!("  TLS: SIGHUP reloads {}", tls.cert_path().display());
        actix_rt::spawn(async move {
            while hangup.recv().await.is_some() {
                if let Err(error) = tls.reload() {
                    tracing::error!(%error, "TLS reload failed; keeping the current certificate");
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tls);
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = actix_rt::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = actix_rt::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_rt::signal::ctrl_c().await;
    }
}
