//! CI smoke of the load generator: each scenario at tiny sizes against tickwire's contract
//! server (and the floor), asserting that it completes with sane, non-zero results. No
//! timing assertions: CI machines are noisy and these are debug builds.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickwire_benches::report::RunResult;

/// A server process, killed by its PID when the test ends.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(program: &str, tick_hz: &str) -> Server {
    start_with(program, &[("TICK_HZ", tick_hz)])
}

fn start_with(program: &str, env: &[(&str, &str)]) -> Server {
    let port = free_port();
    let child = Command::new(program)
        .args(["--port", &port.to_string()])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let mut server = Server { child, port };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "server exited at start"
        );
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Run `loadgen <args>` against `server` and read its JSON result.
fn loadgen(server: &Server, name: &str, args: &[&str]) -> RunResult {
    let dir = std::env::temp_dir().join(format!("tickwire-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json: PathBuf = dir.join(format!("{name}.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .args(["--port", &server.port.to_string()])
        .args(["--server-pid", &server.child.id().to_string()])
        .args(["--room-prefix", &format!("{name}-")])
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("loadgen starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loadgen {name} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "loadgen {name} failed: {status}");
    let result: RunResult = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    result
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.get(name)
        .unwrap_or_else(|| panic!("{}: no metric {name}: {:?}", r.scenario, r.metrics))
}

fn tickwire() -> Server {
    start(env!("CARGO_BIN_EXE_bench-server"), "20")
}

#[test]
fn connect_counts_every_connection() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "connect",
        &["connect", "--conns", "20", "--concurrency", "5"],
    );
    assert_eq!(metric(&r, "connected"), 20.0);
    assert_eq!(metric(&r, "errors"), 0.0);
    assert!(metric(&r, "conn_per_s") > 0.0);
    assert!(metric(&r, "latency_p50_us") > 0.0);
    assert!(metric(&r, "latency_p99_us") >= metric(&r, "latency_p50_us"));
}

#[test]
fn a_storm_reports_its_rate_against_connections_held() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "storm",
        &["connect", "--conns", "2500", "--concurrency", "50"],
    );
    assert_eq!(metric(&r, "connected"), 2500.0);
    assert!(metric(&r, "server_cpu_us_per_conn") > 0.0);
    let held: Vec<f64> = r.steps.iter().map(|s| s["held"]).collect();
    assert_eq!(held, [0.0, 1000.0], "one step per full 1,000 connections");
    assert!(r.steps.iter().all(|s| s["conn_per_s"] > 0.0));
}

#[test]
fn polling_connect_and_echo_go_over_long_polling() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "polling-connect",
        &["polling-connect", "--conns", "20", "--concurrency", "5"],
    );
    assert_eq!(metric(&r, "connected"), 20.0);
    assert_eq!(metric(&r, "errors"), 0.0);
    assert!(metric(&r, "latency_p99_us") >= metric(&r, "latency_p50_us"));
    let r = loadgen(
        &server,
        "polling-echo",
        &[
            "polling-echo",
            "--clients",
            "4",
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ],
    );
    assert!(metric(&r, "acks_per_s") > 0.0);
    assert_eq!(metric(&r, "echo_mismatches"), 0.0);
    assert_eq!(metric(&r, "failures"), 0.0);
    assert!(!r.curves["rtt"].is_empty());
}

#[test]
fn idle_memory_reads_the_server_rss() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "idle",
        &["idle-memory", "--conns", "20", "--settle", "0.2"],
    );
    assert_eq!(metric(&r, "held"), 20.0);
    assert!(metric(&r, "rss_before_kib") > 0.0);
    assert!(metric(&r, "rss_holding_kib") > 0.0);
    assert!(metric(&r, "kib_per_conn").is_finite());
}

#[test]
fn echo_ack_gets_its_payload_back() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "echo",
        &[
            "echo-ack",
            "--clients",
            "4",
            "--warmup",
            "0.2",
            "--duration",
            "1",
        ],
    );
    assert!(metric(&r, "acks_per_s") > 0.0);
    assert_eq!(metric(&r, "echo_mismatches"), 0.0);
    assert!(metric(&r, "rtt_p50_us") > 0.0);
    assert!(!r.curves["rtt"].is_empty());
}

#[test]
fn tick_fanout_receives_stamped_ticks_of_the_right_room() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "fanout",
        &[
            "tick-fanout",
            "--rooms",
            "2",
            "--per-room",
            "10",
            "--hz",
            "20",
            "--warmup",
            "0.5",
            "--duration",
            "1",
        ],
    );
    assert_eq!(metric(&r, "clients"), 20.0);
    assert!(metric(&r, "msgs_per_s") > 0.0);
    assert!(metric(&r, "p50_us") > 0.0);
    assert_eq!(metric(&r, "wrong_room"), 0.0);
    // Each tick's latency from its scheduled start includes its lateness.
    assert!(metric(&r, "sched_p99_us") >= metric(&r, "p99_us"));
    assert!(metric(&r, "late_max_us") >= metric(&r, "late_p99_us"));
}

#[test]
fn capacity_steps_and_reports() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "capacity",
        &[
            "capacity",
            "--per-room",
            "10",
            "--hz",
            "20",
            "--steps",
            "10,20",
            "--warmup",
            "0.3",
            "--duration",
            "1",
            "--p99-limit-ms",
            "1000",
        ],
    );
    assert!(!r.steps.is_empty());
    assert!(r.steps[0]["msgs_per_s"] > 0.0);
    assert!(r.get("players_held").is_some());
}

#[test]
fn slow_consumer_measures_both_phases() {
    let server = tickwire();
    let r = loadgen(
        &server,
        "slow",
        &[
            "slow-consumer",
            "--rooms",
            "2",
            "--normal",
            "19",
            "--hz",
            "20",
            "--warmup",
            "0.3",
            "--duration",
            "1",
            "--stall-settle",
            "0.3",
        ],
    );
    assert!(metric(&r, "without_msgs_per_s") > 0.0);
    assert!(metric(&r, "with_msgs_per_s") > 0.0);
    assert!(metric(&r, "peak_rss_kib") > 0.0);
    assert!(metric(&r, "stalled_secs") > 0.0);
}

#[test]
fn floor_server_speaks_the_contract() {
    let server = start(env!("CARGO_BIN_EXE_floor-server"), "20");
    let echo = loadgen(
        &server,
        "floor-echo",
        &[
            "echo-ack",
            "--clients",
            "4",
            "--warmup",
            "0.2",
            "--duration",
            "0.5",
        ],
    );
    assert!(metric(&echo, "acks_per_s") > 0.0);
    assert_eq!(metric(&echo, "echo_mismatches"), 0.0);
    let fanout = loadgen(
        &server,
        "floor-fanout",
        &[
            "tick-fanout",
            "--rooms",
            "2",
            "--per-room",
            "5",
            "--hz",
            "20",
            "--warmup",
            "0.3",
            "--duration",
            "0.5",
        ],
    );
    assert!(metric(&fanout, "msgs_per_s") > 0.0);
    assert_eq!(metric(&fanout, "wrong_room"), 0.0);
}

#[test]
#[cfg_attr(
    benches_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
fn cluster_match_times_local_and_remote_seats() {
    let redis_port = free_port();
    let redis = Server {
        child: Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts (Debian's redis-server; .ci/setup installs it)"),
        port: redis_port,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], redis.port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let env = [
        ("REDIS_URL", url.as_str()),
        ("GAME_CLUSTER", "1"),
        ("TICK_HZ", "30"),
        ("GROUP_SIZE", "4"),
    ];
    let a = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
    let b = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
    let ports = format!("{},{}", a.port, b.port);
    let pids = format!("{},{}", a.child.id(), b.child.id());
    let r = loadgen(
        &a,
        "cluster",
        &[
            "cluster-match",
            "--matches",
            "2",
            "--per-match",
            "4",
            "--hz",
            "30",
            "--warmup",
            "0.3",
            "--duration",
            "0.7",
            "--ports",
            &ports,
            "--server-pids",
            &pids,
            "--redis-pid",
            &redis.child.id().to_string(),
            "--redis-port",
            &redis_port.to_string(),
        ],
    );
    assert_eq!(metric(&r, "seated"), 8.0);
    assert_eq!(metric(&r, "disconnects"), 0.0);
    // Players alternate nodes and groups mix them: some seats are remote, some local.
    let remote = metric(&r, "remote_seats");
    assert!(remote > 0.0 && remote < 8.0, "{remote} remote seats");
    assert!(metric(&r, "local_samples") > 0.0 && metric(&r, "remote_samples") > 0.0);
    assert!(metric(&r, "bus_msgs_per_s") > 0.0);
    assert!(metric(&r, "bus_publishes_per_s") > 0.0);
    assert_eq!(metric(&r, "bus_dropped"), 0.0);
    assert!(metric(&r, "local_p50_us") > 0.0 && metric(&r, "remote_p50_us") > 0.0);
    // The bus's floor was probed through the same Redis.
    let (hop_p50, hop_p99) = (metric(&r, "bare_hop_p50_us"), metric(&r, "bare_hop_p99_us"));
    assert!(
        hop_p50 > 0.0 && hop_p99 >= hop_p50,
        "{hop_p50} / {hop_p99} µs"
    );
}

#[test]
#[cfg_attr(
    benches_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
fn publish_reaches_every_node_with_recovery_offsets() {
    let redis_port = free_port();
    let _redis = Server {
        child: Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server starts (Debian's redis-server; .ci/setup installs it)"),
        port: redis_port,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], redis_port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let env = [("REDIS_URL", url.as_str()), ("RECOVERY", "1")];
    let a = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
    let b = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tickwire_benches::client::{Client, ConnectOptions};
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let mut receiver = Client::connect(at(b.port), ConnectOptions::default())
            .await
            .unwrap();
        let mut publisher = Client::connect(at(a.port), ConnectOptions::default())
            .await
            .unwrap();
        let ack = publisher.call("publish", "[0,10]", |_| {}).await.unwrap();
        assert_eq!(ack, b"[10]");
        let mut got = Vec::new();
        while got.len() < 10 {
            let more = receiver
                .recv_timeout(Duration::from_secs(10), |msg| {
                    if let Some(body) = msg.strip_prefix(b"42[\"seq\",") {
                        let args: serde_json::Value =
                            serde_json::from_slice(&[b"[", body].concat()).unwrap();
                        got.push((
                            args[0]["n"].as_u64().unwrap(),
                            args[1].as_str().unwrap().to_owned(),
                        ));
                    }
                })
                .await
                .unwrap();
            assert!(more, "the numbers reach the other node");
        }
        let numbers: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (0..10).collect::<Vec<_>>());
        // Each carries a stream id as its recovery offset.
        assert!(got
            .iter()
            .all(|(_, offset)| offset.split_once('-').is_some()));
    });
}

/// A `redis-server` of the test's own on a free port (killed by its PID at the end).
fn redis_server() -> Server {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("redis-server starts (Debian's redis-server; .ci/setup installs it)");
    let redis = Server { child, port };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis
}

#[test]
#[cfg_attr(
    benches_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
fn cluster_broadcast_times_every_number_on_both_nodes_and_both_buses() {
    let redis = redis_server();
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    for bus in ["pubsub", "streams"] {
        let env = [("REDIS_URL", url.as_str()), ("REDIS_BUS", bus)];
        let a = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
        let b = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
        let r = loadgen(
            &a,
            &format!("cluster-broadcast-{bus}"),
            &[
                "cluster-broadcast",
                "--rate",
                "200",
                "--receivers-a",
                "1",
                "--receivers-b",
                "2",
                "--warmup",
                "0.2",
                "--duration",
                "0.5",
                "--drain",
                "5",
                "--ports",
                &format!("{},{}", a.port, b.port),
                "--server-pids",
                &format!("{},{}", a.child.id(), b.child.id()),
                "--redis-pid",
                &redis.child.id().to_string(),
            ],
        );
        // Every receiver got every measured number once, in order: two on node A (the
        // publisher among them), two on node B.
        assert_eq!(metric(&r, "receivers"), 4.0, "{bus}");
        assert!(metric(&r, "expected") > 0.0, "{bus}");
        assert_eq!(metric(&r, "missing"), 0.0, "{bus}");
        assert_eq!(metric(&r, "out_of_order"), 0.0, "{bus}");
        assert_eq!(metric(&r, "disconnects"), 0.0, "{bus}");
        assert_eq!(
            metric(&r, "local_samples") + metric(&r, "remote_samples"),
            metric(&r, "expected"),
            "{bus}"
        );
        assert_eq!(metric(&r, "local_samples"), metric(&r, "remote_samples"));
        assert!(metric(&r, "remote_p50_us") > 0.0, "{bus}");
        assert!(metric(&r, "remote_p99_us") >= metric(&r, "remote_p50_us"));
        assert!(metric(&r, "delivered_per_s") > 0.0, "{bus}");
        // /proc counts CPU in 10 ms ticks: one node may show none in half a second.
        for cpu in [
            "node_a_cpu_us_per_msg",
            "node_b_cpu_us_per_msg",
            "redis_cpu_us_per_msg",
        ] {
            let v = metric(&r, cpu);
            assert!(v.is_finite() && v >= 0.0, "{bus}: {cpu} = {v}");
        }
        assert!(metric(&r, "cpu_us_per_msg") > 0.0, "{bus}");
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a connection of its own: status and body.
fn http(port: u16, method: &str, path_query: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    write!(
        stream,
        "{method} {path_query} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[test]
#[cfg_attr(
    benches_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
fn long_polling_works_through_any_node_on_both_buses() {
    let redis = redis_server();
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    for bus in ["pubsub", "streams"] {
        let env = [("REDIS_URL", url.as_str()), ("REDIS_BUS", bus)];
        let a = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
        let b = start_with(env!("CARGO_BIN_EXE_bench-server"), &env);
        // The session opens on A; every later request goes to B, which forwards it to A.
        let (status, open) = http(a.port, "GET", "/socket.io/?EIO=4&transport=polling", "");
        assert_eq!(status, 200, "{bus}: {open}");
        let handshake: serde_json::Value =
            serde_json::from_str(open.trim_start_matches('0')).unwrap();
        let sid = handshake["sid"].as_str().unwrap().to_owned();
        let query = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
        assert_eq!(
            http(b.port, "POST", &query, "40"),
            (200, "ok".into()),
            "{bus}"
        );
        let (status, connected) = http(b.port, "GET", &query, "");
        assert_eq!(status, 200, "{bus}: {connected}");
        assert!(connected.starts_with("40{\"sid\":"), "{bus}: {connected}");
        let ping = "421[\"ping\",\"through b\"]";
        assert_eq!(http(b.port, "POST", &query, ping), (200, "ok".into()));
        let (status, ack) = http(b.port, "GET", &query, "");
        assert_eq!((status, ack.as_str()), (200, "431[\"through b\"]"), "{bus}");
    }
}
