//! Long-polling without sticky sessions: two tickwire nodes on one real `redis-server`, each
//! advertising its address (`RedisAdapterBuilder::advertise`), behind a balancer that sends
//! every request (or TCP connection) to the next node in turn, with no affinity: a real
//! haproxy (HTTP mode, round robin), a real nginx (round robin upstream), and the tests' own
//! TCP round-robin proxy. Through each, the official clients connect, round-trip acks and
//! get a broadcast from each node:
//!
//! - socket.io-client (npm) over polling only, and with its default transports (polling,
//!   then the upgrade to websocket, which must happen);
//! - python-socketio over polling only.
//!
//! No client ever sees a transport error or a disconnect (they run without reconnection),
//! no balancer logs an answer other than 200 or 101 (`Session ID unknown` is a 400), and
//! both nodes answer requests for the other's sessions (their `forwarded` counters).
//!
//! Also here, on one node with a real Redis: what a client gets for a session whose owner
//! is unknown, unreachable, or when the request was forwarded already (no loops).
//!
//! haproxy and nginx run as child processes with generated configuration files in a temp
//! directory, on free loopback ports, and are killed by their PIDs.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use actix_web::{App, HttpServer};
use serde_json::Value;
use support::proxy::Proxy;
use support::redis::Redis;
use support::{sio_url, PollingClient, WsClient};
use tickwire::cluster::{RedisAdapter, RedisStreamsAdapter};
use tickwire::{Data, SocketIo};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long one client run may take.
const CLIENT_LIMIT: Duration = Duration::from_secs(40);

/// Which HTTP server a node runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Front {
    /// `tickwire::Server` (websockets taken over).
    Server,
    /// A plain `actix_web::HttpServer` mounting `SocketIo::service`.
    Plain,
}

/// Which bus the nodes share.
#[derive(Clone, Copy)]
enum Bus {
    PubSub,
    Streams,
}

/// A node: an `echo` handler that acks its payload, on a listener bound before the adapter
/// is attached (so it can advertise its own port).
async fn node(redis: &Redis, front: Front, bus: Bus) -> (SocketIo, u16) {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.on("echo", |_, Data(value): Data<Value>, ack| async move {
            ack.send(&value).ok();
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let advertised = format!("http://127.0.0.1:{port}");
    match bus {
        Bus::PubSub => drop(
            RedisAdapter::builder(redis.url())
                .advertise(&advertised)
                .attach(&io)
                .await
                .expect("attached"),
        ),
        Bus::Streams => drop(
            RedisStreamsAdapter::builder(redis.url())
                .advertise(&advertised)
                .attach(&io)
                .await
                .expect("attached"),
        ),
    }
    let service = io.service();
    match front {
        Front::Server => {
            let server = tickwire::Server::new(&io, move || App::new().configure(service.clone()))
                .workers(2)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("listen");
            actix_rt::spawn(server.run());
        }
        Front::Plain => {
            let server = HttpServer::new(move || App::new().configure(service.clone()))
                .workers(2)
                .disable_signals()
                .shutdown_timeout(0)
                .listen(listener)
                .expect("listen");
            actix_rt::spawn(server.run());
        }
    }
    (io, port)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Wait (bounded) until something accepts connections on `port`.
async fn accepting(port: u16, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} does not accept connections on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `name` on PATH, or in /usr/sbin (Debian's haproxy and nginx live there).
fn program(name: &str) -> PathBuf {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: run .ci/setup (Debian's {name})"))
}

/// A balancer process of this test's own (haproxy or nginx): its temp directory and
/// configuration, killed by its PID on drop.
struct Balancer {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
    /// Where its access log goes (one line per request: `status=<code> ...`).
    log: PathBuf,
}

/// The haproxy configuration the tests use (README: "Without sticky sessions").
fn haproxy_config(port: u16, backends: &[u16]) -> String {
    let mut servers = String::new();
    for (i, backend) in backends.iter().enumerate() {
        servers.push_str(&format!("    server node{i} 127.0.0.1:{backend}\n"));
    }
    format!(
        "global
    log stdout format raw local0
defaults
    mode http
    log global
    option dontlognull
    log-format \"status=%ST server=%s request=%{{+Q}}r\"
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend tickwire
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}"
    )
}

/// The nginx configuration the tests use (README: "Without sticky sessions"); `dir` holds
/// its logs and temp files.
fn nginx_config(port: u16, backends: &[u16], dir: &Path) -> String {
    let dir = dir.display();
    let mut servers = String::new();
    for backend in backends {
        servers.push_str(&format!("        server 127.0.0.1:{backend};\n"));
    }
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    log_format tickwire 'status=$status upstream=$upstream_addr request=\"$request\"';
    access_log {dir}/access.log tickwire;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    upstream tickwire {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location /socket.io/ {{
            proxy_pass http://tickwire;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_buffering off;
            proxy_read_timeout 60s;
        }}
    }}
}}
"
    )
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tickwire-{what}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("a temp directory");
    dir
}

impl Balancer {
    async fn haproxy(backends: &[u16]) -> Balancer {
        let dir = temp_dir("haproxy");
        let port = free_port();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, haproxy_config(port, backends)).expect("config written");
        let log = dir.join("access.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(program("haproxy"))
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(out)
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start haproxy ({e}): run .ci/setup"));
        accepting(port, "haproxy").await;
        Balancer {
            child,
            port,
            dir,
            log,
        }
    }

    async fn nginx(backends: &[u16]) -> Balancer {
        let dir = temp_dir("nginx");
        let port = free_port();
        let config = dir.join("nginx.conf");
        std::fs::write(&config, nginx_config(port, backends, &dir)).expect("config written");
        let child = tokio::process::Command::new(program("nginx"))
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx ({e}): run .ci/setup"));
        accepting(port, "nginx").await;
        let log = dir.join("access.log");
        Balancer {
            child,
            port,
            dir,
            log,
        }
    }

    /// The status of every request logged so far.
    fn statuses(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("status="))
            })
            .map(str::to_owned)
            .collect()
    }

    /// Every request got 200 or 101 (a `Session ID unknown` would be a 400), and there were
    /// some.
    fn assert_clean(&self, what: &str) {
        let statuses = self.statuses();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert!(!statuses.is_empty(), "{what}: no request logged:\n{log}");
        assert!(
            statuses.iter().all(|s| s == "200" || s == "101"),
            "{what}: answers other than 200 / 101:\n{log}"
        );
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        // Its PID only; `kill_on_drop` is the fallback.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The client programs.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// socket.io-client over polling only.
    JsPolling,
    /// socket.io-client with its default transports (polling, then websocket).
    JsUpgrade,
    /// python-socketio over polling only.
    PythonPolling,
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Run `client` against `url`: after it says `ready`, each node broadcasts `news` with its
/// name; returns its result.
async fn run_client(client: Client, url: &str, nodes: &[(&SocketIo, &str)]) -> Value {
    let mut command = match client {
        Client::JsPolling | Client::JsUpgrade => {
            let dir = interop_dir().join("js");
            assert!(
                dir.join("node_modules/socket.io-client").is_dir(),
                "socket.io-client is not installed: run .ci/setup"
            );
            let mut command = tokio::process::Command::new("node");
            command.arg("sticky_free.mjs").current_dir(dir).env(
                "TRANSPORTS",
                if matches!(client, Client::JsPolling) {
                    "polling"
                } else {
                    "default"
                },
            );
            command.env("LIMIT_MS", (CLIENT_LIMIT.as_millis() - 5000).to_string());
            command
        }
        Client::PythonPolling => {
            let dir = interop_dir().join("python");
            let python = dir.join(".venv/bin/python");
            assert!(
                python.exists(),
                "{} is missing: run .ci/setup",
                python.display()
            );
            let mut command = tokio::process::Command::new(python);
            command.arg("-u").arg("sticky_free.py").current_dir(dir);
            command.env("LIMIT_S", (CLIENT_LIMIT.as_secs() - 5).to_string());
            command
        }
    };
    let mut child = command
        .env("TICKWIRE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the {client:?} client ({e}): run .ci/setup"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let run = async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("the client's output")
                .unwrap_or_else(|| panic!("the {client:?} client ended without a result"));
            if line == "ready" {
                for (io, name) in nodes {
                    io.emit("news", name).expect("broadcast");
                }
            } else if let Some(result) = line.strip_prefix("result ") {
                return serde_json::from_str::<Value>(result).expect("result JSON");
            }
        }
    };
    let result = tokio::time::timeout(CLIENT_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("the {client:?} client gave no result in time"));
    let _ = child.wait().await;
    result
}

/// Check a client's result: complete, no error, both broadcasts, every ack, the transport
/// it should end on.
fn check(result: &Value, client: Client, through: &str) {
    let who = format!("{client:?} through {through}");
    assert_eq!(result["reason"], "complete", "{who}: {result}");
    assert_eq!(result["errors"], serde_json::json!([]), "{who}: {result}");
    assert_eq!(
        result["news"],
        serde_json::json!(["a", "b"]),
        "{who}: {result}"
    );
    assert_eq!(result["acks"], 25, "{who}: {result}");
    let transport = match client {
        Client::JsUpgrade => "websocket",
        Client::JsPolling | Client::PythonPolling => "polling",
    };
    assert_eq!(result["transport"], transport, "{who}: {result}");
    assert!(
        !result.to_string().contains("Session ID unknown"),
        "{who}: {result}"
    );
}

/// `forwarded` counters of a node, by outcome.
fn forwarded(io: &SocketIo, outcome: &str) -> u64 {
    let prefix = format!("tickwire_forwarded_total{{name=\"{outcome}\"}} ");
    io.metrics_text()
        .lines()
        .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Run each client (JS clients `js_runs` times) through `url`; then check that no node
/// answered for a session it did not know, and that requests crossed nodes.
async fn every_client_through(
    url: &str,
    through: &str,
    a: &SocketIo,
    b: &SocketIo,
    js_runs: usize,
) {
    let nodes = [(a, "a"), (b, "b")];
    let mut clients = vec![Client::PythonPolling];
    for _ in 0..js_runs {
        clients.extend([Client::JsPolling, Client::JsUpgrade]);
    }
    for client in clients {
        let result = run_client(client, url, &nodes).await;
        check(&result, client, through);
    }
    for (io, name) in nodes {
        for outcome in [
            "unknown_owner",
            "unreachable",
            "timeout",
            "bad_answer",
            "registry_down",
            "refused_by_owner",
        ] {
            assert_eq!(
                forwarded(io, outcome),
                0,
                "node {name} through {through}: {outcome}"
            );
        }
    }
    let crossed: u64 = nodes
        .iter()
        .map(|(io, _)| forwarded(io, "get") + forwarded(io, "post"))
        .sum();
    assert!(crossed > 0, "{through}: no polling request crossed nodes");
}

#[actix_rt::test]
#[cfg_attr(
    any(
        tickwire_missing_redis,
        tickwire_missing_haproxy,
        tickwire_missing_interop_js,
        tickwire_missing_interop_python
    ),
    ignore = "needs redis-server, haproxy, node with socket.io-client and the Python venv (run .ci/setup)"
)]
async fn official_clients_through_haproxy_round_robin_without_affinity() {
    two_nodes_behind(Kind::Haproxy, Front::Server, Bus::PubSub, "haproxy").await;
}

#[actix_rt::test]
#[cfg_attr(
    any(
        tickwire_missing_redis,
        tickwire_missing_nginx,
        tickwire_missing_interop_js,
        tickwire_missing_interop_python
    ),
    ignore = "needs redis-server, nginx, node with socket.io-client and the Python venv (run .ci/setup)"
)]
async fn official_clients_through_nginx_round_robin_on_the_streams_bus() {
    two_nodes_behind(Kind::Nginx, Front::Server, Bus::Streams, "nginx").await;
}

#[actix_rt::test]
#[cfg_attr(
    any(
        tickwire_missing_redis,
        tickwire_missing_haproxy,
        tickwire_missing_interop_js,
        tickwire_missing_interop_python
    ),
    ignore = "needs redis-server, haproxy, node with socket.io-client and the Python venv (run .ci/setup)"
)]
async fn plain_actix_web_nodes_through_haproxy() {
    let what = "haproxy (plain HttpServer nodes)";
    two_nodes_behind(Kind::Haproxy, Front::Plain, Bus::PubSub, what).await;
}

/// Which balancer.
enum Kind {
    Haproxy,
    Nginx,
}

/// Two nodes on one Redis behind a balancer of `kind`: every official client through it,
/// and the balancer's log clean.
async fn two_nodes_behind(kind: Kind, front: Front, bus: Bus, what: &str) {
    let redis = Redis::start();
    let (a, port_a) = node(&redis, front, bus).await;
    let (b, port_b) = node(&redis, front, bus).await;
    let balancer = match kind {
        Kind::Haproxy => Balancer::haproxy(&[port_a, port_b]).await,
        Kind::Nginx => Balancer::nginx(&[port_a, port_b]).await,
    };
    let url = format!("http://127.0.0.1:{}", balancer.port);
    every_client_through(&url, what, &a, &b, 3).await;
    balancer.assert_clean(what);
}

#[actix_rt::test]
#[cfg_attr(
    any(
        tickwire_missing_redis,
        tickwire_missing_interop_js,
        tickwire_missing_interop_python
    ),
    ignore = "needs redis-server, node with socket.io-client and the Python venv (run .ci/setup)"
)]
async fn official_clients_through_a_tcp_round_robin_proxy() {
    let redis = Redis::start();
    let (a, port_a) = node(&redis, Front::Server, Bus::PubSub).await;
    let (b, port_b) = node(&redis, Front::Server, Bus::PubSub).await;
    let proxy = Proxy::start(vec![port_a, port_b]).await;
    let url = format!("http://127.0.0.1:{}", proxy.port);
    every_client_through(&url, "a TCP round-robin proxy", &a, &b, 2).await;
    let routed = proxy.routed();
    assert!(
        routed.contains(&port_a) && routed.contains(&port_b),
        "{routed:?}"
    );
}

// ----- a session used through the other node alone ----------------------------------------

/// A session opened on A by polling, then used through B only: polling (forwarded), then
/// the upgrade to a websocket (relayed to A), acks both ways, A's broadcasts and B's.
async fn used_through_the_other_node(front: Front) {
    let redis = Redis::start();
    let (a, port_a) = node(&redis, front, Bus::PubSub).await;
    let (b, port_b) = node(&redis, front, Bus::PubSub).await;
    let (opened, _) = PollingClient::connect(port_a).await;
    // The same session, through B.
    let mut through_b = PollingClient::open(port_b).await;
    through_b.sid = opened.sid.clone();
    through_b.send(r#"421["echo","by polling"]"#).await;
    through_b.wait_for(r#"431["by polling"]"#).await;
    let before = forwarded(&b, "get") + forwarded(&b, "post");
    assert!(before >= 2, "{before} requests forwarded by B");

    // The upgrade, through B: a GET parked through B ends with a noop once the probe ran.
    let probe = async {
        let url = sio_url(
            "ws",
            port_b,
            &format!("EIO=4&transport=websocket&sid={}", opened.sid),
        );
        let mut ws = WsClient::try_connect(&url).await.expect("relayed upgrade");
        ws.send_text("2probe").await;
        assert_eq!(ws.recv_text().await, "3probe");
        ws
    };
    let (parked, mut ws) = futures_util::join!(through_b.get(), probe);
    assert_eq!((parked.status, parked.body.as_str()), (200, "6"));
    ws.send_text("5").await;
    ws.send_text(r#"422["echo","by websocket"]"#).await;
    assert_eq!(ws.recv_text_skip_pings().await, r#"432["by websocket"]"#);
    a.emit("news", &"a").expect("broadcast");
    assert_eq!(ws.recv_text_skip_pings().await, r#"42["news","a"]"#);
    b.emit("news", &"b").expect("broadcast");
    assert_eq!(ws.recv_text_skip_pings().await, r#"42["news","b"]"#);
    assert_eq!(forwarded(&b, "websocket"), 1);
    assert_eq!(a.connection_count(), 1);
    // The client closes its websocket: the session ends on its owner.
    ws.close().await;
    support::settled("the session closed on A", || a.connection_count() == 0).await;
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server (run .ci/setup)")]
async fn a_session_is_used_through_the_other_node_with_tickwire_server() {
    used_through_the_other_node(Front::Server).await;
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server (run .ci/setup)")]
async fn a_session_is_used_through_the_other_node_with_a_plain_http_server() {
    used_through_the_other_node(Front::Plain).await;
}

// ----- what a client gets when the owner cannot answer ------------------------------------

/// A raw HTTP request to `port`: status and body.
async fn http(method: &str, port: u16, query: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let url = format!("http://127.0.0.1:{port}/socket.io/?{query}");
    let mut request = client.request(method.parse().expect("a method"), url);
    for header in headers {
        request = request.insert_header(*header);
    }
    let body = if method == "POST" { "40" } else { "" };
    let mut response = request.send_body(body).await.expect("an answer");
    let status = response.status().as_u16();
    let body = response.body().await.expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A session id of the node tagged `tag`.
fn sid_of(tag: &str) -> String {
    format!("{tag}.AAAAAAAAAAAAAAAAAAAA")
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server (run .ci/setup)")]
async fn owners_that_are_gone_unreachable_or_already_asked_get_clear_answers() {
    let redis = Redis::start();
    let (io, port) = node(&redis, Front::Server, Bus::PubSub).await;
    // A node that registered and went away without a trace: its address accepts nothing.
    let dead = free_port();
    redis.command(&[
        "SET",
        "tickwire:node:deadnode",
        &format!("http://127.0.0.1:{dead}"),
    ]);
    let unknown = r#"{"code":1,"message":"Session ID unknown"}"#;
    for method in ["GET", "POST"] {
        // A node no registry entry names: the session is unknown, the client reconnects.
        let query = format!("EIO=4&transport=polling&sid={}", sid_of("gonenode"));
        assert_eq!(http(method, port, &query, &[]).await, (400, unknown.into()));
        // The owner's address does not answer: 502 and a JSON reason.
        let query = format!("EIO=4&transport=polling&sid={}", sid_of("deadnode"));
        let (status, body) = http(method, port, &query, &[]).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body, r#"{"code":3,"message":"Session owner unreachable"}"#);
        // Forwarded already: answered here, never forwarded again.
        let marked = [("x-tickwire-forwarded", "othernode")];
        assert_eq!(
            http(method, port, &query, &marked).await,
            (400, unknown.into())
        );
    }
    // A websocket upgrade for the unreachable owner: the same 502.
    let url = format!(
        "ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid={}",
        sid_of("deadnode")
    );
    match awc::Client::new().ws(url).connect().await {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 502)
        }
        other => panic!("expected a 502 refusal, got {:?}", other.map(|_| ())),
    }
    assert_eq!(forwarded(&io, "unreachable"), 3);
    assert_eq!(forwarded(&io, "unknown_owner"), 4);
    // This node's own sessions carry its tag, and stay local.
    let (status, open) = http("GET", port, "EIO=4&transport=polling", &[]).await;
    assert_eq!(status, 200);
    let sid = serde_json::from_str::<Value>(open.trim_start_matches('0')).expect("open")["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let (tag, random) = sid.split_once('.').expect("a tagged sid");
    assert_eq!((tag.len(), random.len()), (11, 20), "{sid}");
    assert_eq!(
        redis.command(&["GET", &format!("tickwire:node:{tag}")]),
        format!("http://127.0.0.1:{port}")
    );
}

#[actix_rt::test]
async fn a_single_node_keeps_untagged_session_ids() {
    let io = SocketIo::builder().build();
    let port = support::serve(&io);
    let (status, open) = http("GET", port, "EIO=4&transport=polling", &[]).await;
    assert_eq!(status, 200);
    let sid = serde_json::from_str::<Value>(open.trim_start_matches('0')).expect("open")["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    assert_eq!(sid.len(), 20);
    assert!(!sid.contains('.'));
    // A tagged id on a single node is just unknown.
    let query = format!("EIO=4&transport=polling&sid={}", sid_of("othernode"));
    assert_eq!(
        http("GET", port, &query, &[]).await,
        (400, r#"{"code":1,"message":"Session ID unknown"}"#.into())
    );
}
