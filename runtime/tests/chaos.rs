//! The chaos test: two nodes on a Redis stream (`RedisStreamsAdapter`, recovery on), each
//! receiver behind a TCP proxy of its own that sends every (re)connection to the other
//! node. A publisher asks for numbered broadcasts; mid-stream every receiver's transport is
//! cut and every Redis client connection is killed (`CLIENT KILL`). Each receiver must end
//! with every number exactly once, in order, having recovered its session on the other
//! node. Run with the official JS client and with the tickwire client.
//!
//! Each test starts its own `redis-server` on a free loopback port and stops it by its PID.

mod support;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use support::proxy::Proxy;
use support::redis::Redis;
use support::{serve, within, WsClient};
use tickwire::cluster::RedisStreamsAdapter;
use tickwire::{Data, RecoveryConfig, SocketIo};
use tickwire_client::{Client, ConnectionEvent, Reconnect};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

/// Numbers each receiver must get.
const TOTAL: u64 = 900;

/// A node of the benchmark contract's "Cluster and recovery" section: recovery on, and
/// `publish`([from, count]) emits `seq` `{"n": i}` to every socket of `/` on every node,
/// in order, then acks `count`.
async fn node(redis: &Redis) -> (SocketIo, u16) {
    let io = SocketIo::builder()
        .connection_state_recovery(RecoveryConfig::default())
        .build();
    RedisStreamsAdapter::builder(redis.url())
        .attach(&io)
        .await
        .expect("attached to the stream");
    let server = io.clone();
    io.ns("/", move |socket| {
        let server = server.clone();
        socket.on(
            "publish",
            move |_, Data((from, count)): Data<(u64, u64)>, ack| {
                let ns = server.of("/").expect("namespace /");
                async move {
                    for n in from..from + count {
                        ns.emit("seq", &serde_json::json!({ "n": n })).ok();
                    }
                    ack.send(&count).ok();
                }
            },
        );
    });
    let port = serve(&io);
    (io, port)
}

/// Ask for `from..from+count` through `publisher`, and wait for its ack.
async fn publish(publisher: &mut WsClient, ack: u64, from: u64, count: u64) {
    publisher
        .send_text(&format!(r#"42{ack}["publish",[{from},{count}]]"#))
        .await;
    publisher
        .wait_for(|m| m.text_starts_with(&format!("43{ack}[")))
        .await;
}

/// A JS receiver (`tests/interop/js/chaos_receiver.mjs`) through `proxy`.
struct JsReceiver {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl JsReceiver {
    fn start(proxy: &Proxy) -> JsReceiver {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js");
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `npm ci` in {} (or .ci/setup)",
            dir.display()
        );
        let mut child = tokio::process::Command::new("node")
            .arg("chaos_receiver.mjs")
            .current_dir(&dir)
            .env("TICKWIRE_URL", format!("http://127.0.0.1:{}", proxy.port))
            .env("EXPECT", TOTAL.to_string())
            .env("LIMIT_MS", "30000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup"));
        let stdout = child.stdout.take().expect("piped stdout");
        JsReceiver {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// The next line starting with `prefix` (the rest of it).
    async fn line(&mut self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .next_line()
                .await
                .expect("the receiver's output")
                .unwrap_or_else(|| panic!("the receiver ended before {prefix:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }
}

/// Check a receiver's result: every number once, in order, and its session recovered.
fn check(result: &Value, who: &str) {
    let received: Vec<u64> = serde_json::from_value(result["received"].clone()).expect("numbers");
    let expected: Vec<u64> = (0..TOTAL).collect();
    if received != expected {
        let missing: Vec<u64> = expected
            .iter()
            .copied()
            .filter(|n| !received.contains(n))
            .take(20)
            .collect();
        panic!(
            "{who}: {} numbers, missing (first 20) {missing:?}, first out of order at {:?}",
            received.len(),
            received.windows(2).position(|w| w[1] != w[0] + 1)
        );
    }
    assert_eq!(result["recovered"], true, "{who}: {result}");
    assert!(
        result["connects"].as_u64() >= Some(2),
        "{who} reconnected: {result}"
    );
}

#[actix_rt::test]
#[cfg_attr(
    any(tickwire_missing_redis, tickwire_missing_interop_js),
    ignore = "needs redis-server and node with socket.io-client (run .ci/setup)"
)]
async fn official_js_clients_get_every_number_once_in_order_through_cuts_and_redis_kills() {
    let redis = Redis::start();
    let (a, port_a) = node(&redis).await;
    let (b, port_b) = node(&redis).await;
    let mut proxies = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let proxy = Proxy::start(vec![port_a, port_b]).await;
        receivers.push(JsReceiver::start(&proxy));
        proxies.push(proxy);
    }
    for receiver in &mut receivers {
        assert_eq!(
            within("connected", receiver.line("connected ")).await,
            "false"
        );
    }
    let mut publisher = WsClient::open(port_a).await;
    publisher.send_text("40").await;
    publisher.wait_for(|m| m.text_starts_with("40")).await;

    // A third of the numbers, received in part; then, while the next third goes out, every
    // transport is cut and every Redis connection killed; then the rest.
    publish(&mut publisher, 1, 0, TOTAL / 3).await;
    for receiver in &mut receivers {
        within("the first numbers", receiver.line("got 100")).await;
    }
    publish(&mut publisher, 2, TOTAL / 3, TOTAL / 3).await;
    for proxy in &proxies {
        proxy.cut();
    }
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed.trim().parse::<u32>().unwrap_or(0) >= 4, "{killed}");
    for receiver in &mut receivers {
        assert_eq!(
            within("reconnected", receiver.line("connected ")).await,
            "true",
            "recovered on the other node"
        );
    }
    publish(&mut publisher, 3, 2 * TOTAL / 3, TOTAL - 2 * TOTAL / 3).await;

    for (i, receiver) in receivers.iter_mut().enumerate() {
        let result: Value =
            serde_json::from_str(&within("the result", receiver.line("result ")).await)
                .expect("JSON");
        check(&result, &format!("JS receiver {i}"));
        let _ = receiver.child.wait().await;
    }
    for proxy in &proxies {
        assert_eq!(
            proxy.routed(),
            vec![port_a, port_b],
            "reconnected to the other node"
        );
    }
    // The other node replayed what the cut transports lost.
    assert!(cluster_metric(&b, "replayed") > 0, "{}", b.metrics_text());
    drop(a);
}

/// A `tickwire_cluster_messages` figure of `io`.
fn cluster_metric(io: &SocketIo, outcome: &str) -> u64 {
    let metrics = io.metrics_text();
    metrics
        .lines()
        .find(|l| l.contains("cluster_messages") && l.contains(&format!("\"{outcome}\"")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {outcome} in\n{metrics}"))
}

/// What a tickwire-client receiver saw: the numbers, in the order they came.
#[derive(Default)]
struct Seen {
    numbers: Vec<u64>,
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn tickwire_clients_get_every_number_once_in_order_through_cuts_and_redis_kills() {
    let redis = Redis::start();
    let (a, port_a) = node(&redis).await;
    let (b, port_b) = node(&redis).await;
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let proxy = Proxy::start(vec![port_a, port_b]).await;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (events, connections) = mpsc::unbounded_channel();
        let numbers = seen.clone();
        let client = Client::builder(format!("http://127.0.0.1:{}", proxy.port))
            .reconnect(
                Reconnect::default()
                    .initial(Duration::from_millis(50))
                    .max(Duration::from_millis(200))
                    .jitter(0.0),
            )
            // The broadcast's offset comes last: `(data, offset)`.
            .on("seq", move |_, (data, _offset): (Value, String), _| {
                if let Some(n) = data["n"].as_u64() {
                    numbers.lock().numbers.push(n);
                }
            })
            .on_connection(move |client, event| {
                if matches!(event, ConnectionEvent::Reconnected { .. }) {
                    let _ = events.send(client.recovered());
                }
            })
            .connect()
            .await
            .expect("connected through the proxy");
        receivers.push((proxy, client, seen, connections));
    }
    let mut publisher = WsClient::open(port_a).await;
    publisher.send_text("40").await;
    publisher.wait_for(|m| m.text_starts_with("40")).await;

    publish(&mut publisher, 1, 0, TOTAL / 3).await;
    for (_, _, seen, _) in &receivers {
        within("the first numbers", async {
            while seen.lock().numbers.len() < 100 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
    publish(&mut publisher, 2, TOTAL / 3, TOTAL / 3).await;
    for (proxy, ..) in &receivers {
        proxy.cut();
    }
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed.trim().parse::<u32>().unwrap_or(0) >= 4, "{killed}");
    for (_, _, _, connections) in &mut receivers {
        let recovered = within("reconnected", connections.recv()).await;
        assert_eq!(recovered, Some(true), "recovered on the other node");
    }
    publish(&mut publisher, 3, 2 * TOTAL / 3, TOTAL - 2 * TOTAL / 3).await;

    for (i, (proxy, client, seen, _)) in receivers.iter().enumerate() {
        within("every number", async {
            while (seen.lock().numbers.len() as u64) < TOTAL {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let result = serde_json::json!({
            "received": seen.lock().numbers,
            "recovered": client.recovered(),
            "connects": proxy.routed().len(),
        });
        check(&result, &format!("tickwire receiver {i}"));
        assert_eq!(
            proxy.routed(),
            vec![port_a, port_b],
            "reconnected to the other node"
        );
        client.disconnect();
    }
    assert!(cluster_metric(&b, "replayed") > 0, "{}", b.metrics_text());
    drop(a);
}
