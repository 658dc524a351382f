//! Scale-out on a Redis stream (`RedisStreamsAdapter`) over a real `redis-server`: two
//! nodes deliver every broadcast in one order with the stream's ids as offsets; a client
//! recovers through the other node with exactly what it missed; killing every Redis
//! connection mid-stream loses and duplicates nothing; an outage delivers locally at once
//! and flushes in order afterwards; the stream's cap and the session's window give a fresh
//! session, never a gap; and a Node `socket.io` server on the official streams adapter
//! shares the stream, its clients recovering on tickwire and the other way round.
//!
//! Each test starts its own `redis-server` on a free loopback port and stops it by its PID.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::redis::Redis;
use support::{parse_sio, serve, within, Msg, WsClient};
use tickwire::cluster::{RedisStreamsAdapter, RedisStreamsAdapterBuilder};
use tickwire::{Data, RecoveryConfig, SocketIo};

/// A node: recovery on (window `window`), `/` with `join`(room) → ack, `count`(n) →
/// broadcasts `n` numbered `m` events to everyone from this node, then acks.
struct Node {
    io: SocketIo,
    port: u16,
    adapter: RedisStreamsAdapter,
}

async fn node(redis: &Redis) -> Node {
    node_with(redis, RecoveryConfig::default(), |b| b).await
}

async fn node_with(
    redis: &Redis,
    recovery: RecoveryConfig,
    options: impl FnOnce(RedisStreamsAdapterBuilder) -> RedisStreamsAdapterBuilder,
) -> Node {
    node_counting(redis, recovery, options, Arc::default()).await
}

/// [`node_with`], whose `buy` handler counts its runs in `runs` (shared by the nodes) and
/// acks the count.
async fn node_counting(
    redis: &Redis,
    recovery: RecoveryConfig,
    options: impl FnOnce(RedisStreamsAdapterBuilder) -> RedisStreamsAdapterBuilder,
    runs: Arc<AtomicUsize>,
) -> Node {
    let io = SocketIo::builder()
        .connection_state_recovery(recovery)
        .build();
    let adapter = options(RedisStreamsAdapter::builder(redis.url()))
        .attach(&io)
        .await
        .expect("attached to the stream");
    let server = io.clone();
    io.ns("/", move |socket| {
        let runs = runs.clone();
        socket.on("buy", move |_, Data(item): Data<String>, ack| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                ack.send(&format!("{item} #{run}")).ok();
            }
        });
        socket.on("whisper", |socket, Data(n): Data<u64>, ack| async move {
            socket.emit("m", &n).unwrap();
            ack.send(&n).ok();
        });
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"ok").ok();
        });
        let server = server.clone();
        socket.on("count", move |_, Data((from, n)): Data<(u64, u64)>, ack| {
            let server = server.clone();
            async move {
                let ns = server.of("/").unwrap();
                for i in from..from + n {
                    ns.emit("m", &i).unwrap();
                }
                ack.send(&n).ok();
            }
        });
    });
    let port = serve(&io);
    Node { io, port, adapter }
}

/// CONNECT with `auth`; the reply's `(sid, pid)`.
async fn connect(client: &mut WsClient, auth: &str) -> (String, String) {
    client.send_text(&format!("40{auth}")).await;
    let reply = client.recv_text_skip_pings().await;
    let data = parse_sio(&reply).data.expect("CONNECT reply payload");
    (
        data["sid"].as_str().expect("sid").to_owned(),
        data["pid"].as_str().expect("pid").to_owned(),
    )
}

/// The next `m` broadcast: `(number, offset)`.
async fn next_m(client: &mut WsClient) -> (u64, String) {
    let Msg::Text(frame) = client.wait_for(|m| m.text_starts_with(r#"42["m","#)).await else {
        unreachable!()
    };
    let data = parse_sio(&frame).data.expect("payload");
    let args = data.as_array().unwrap();
    assert_eq!(args.len(), 3, "the number, then its offset: {frame}");
    (
        args[1].as_u64().expect("a number"),
        args[2].as_str().expect("an offset").to_owned(),
    )
}

/// Ask `node` (through `client`) to broadcast `from..from+n`, and wait for its ack.
async fn count(client: &mut WsClient, ack: u64, from: u64, n: u64) {
    client
        .send_text(&format!(r#"42{ack}["count",[{from},{n}]]"#))
        .await;
    client
        .wait_for(|m| m.text_starts_with(&format!("43{ack}[")))
        .await;
}

fn stream_id(offset: &str) -> (u64, u64) {
    let (ms, seq) = offset.split_once('-').expect("a stream id");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn every_node_delivers_every_broadcast_in_one_order() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let (mut on_a, mut on_b) = (WsClient::open(a.port).await, WsClient::open(b.port).await);
    connect(&mut on_a, "").await;
    connect(&mut on_b, "").await;
    let (mut asker_a, mut asker_b) = (WsClient::open(a.port).await, WsClient::open(b.port).await);
    connect(&mut asker_a, "").await;
    connect(&mut asker_b, "").await;

    // Both nodes broadcast at once: every socket sees all 100, in the same order, with
    // offsets that are stream ids, increasing.
    let (_, _) = futures_util::join!(
        count(&mut asker_a, 1, 0, 50),
        count(&mut asker_b, 1, 1000, 50)
    );
    let mut orders = Vec::new();
    for client in [&mut on_a, &mut on_b] {
        let mut got = Vec::new();
        let mut last = (0, 0);
        for _ in 0..100 {
            let (n, offset) = within("a broadcast", next_m(client)).await;
            let id = stream_id(&offset);
            assert!(id > last, "offsets increase: {last:?} then {id:?}");
            last = id;
            got.push((n, offset));
        }
        orders.push(got);
    }
    assert_eq!(orders[0], orders[1], "one order, one offset per broadcast");
    let mut numbers: Vec<u64> = orders[0].iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    let expected: Vec<u64> = (0..50).chain(1000..1050).collect();
    assert_eq!(numbers, expected, "each once");
    // Each origin's own broadcasts keep their order.
    let from_a: Vec<u64> = orders[0]
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n < 1000)
        .collect();
    assert_eq!(from_a, (0..50).collect::<Vec<_>>());
    drop((a.adapter, b.adapter));
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_client_recovers_through_the_other_node_with_exactly_what_it_missed() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut asker = WsClient::open(a.port).await;
    connect(&mut asker, "").await;

    let mut client = WsClient::open(a.port).await;
    let (sid, pid) = connect(&mut client, "").await;
    client.send_text(r#"421["join","r"]"#).await;
    client.wait_for_text(r#"431["ok"]"#).await;
    count(&mut asker, 1, 0, 5).await;
    let mut last = String::new();
    for i in 0..5 {
        let (n, offset) = within("live", next_m(&mut client)).await;
        assert_eq!(n, i);
        last = offset;
    }

    // Its transport drops; meanwhile both nodes broadcast (their broadcasts interleave in
    // the stream as they come). An observer on node B sees the stream's order.
    drop(client);
    let mut observer = WsClient::open(b.port).await;
    connect(&mut observer, "").await;
    let mut asker_b = WsClient::open(b.port).await;
    connect(&mut asker_b, "").await;
    count(&mut asker, 2, 5, 5).await;
    count(&mut asker_b, 1, 10, 5).await;
    let mut order = Vec::new();
    for _ in 5..15 {
        order.push(within("the observer", next_m(&mut observer)).await);
    }
    // The session is in Redis once the node has seen the drop.
    session_stored(&redis, &pid, true).await;

    // It comes back through node B: same id, its room, and every broadcast it missed,
    // once, in the stream's order, with the same offsets; then live ones.
    let mut back = WsClient::open(b.port).await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{last}"}}"#);
    let (sid_back, pid_back) = connect(&mut back, &auth).await;
    assert_eq!(
        (sid_back.as_str(), pid_back.as_str()),
        (sid.as_str(), pid.as_str())
    );
    let mut got = Vec::new();
    for _ in 5..15 {
        got.push(within("replayed", next_m(&mut back)).await);
    }
    assert_eq!(got, order);
    count(&mut asker, 3, 15, 2).await;
    assert_eq!(within("live", next_m(&mut back)).await.0, 15);
    assert_eq!(within("live", next_m(&mut back)).await.0, 16);
    assert_eq!(
        b.io.of("/").unwrap().room_size("r"),
        1,
        "its room came back"
    );
    assert_eq!(cluster_metric(&b.io, "replayed"), 10);

    // The session was taken: the same claim again is a fresh session.
    let mut again = WsClient::open(a.port).await;
    let (sid_again, _) = connect(&mut again, &auth).await;
    assert_ne!(sid_again, sid);
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

/// Wait until Redis holds (or no longer holds) the session of `pid`.
async fn session_stored(redis: &Redis, pid: &str, stored: bool) {
    let key = format!("sio:session:{pid}");
    within("the session's key", async {
        while (redis.command(&["EXISTS", &key]).trim() == "1") != stored {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn killing_every_redis_connection_mid_stream_loses_and_duplicates_nothing() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let (mut on_a, mut on_b) = (WsClient::open(a.port).await, WsClient::open(b.port).await);
    connect(&mut on_a, "").await;
    connect(&mut on_b, "").await;
    let mut asker = WsClient::open(a.port).await;
    connect(&mut asker, "").await;

    count(&mut asker, 1, 0, 200).await;
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "normal"]);
    assert!(killed.trim().parse::<u32>().unwrap() >= 4, "{killed}");
    count(&mut asker, 2, 200, 200).await;
    for client in [&mut on_a, &mut on_b] {
        for i in 0..400 {
            let (n, _) = within("every number, in order", next_m(client)).await;
            assert_eq!(n, i);
        }
    }
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn during_an_outage_local_delivery_goes_on_and_the_rest_follows_in_order() {
    let mut redis = Redis::start();
    let grace = |b: RedisStreamsAdapterBuilder| b.outage_grace(Duration::from_millis(200));
    let a = node_with(&redis, RecoveryConfig::default(), grace).await;
    let b = node_with(&redis, RecoveryConfig::default(), grace).await;
    let (mut on_a, mut on_b) = (WsClient::open(a.port).await, WsClient::open(b.port).await);
    connect(&mut on_a, "").await;
    connect(&mut on_b, "").await;
    let mut asker = WsClient::open(a.port).await;
    connect(&mut asker, "").await;
    count(&mut asker, 1, 0, 3).await;
    for client in [&mut on_a, &mut on_b] {
        for i in 0..3 {
            assert_eq!(within("before", next_m(client)).await.0, i);
        }
    }

    // Redis goes away. Node A's own sockets still get A's broadcasts (after the grace),
    // with offsets of the offline form; node B's get nothing yet.
    let port = redis.port;
    redis.stop();
    count(&mut asker, 2, 3, 3).await;
    for i in 3..6 {
        let (n, offset) = within("local, at once", next_m(&mut on_a)).await;
        assert_eq!(n, i);
        assert!(offset.contains('~'), "an offline offset: {offset}");
    }
    // Redis is back (empty: a restart without persistence): A flushes its outbox in order.
    let _redis = Redis::start_on(port);
    for i in 3..6 {
        assert_eq!(within("flushed to B", next_m(&mut on_b)).await.0, i);
    }
    // And nothing twice on A.
    count(&mut asker, 3, 6, 1).await;
    assert_eq!(within("after", next_m(&mut on_a)).await.0, 6);
    assert_eq!(within("after", next_m(&mut on_b)).await.0, 6);
    assert_eq!(cluster_metric(&a.io, "queued_offline"), 3);
    assert_eq!(cluster_metric(&a.io, "flushed"), 3);
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_trimmed_offset_or_an_expired_session_gives_a_fresh_session_never_a_gap() {
    let redis = Redis::start();
    let short = RecoveryConfig {
        max_disconnection: Duration::from_millis(300),
        ..RecoveryConfig::default()
    };
    let a = node_with(&redis, short.clone(), |b| b.maxlen(10)).await;
    let b = node_with(&redis, short, |b| b.maxlen(10)).await;
    let mut asker = WsClient::open(a.port).await;
    connect(&mut asker, "").await;

    // Trimmed: the client's last offset left the stream while it was away.
    let mut client = WsClient::open(a.port).await;
    let (sid, pid) = connect(&mut client, "").await;
    count(&mut asker, 1, 0, 1).await;
    let (_, offset) = within("live", next_m(&mut client)).await;
    drop(client);
    session_stored(&redis, &pid, true).await;
    count(&mut asker, 2, 1, 500).await;
    redis.command(&["XTRIM", "socket.io", "MAXLEN", "10"]);
    let mut back = WsClient::open(b.port).await;
    let (sid_back, pid_back) = connect(
        &mut back,
        &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#),
    )
    .await;
    assert_ne!(sid_back, sid, "a fresh session");
    assert_ne!(pid_back, pid);
    // The claim was looked at (and the session consumed), not ignored.
    session_stored(&redis, &pid, false).await;

    // Expired: the window passed before it came back.
    let mut client = WsClient::open(a.port).await;
    let (sid, pid) = connect(&mut client, "").await;
    count(&mut asker, 3, 1000, 1).await;
    let (_, offset) = within("live", next_m(&mut client)).await;
    drop(client);
    // The window passes: Redis lets the session's key lapse.
    session_stored(&redis, &pid, true).await;
    session_stored(&redis, &pid, false).await;
    let mut late = WsClient::open(b.port).await;
    let (sid_late, _) = connect(
        &mut late,
        &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#),
    )
    .await;
    assert_ne!(sid_late, sid, "a fresh session");
    // Garbage offsets too, without a panic.
    let mut odd = WsClient::open(b.port).await;
    let (sid_odd, _) = connect(&mut odd, r#"{"pid":"nope","offset":"1~~"}"#).await;
    assert!(!sid_odd.is_empty());
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn an_emit_retried_through_the_other_node_runs_once_and_gets_its_answer() {
    let redis = Redis::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let recovery = RecoveryConfig::default();
    let a = node_counting(&redis, recovery.clone(), |b| b, runs.clone()).await;
    let b = node_counting(&redis, recovery, |b| b, runs.clone()).await;
    let mut asker = WsClient::open(a.port).await;
    connect(&mut asker, "").await;

    let mut client = WsClient::open(a.port).await;
    let (sid, pid) = connect(&mut client, "").await;
    count(&mut asker, 1, 0, 1).await;
    let (_, offset) = within("an offset", next_m(&mut client)).await;
    // The emit runs on node A; its answer is read, but say the client never saw it: it
    // drops, comes back through node B, and sends the same emit id again.
    client
        .send_text(r#"427["tw:once","order-1","buy","sword"]"#)
        .await;
    client.wait_for_text(r#"437["sword #1"]"#).await;
    drop(client);
    session_stored(&redis, &pid, true).await;
    let mut back = WsClient::open(b.port).await;
    let (sid_back, _) = connect(
        &mut back,
        &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#),
    )
    .await;
    assert_eq!(sid_back, sid, "recovered");
    back.send_text(r#"428["tw:once","order-1","buy","sword"]"#)
        .await;
    back.wait_for_text(r#"438["sword #1"]"#).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    // A new emit id runs.
    back.send_text(r#"429["tw:once","order-2","buy","shield"]"#)
        .await;
    back.wait_for_text(r#"439["shield #2"]"#).await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn private_emits_lost_with_the_transport_are_replayed_through_the_other_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut client = WsClient::open(a.port).await;
    let (sid, pid) = connect(&mut client, "").await;
    client.send_text(r#"421["whisper",1]"#).await;
    let (n, offset) = within("a private emit", next_m(&mut client)).await;
    assert_eq!(n, 1);
    stream_id(&offset);
    // Emitted, then lost with the transport before the client read them.
    for (ack, n) in [(2, 2), (3, 3)] {
        client
            .send_text(&format!(r#"42{ack}["whisper",{n}]"#))
            .await;
        client.wait_for_text(&format!("43{ack}[{n}]")).await;
    }
    drop(client);
    session_stored(&redis, &pid, true).await;
    let mut back = WsClient::open(b.port).await;
    let auth = format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#);
    assert_eq!(connect(&mut back, &auth).await.0, sid, "recovered");
    for expected in [2, 3] {
        assert_eq!(within("a missed emit", next_m(&mut back)).await.0, expected);
    }
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn without_recovery_broadcasts_carry_no_offset() {
    let redis = Redis::start();
    let io = SocketIo::builder().build();
    let _adapter = RedisStreamsAdapter::builder(redis.url())
        .attach(&io)
        .await
        .expect("attached to the stream");
    io.ns("/", |_| {});
    let port = serve(&io);
    let mut client = WsClient::open(port).await;
    client.send_text("40").await;
    client.wait_for(|m| m.text_starts_with("40")).await;
    io.of("/").unwrap().emit("m", &1).unwrap();
    let Msg::Text(frame) = within(
        "the broadcast",
        client.wait_for(|m| m.text_starts_with("42")),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(frame, r#"42["m",1]"#, "no offset argument");
}

/// One stream shared with a Node `socket.io` server on the official
/// `@socket.io/redis-streams-adapter` (`node_streams.mjs`): broadcasts cross both ways with
/// the same stream ids, a Node room operation applies in stream order, and a client recovers
/// from either server on the other.
#[actix_rt::test]
#[cfg_attr(
    any(tickwire_missing_redis, tickwire_missing_interop_js),
    ignore = "needs redis-server, node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
async fn a_node_streams_adapter_server_shares_the_stream_and_recovers_both_ways() {
    let redis = Redis::start();
    let node = node(&redis).await;
    support::run_node_script_with(
        "node_streams.mjs",
        node.port,
        &[("TICKWIRE_REDIS_URL", redis.url())],
        Duration::from_secs(40),
    )
    .await;
}
