//! Scale-out over a real `redis-server`: two nodes (two `SocketIo` servers, each with its own
//! listener and its own `RedisAdapter`) share one channel, and every broadcast form, room
//! operation and codec reaches the sockets of both.
//!
//! Each test starts its own `redis-server` on a free loopback port (`.ci/setup` installs
//! Debian's) and stops it by its PID. Who got a broadcast is checked exactly, with a fence:
//! after the broadcast under test, the same node emits `fence` to every socket. Redis
//! delivers one publisher's messages in order, so what a client receives before its fence
//! is everything the broadcast sent it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use support::redis::Redis;
use support::{events, serve, sio_url, within, Events, Msg, WsClient};
use tickwire::cluster::{RedisAdapter, RedisAdapterError};
use tickwire::protocol::compact::{self, CompactKind, CompactPacket, Limits};
use tickwire::{DisconnectReason, Payload, RecoveryConfig, SendError, Socket, SocketIo};

const FENCE: &str = r#"42["fence"]"#;

/// A node: a server with `/` (reports its sockets; `shout` broadcasts to all but the
/// sender) on its own port, attached to `redis`.
struct Node {
    io: SocketIo,
    port: u16,
    sockets: Events<Socket>,
    reasons: Events<DisconnectReason>,
    adapter: RedisAdapter,
}

async fn node(redis: &Redis, builder: tickwire::SocketIoBuilder) -> Node {
    let io = builder.build();
    let (socket_tx, sockets) = events();
    let (reason_tx, reasons) = events();
    io.ns("/", move |socket| {
        support::on_shout(&socket);
        let tx = reason_tx.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = tx.send(reason);
        });
        let _ = socket_tx.send(socket);
    });
    let port = serve(&io);
    let adapter = within(
        "attaching to Redis",
        RedisAdapter::builder(redis.url())
            .channel("test")
            .attach(&io),
    )
    .await
    .expect("attach");
    Node {
        io,
        port,
        sockets,
        reasons,
        adapter,
    }
}

impl Node {
    async fn client(&mut self) -> (WsClient, Socket) {
        let (client, sid) = WsClient::connect(self.port).await;
        let socket = self.sockets.next().await;
        assert_eq!(socket.id(), sid);
        (client, socket)
    }
}

/// Two nodes with two clients each: clients 0, 1 on node A; 2, 3 on node B.
struct Fixture {
    _redis: Redis,
    a: Node,
    b: Node,
    clients: Vec<WsClient>,
    sockets: Vec<Socket>,
}

async fn fixture() -> Fixture {
    let redis = Redis::start();
    let mut a = node(&redis, SocketIo::builder()).await;
    let mut b = node(&redis, SocketIo::builder()).await;
    let mut clients = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..4 {
        let (client, socket) = if i < 2 {
            a.client().await
        } else {
            b.client().await
        };
        clients.push(client);
        sockets.push(socket);
    }
    Fixture {
        _redis: redis,
        a,
        b,
        clients,
        sockets,
    }
}

impl Fixture {
    /// What each client received since the last call, up to a fence that `from` emits now
    /// to every socket of both nodes.
    async fn received(&mut self, from: &SocketIo) -> Vec<Vec<String>> {
        from.of("/")
            .unwrap()
            .broadcast()
            .emit_payload("fence", Payload::new())
            .unwrap();
        let mut all = Vec::new();
        for client in &mut self.clients {
            let mut frames = Vec::new();
            loop {
                let frame = within("the fence", client.recv_text()).await;
                if frame == FENCE {
                    break;
                }
                frames.push(frame);
            }
            all.push(frames);
        }
        all
    }
}

/// `frame` for the clients at `to` of the fixture's four, nothing for the others.
fn only(to: &[usize], frame: &str) -> Vec<Vec<String>> {
    support::only(4, to, frame)
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn every_broadcast_form_reaches_the_sockets_of_both_nodes() {
    let mut f = fixture().await;
    let (a, b) = (f.a.io.clone(), f.b.io.clone());

    a.emit("news", &serde_json::json!({"x": 1})).unwrap();
    assert_eq!(
        f.received(&a).await,
        only(&[0, 1, 2, 3], r#"42["news",{"x":1}]"#)
    );

    // All but the sender, from a handler on node B.
    f.clients[2].send_text(r#"427["shout","hey"]"#).await;
    assert_eq!(f.clients[2].recv_text().await, r#"437["sent"]"#);
    assert_eq!(
        f.received(&b).await,
        only(&[0, 1, 3], r#"42["shout","hey"]"#)
    );

    // Rooms joined on each node; `to`, `except`, and their combination.
    f.sockets[1].join("red");
    f.sockets[2].join("red");
    f.sockets[3].join("blue");
    a.to("red").emit("red", &1).unwrap();
    assert_eq!(f.received(&a).await, only(&[1, 2], r#"42["red",1]"#));
    b.of("/")
        .unwrap()
        .except("red")
        .emit("not-red", &2)
        .unwrap();
    assert_eq!(f.received(&b).await, only(&[0, 3], r#"42["not-red",2]"#));
    a.to("red")
        .to("blue")
        .except("blue")
        .emit("mix", &3)
        .unwrap();
    assert_eq!(f.received(&a).await, only(&[1, 2], r#"42["mix",3]"#));
    f.sockets[1].to("red").emit("from-1", &4).unwrap();
    assert_eq!(f.received(&a).await, only(&[2], r#"42["from-1",4]"#));

    // `local()` stays on its node; `volatile()` still crosses.
    a.to("red").local().emit("local", &5).unwrap();
    assert_eq!(f.received(&a).await, only(&[1], r#"42["local",5]"#));
    a.to("red").volatile().emit("volatile", &6).unwrap();
    assert_eq!(f.received(&a).await, only(&[1, 2], r#"42["volatile",6]"#));

    // A socket's own room crosses nodes too: a direct message to a socket of the other node.
    a.to(f.sockets[3].id()).emit("direct", &7).unwrap();
    assert_eq!(f.received(&a).await, only(&[3], r#"42["direct",7]"#));
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn room_operations_and_disconnects_apply_on_every_node() {
    let mut f = fixture().await;
    let a = f.a.io.clone();
    let ns = a.of("/").unwrap();
    f.sockets[1].join("red");
    f.sockets[2].join("red");

    // Members of red, on both nodes, join green; messages from one node stay in order, so
    // a broadcast to green right after reaches the member on node B as well.
    ns.to("red").sockets_join("green");
    ns.to("green").emit("green", &1).unwrap();
    assert_eq!(f.received(&a).await, only(&[1, 2], r#"42["green",1]"#));
    assert!(f.sockets[2].rooms().contains(&"green".to_owned()));

    ns.to("green").except("red").emit("none", &0).unwrap();
    ns.broadcast().sockets_leave("green");
    ns.to("green").emit("after-leave", &2).unwrap();
    assert_eq!(f.received(&a).await, only(&[], ""));
    assert!(!f.sockets[2].rooms().contains(&"green".to_owned()));

    // Disconnect red's members everywhere; the others stay.
    ns.to("red").disconnect_sockets(false);
    assert_eq!(
        within("node A's disconnect", f.a.reasons.next()).await,
        DisconnectReason::ServerNamespaceDisconnect
    );
    assert_eq!(
        within("node B's disconnect", f.b.reasons.next()).await,
        DisconnectReason::ServerNamespaceDisconnect
    );
    for i in [1, 2] {
        assert_eq!(
            within("the DISCONNECT", f.clients[i].recv_text()).await,
            "41"
        );
    }
    a.emit("still-here", &3).unwrap();
    for i in [0, 3] {
        assert_eq!(
            within("the broadcast", f.clients[i].recv_text()).await,
            r#"42["still-here",3]"#
        );
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    tick: u32,
    positions: Vec<(i16, i16)>,
}

/// A compact-codec client on `port`, joined to `/`.
async fn compact_client(port: u16) -> WsClient {
    let mut ws = WsClient::open_url(&sio_url(
        "ws",
        port,
        "EIO=4&transport=websocket&codec=compact",
    ))
    .await;
    ws.send_binary(&compact::encode(&CompactPacket::connect("/", None)).unwrap())
        .await;
    let reply = compact::decode(ws.recv_binary().await, &Limits::default()).unwrap();
    assert_eq!(reply.kind, CompactKind::Connect);
    ws
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn compact_clients_and_binary_attachments_cross_nodes_with_the_origins_bytes() {
    let redis = Redis::start();
    let mut a = node(&redis, SocketIo::builder()).await;
    let mut b = node(&redis, SocketIo::builder()).await;
    let mut compact_a = compact_client(a.port).await;
    let _ = a.sockets.next().await;
    let mut compact_b = compact_client(b.port).await;
    let _ = b.sockets.next().await;
    let (mut json_b, _) = b.client().await;

    // A typed emit: the compact client on node B gets the very bytes node A's got.
    let snapshot = Snapshot {
        tick: 7,
        positions: vec![(1, -2), (300, 4)],
    };
    a.io.emit("snapshot", &snapshot).unwrap();
    let here = compact_a.recv_binary().await;
    let there = within("the snapshot on node B", compact_b.recv_binary()).await;
    assert_eq!(here, there);
    let packet = compact::decode(there.clone(), &Limits::default()).unwrap();
    assert_eq!(
        compact::from_payload::<Snapshot>(&packet.payload).unwrap(),
        snapshot
    );
    assert_eq!(
        within("the JSON snapshot", json_b.recv_text()).await,
        r#"42["snapshot",{"tick":7,"positions":[[1,-2],[300,4]]}]"#
    );

    // JSON with a binary attachment: header and attachment arrive on node B.
    let payload = Payload::new()
        .arg(&"file")
        .unwrap()
        .binary(Bytes::from_static(&[0, 1, 2, 255]));
    a.io.of("/")
        .unwrap()
        .broadcast()
        .emit_payload("upload", payload)
        .unwrap();
    assert_eq!(
        within("the header", json_b.recv_text()).await,
        r#"451-["upload","file",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(
        within("the attachment", json_b.recv_binary()).await,
        Bytes::from_static(&[0, 1, 2, 255])
    );
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn a_remote_broadcast_carries_the_receiving_nodes_recovery_offset() {
    let redis = Redis::start();
    let a = node(&redis, SocketIo::builder()).await;
    let recovering = SocketIo::builder().connection_state_recovery(RecoveryConfig::default());
    let mut b = node(&redis, recovering).await;
    let mut client = WsClient::open(b.port).await;
    client.send_text("40").await;
    let reply = client.recv_text().await;
    assert!(reply.contains("\"pid\""), "recovery is on: {reply}");
    let _ = b.sockets.next().await;

    // Node B numbers what it delivers: its own broadcast, then one from node A.
    b.io.emit("mine", &1).unwrap();
    a.io.emit("theirs", &2).unwrap();
    let first = client.recv_text().await;
    let second = within("node A's broadcast", client.recv_text()).await;
    let offset = |frame: &str| -> u64 {
        let args: Vec<serde_json::Value> = serde_json::from_str(&frame[2..]).unwrap();
        args.last().unwrap().as_str().unwrap().parse().unwrap()
    };
    assert!(first.starts_with(r#"42["mine",1,""#), "{first}");
    assert!(second.starts_with(r#"42["theirs",2,""#), "{second}");
    assert_eq!(offset(&second), offset(&first) + 1);
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn attach_refuses_a_bad_url_an_unreachable_redis_and_a_second_adapter() {
    let io = SocketIo::builder().build();
    io.ns("/", |_| {});
    assert!(matches!(
        RedisAdapter::builder("http://nope").attach(&io).await,
        Err(RedisAdapterError::Url(_))
    ));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    assert!(matches!(
        within(
            "the refused connection",
            RedisAdapter::builder(format!("redis://127.0.0.1:{closed}/")).attach(&io)
        )
        .await,
        Err(RedisAdapterError::Connect(_))
    ));
    let redis = Redis::start();
    let first = RedisAdapter::builder(redis.url())
        .attach(&io)
        .await
        .unwrap();
    assert!(matches!(
        RedisAdapter::builder(redis.url()).attach(&io).await,
        Err(RedisAdapterError::AlreadyAttached)
    ));

    // After shutdown, broadcasts still reach local sockets and report the remote part.
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    first.shutdown();
    let result = within("the refused publish", async {
        loop {
            match io.emit("x", &1) {
                Err(SendError::Cluster(reason)) => break reason,
                Ok(()) => tokio::task::yield_now().await,
                Err(other) => panic!("{other}"),
            }
        }
    })
    .await;
    assert!(result.contains("shut down"), "{result}");
    assert_eq!(client.recv_text().await, r#"42["x",1]"#);
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn nodes_resubscribe_after_redis_restarts() {
    let mut redis = Redis::start();
    let a = node(&redis, SocketIo::builder()).await;
    let mut b = node(&redis, SocketIo::builder()).await;
    let (mut client_b, _) = b.client().await;
    a.io.emit("before", &1).unwrap();
    assert_eq!(client_b.recv_text().await, r#"42["before",1]"#);

    let port = redis.port;
    redis.stop();
    let _redis = Redis::start_on(port);

    // Both nodes reconnect by themselves (backoff up to 5 s). Publish probes until one
    // arrives; those sent while they reconnect are lost, as pub/sub loses them.
    let arrived = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 0u32;
        loop {
            n += 1;
            a.io.emit("probe", &n).ok();
            match tokio::time::timeout(Duration::from_millis(200), client_b.recv()).await {
                Ok(Msg::Text(text)) if text.starts_with(r#"42["probe""#) => break text,
                _ => continue,
            }
        }
    })
    .await;
    assert!(arrived.is_ok(), "no broadcast crossed after the restart");
    let _ = (&a.adapter, &b.adapter);
    let seen: BTreeSet<u64> = [a.adapter.node_id(), b.adapter.node_id()].into();
    assert_eq!(seen.len(), 2, "each node has its own id");
}

/// Read an ack request `42<id>[..]` with `args` and return its id.
async fn ack_request(client: &mut WsClient, args: &str) -> u64 {
    let frame = within("the ack request", client.recv_text()).await;
    let rest = frame.strip_prefix("42").expect("an event");
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(&rest[digits.len()..], args, "{frame}");
    digits.parse().expect("an ack id")
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn a_broadcast_ack_collects_one_result_per_target_on_every_node() {
    let mut f = fixture().await;
    // A third node without the namespace answers at once with no results, so the asker
    // need not wait for it.
    let empty = SocketIo::builder().build();
    let _c = RedisAdapter::builder(f._redis.url())
        .channel("test")
        .attach(&empty)
        .await
        .unwrap();
    let ns = f.a.io.of("/").unwrap();
    let ids: Vec<String> = f.sockets.iter().map(|s| s.id().to_owned()).collect();

    // Everyone answers: the aggregate comes long before the timeout.
    let everyone = ns.broadcast().timeout(Duration::from_secs(4));
    let ask = everyone.emit_with_ack("poll", Payload::new().arg(&"q").unwrap());
    let answer = async {
        for (i, client) in f.clients.iter_mut().enumerate() {
            let id = ack_request(client, r#"["poll","q"]"#).await;
            client.send_text(&format!(r#"43{id}["a{i}",{i}]"#)).await;
        }
    };
    let (results, ()) = within("every answer", async { futures_util::join!(ask, answer) }).await;
    let mut got: Vec<(String, serde_json::Value)> = results
        .into_iter()
        .map(|(sid, result)| {
            let args = result.expect("an answer").args().to_vec();
            (sid.to_string(), serde_json::Value::Array(args))
        })
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected: Vec<(String, serde_json::Value)> = (0..4)
        .map(|i| (ids[i].clone(), serde_json::json!([format!("a{i}"), i])))
        .collect();
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, expected);

    // Targets in a room, one on each node silent: their results are timeouts.
    f.sockets[1].join("red");
    f.sockets[2].join("red");
    f.sockets[3].join("red");
    let timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let red = ns.to("red").timeout(timeout);
    let ask = red.emit_with_ack("poll", Payload::new());
    let answer = async {
        let _silent = ack_request(&mut f.clients[1], r#"["poll"]"#).await;
        let id = ack_request(&mut f.clients[2], r#"["poll"]"#).await;
        f.clients[2].send_text(&format!(r#"43{id}["yes"]"#)).await;
        let _silent = ack_request(&mut f.clients[3], r#"["poll"]"#).await;
    };
    let (results, ()) = within("the answers and timeouts", async {
        futures_util::join!(ask, answer)
    })
    .await;
    assert!(started.elapsed() >= timeout);
    let by_sid: std::collections::HashMap<String, _> = results
        .into_iter()
        .map(|(sid, result)| (sid.to_string(), result))
        .collect();
    assert_eq!(by_sid.len(), 3);
    assert_eq!(by_sid[&ids[1]], Err(tickwire::AckError::Timeout));
    assert_eq!(
        by_sid[&ids[2]].as_ref().unwrap().args(),
        &[serde_json::json!("yes")]
    );
    assert_eq!(by_sid[&ids[3]], Err(tickwire::AckError::Timeout));
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn fetch_remote_sockets_describes_the_targets_of_every_node_and_acts_on_them() {
    let mut f = fixture().await;
    f.sockets[1].join("red");
    f.sockets[2].join("red");
    let ns = f.a.io.of("/").unwrap();

    let red = ns.to("red");
    let mut found = within("the other node's reply", red.fetch_remote_sockets()).await;
    found.sort_by_key(|s| s.id() != f.sockets[1].id());
    let ids: Vec<&str> = found.iter().map(|s| s.id()).collect();
    assert_eq!(ids, [f.sockets[1].id(), f.sockets[2].id()]);
    assert_eq!(found[0].node(), f.a.adapter.node_id());
    assert_eq!(found[1].node(), f.b.adapter.node_id());
    for (socket, described) in [&f.sockets[1], &f.sockets[2]].iter().zip(&found) {
        let rooms: BTreeSet<&str> = described.rooms().iter().map(String::as_str).collect();
        assert_eq!(rooms, [socket.id(), "red"].into());
        assert!(described
            .query()
            .iter()
            .any(|(k, v)| k == "EIO" && v == "4"));
        assert_eq!(described.auth(), &serde_json::json!({}));
        assert!(described.address().is_some());
    }
    assert_eq!(
        within(
            "a local-only fetch",
            ns.to("red").local().fetch_remote_sockets()
        )
        .await
        .len(),
        1
    );

    // Acting on the socket of node B from node A.
    let there = &found[1];
    there.emit("hello", &"you").unwrap();
    there.join("blue");
    ns.to("blue").emit("blue", &1).unwrap();
    assert_eq!(f.received(&f.a.io.clone()).await, {
        let mut expected = only(&[], "");
        expected[2] = vec![r#"42["hello","you"]"#.into(), r#"42["blue",1]"#.into()];
        expected
    });
    there.leave("blue");
    ns.to("blue").emit("blue", &2).unwrap();
    assert_eq!(f.received(&f.a.io.clone()).await, only(&[], ""));
    there.disconnect(false);
    assert_eq!(
        within("the DISCONNECT", f.clients[2].recv_text()).await,
        "41"
    );
}

#[actix_rt::test]
#[cfg_attr(
    any(tickwire_missing_redis, tickwire_missing_interop_js),
    ignore = "needs redis-server, node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
async fn the_official_js_client_on_two_nodes() {
    let redis = Redis::start();
    let (_a, port_a, _adapter_a) = scripted_node(RedisAdapter::builder(redis.url())).await;
    let (_b, port_b, _adapter_b) = scripted_node(RedisAdapter::builder(redis.url())).await;
    support::run_node_script_with(
        "cluster.mjs",
        port_a,
        &[("TICKWIRE_URL_B", format!("http://127.0.0.1:{port_b}"))],
        Duration::from_secs(30),
    )
    .await;
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn server_side_events_reach_the_other_nodes_handlers_only() {
    let redis = Redis::start();
    let a = node(&redis, SocketIo::builder()).await;
    let b = node(&redis, SocketIo::builder()).await;
    let (tx_a, mut on_a) = events();
    let (tx_b, mut on_b) = events();
    a.io.of("/").unwrap().on_server_event(
        "match-started",
        move |tickwire::Data(started): tickwire::Data<(String, u32)>| {
            let _ = tx_a.send(started);
        },
    );
    b.io.of("/")
        .unwrap()
        .on_server_event("match-started", move |payload: Payload| {
            let _ = tx_b.send(payload);
        });

    b.io.server_side_emit("match-started", &("arena-1", 4))
        .unwrap();
    a.io.server_side_emit("unhandled", &1).unwrap();
    b.io.server_side_emit("match-started", &("arena-2", 2))
        .unwrap();

    assert_eq!(on_a.next().await, ("arena-1".to_owned(), 4));
    assert_eq!(on_a.next().await, ("arena-2".to_owned(), 2));
    // Node B's own events are not delivered to node B; a fence from node A shows nothing
    // else reached it.
    a.io.server_side_emit("match-started", &("fence", 0))
        .unwrap();
    let fence = on_b.next().await;
    assert_eq!(fence.args(), &[serde_json::json!(["fence", 0])]);
    assert!(on_b.try_next().is_none());
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn a_silent_node_makes_requests_time_out_not_hang() {
    let mut f = fixture().await;
    // A subscriber that counts as a node but never replies (a node that hangs).
    let silent = redis::Client::open(f._redis.url()).unwrap();
    let mut silent = silent.get_async_pubsub().await.unwrap();
    silent.subscribe("test").await.unwrap();

    let ns = f.a.io.of("/").unwrap();
    let started = std::time::Instant::now();
    let everyone = ns.broadcast().timeout(Duration::from_millis(200));
    let ask = everyone.emit_with_ack("poll", Payload::new());
    let answer = async {
        for client in f.clients.iter_mut() {
            let id = ack_request(client, r#"["poll"]"#).await;
            client.send_text(&format!(r#"43{id}["here"]"#)).await;
        }
    };
    let (results, ()) = within("the request's timeout", async {
        futures_util::join!(ask, answer)
    })
    .await;
    // Both real nodes' targets answered; the request ended at its timeout plus the grace
    // for replies in transit, without the silent node.
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert!(started.elapsed() >= Duration::from_millis(200));

    let fetched = within("the fetch's timeout", async {
        ns.broadcast()
            .timeout(Duration::from_millis(200))
            .fetch_remote_sockets()
            .await
    })
    .await;
    assert_eq!(fetched.len(), 4);
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn a_full_publish_queue_fails_the_remote_part_only() {
    let redis = Redis::start();
    let io = SocketIo::builder().build();
    io.ns("/", |_| {});
    let port = serve(&io);
    let _adapter = RedisAdapter::builder(redis.url())
        .queue(1)
        .attach(&io)
        .await
        .unwrap();
    let (mut client, _) = WsClient::connect(port).await;

    // The publishing task starts on this test's thread (it moves to the server's worker
    // with its first batch): it cannot drain between two emits made without yielding, so
    // the second finds the one-message queue full.
    io.emit("first", &1).unwrap();
    match io.emit("second", &2) {
        Err(SendError::Cluster(reason)) => assert!(reason.contains("full"), "{reason}"),
        other => panic!("expected a full queue, got {other:?}"),
    }
    assert_eq!(client.recv_text().await, r#"42["first",1]"#);
    assert_eq!(client.recv_text().await, r#"42["second",2]"#);
    let metrics = io.metrics_text();
    for line in [
        r#"tickwire_cluster_messages{name="published"} 1"#,
        r#"tickwire_cluster_messages{name="queue_full"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    // Once drained, the queue takes broadcasts again.
    within("the queue to drain", async {
        while io.emit("third", &3).is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn broadcasts_published_as_the_publisher_moves_to_the_worker_arrive_whole_in_order() {
    let redis = Redis::start();
    // Node A attaches before its server runs: its publisher starts on this thread and
    // moves to the server's worker with the first batch after the worker starts, while
    // the rest of the burst waits in its queue.
    let a = SocketIo::builder().build();
    a.ns("/", |_| {});
    let _adapter = RedisAdapter::builder(redis.url())
        .channel("test")
        .attach(&a)
        .await
        .unwrap();
    let mut b = node(&redis, SocketIo::builder()).await;
    let (mut client, _) = b.client().await;
    let _port = serve(&a);
    within("node A's worker to start", async {
        while a.workers().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;

    const BURST: u32 = 2_000;
    for n in 0..BURST {
        a.emit("seq", &n).unwrap();
    }
    for n in 0..BURST {
        assert_eq!(
            within("the burst", client.recv_text()).await,
            format!(r#"42["seq",{n}]"#)
        );
    }
    let metrics = a.metrics_text();
    let line = format!(r#"tickwire_cluster_messages{{name="published"}} {BURST}"#);
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn broadcasts_received_as_the_reader_moves_to_the_worker_arrive_once_in_order() {
    let redis = Redis::start();
    let a = node(&redis, SocketIo::builder()).await;
    // Node B attaches before its server runs: it reads the channel on this thread, and
    // moves the reading to its server's worker at the first message after the worker
    // starts, in the middle of node A's burst.
    let b = SocketIo::builder().build();
    b.ns("/", |_| {});
    let _adapter = RedisAdapter::builder(redis.url())
        .channel("test")
        .attach(&b)
        .await
        .unwrap();
    let (mut client, _) = WsClient::connect(serve(&b)).await;

    const BURST: u32 = 2_000;
    for n in 0..BURST {
        a.io.emit("seq", &n).unwrap();
    }
    for n in 0..BURST {
        assert_eq!(
            within("the burst", client.recv_text()).await,
            format!(r#"42["seq",{n}]"#)
        );
    }
    // Nothing after the burst: no message was delivered twice.
    a.io.of("/")
        .unwrap()
        .broadcast()
        .emit_payload("fence", Payload::new())
        .unwrap();
    assert_eq!(within("the fence", client.recv_text()).await, FENCE);
    let metrics = b.metrics_text();
    let line = format!(
        r#"tickwire_cluster_messages{{name="received"}} {}"#,
        BURST + 1
    );
    assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    // And only the worker's subscription is left beside node A's.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    within("node B's first subscription to close", async {
        loop {
            let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("test")
                .query_async(&mut conn)
                .await
                .unwrap();
            if subscribers == 2 {
                break;
            }
            assert_eq!(subscribers, 3, "subscriptions to the channel");
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[actix_rt::test]
#[cfg_attr(tickwire_missing_redis, ignore = "needs redis-server: run .ci/setup")]
async fn garbage_on_the_channel_is_dropped_and_the_bus_goes_on() {
    let redis = Redis::start();
    let a = node(&redis, SocketIo::builder()).await;
    let mut b = node(&redis, SocketIo::builder()).await;
    let (mut client_b, _) = b.client().await;

    let raw = redis::Client::open(redis.url()).unwrap();
    let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
    for garbage in [
        &b""[..],
        b"\x01",
        b"\x09hello",
        b"\x01\xff\xff\xff\xff\xff\xff",
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("test")
            .arg(garbage)
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    a.io.emit("after", &1).unwrap();
    assert_eq!(
        within("the broadcast after the garbage", client_b.recv_text()).await,
        r#"42["after",1]"#
    );
    let metrics = b.io.metrics_text();
    for line in [
        r#"tickwire_cluster_messages{name="malformed"} 4"#,
        r#"tickwire_cluster_messages{name="received"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
}

/// A node with the handlers the interop scripts (`cluster.mjs`, `node_cluster.mjs`) drive,
/// attached with `adapter`.
async fn scripted_node(
    adapter: tickwire::cluster::RedisAdapterBuilder,
) -> (SocketIo, u16, RedisAdapter) {
    let io = SocketIo::builder().build();
    let ns = io.ns("/", |socket| {
        socket.on(
            "join",
            |socket, tickwire::Data(room): tickwire::Data<String>, ack| async move {
                socket.join(room);
                ack.send(&"ok").ok();
            },
        );
        socket.on(
            "say",
            |socket, tickwire::Data(said): tickwire::Data<serde_json::Value>, ack| async move {
                let room = said["room"].as_str().unwrap_or_default().to_owned();
                socket.to(room).emit("said", &said["text"]).unwrap();
                ack.send(&true).ok();
            },
        );
        socket.on(
            "broadcast",
            |socket, tickwire::Data(b): tickwire::Data<serde_json::Value>, ack| async move {
                let event = b["event"].as_str().unwrap_or_default();
                let mut everyone = socket.ns().broadcast();
                if let Some(except) = b["except"].as_str() {
                    everyone = everyone.except(except);
                }
                everyone.emit(event, &b["data"]).unwrap();
                ack.send(&true).ok();
            },
        );
        socket.on("poll-everyone", |socket, _: Payload, ack| async move {
            let everyone = socket.ns().broadcast().timeout(Duration::from_secs(3));
            let mut answers: Vec<String> = everyone
                .emit_with_ack("poll", Payload::new())
                .await
                .into_iter()
                .filter_map(|(_, r)| r.ok()?.args().first()?.as_str().map(str::to_owned))
                .collect();
            answers.sort();
            ack.send(&answers).ok();
        });
        socket.on("fetch-everyone", |socket, _: Payload, ack| async move {
            let mut ids: Vec<String> = socket
                .ns()
                .broadcast()
                .fetch_remote_sockets()
                .await
                .iter()
                .map(|s| s.id().to_owned())
                .collect();
            ids.sort();
            ack.send(&ids).ok();
        });
        socket.on(
            "server-side",
            |socket, tickwire::Data(e): tickwire::Data<serde_json::Value>, ack| async move {
                let event = e["event"].as_str().unwrap_or_default();
                socket.ns().server_side_emit(event, &e["data"]).unwrap();
                ack.send(&true).ok();
            },
        );
        socket.on(
            "join-everyone",
            |socket, tickwire::Data(room): tickwire::Data<String>, ack| async move {
                let ns = socket.ns();
                ns.broadcast().sockets_join(room.clone());
                ns.to(room).emit("green", &6).unwrap();
                ack.send(&true).ok();
            },
        );
        socket.on(
            "leave-everyone",
            |socket, tickwire::Data(room): tickwire::Data<String>, ack| async move {
                let ns = socket.ns();
                ns.broadcast().sockets_leave(&room);
                ns.to(room).emit("green-again", &7).unwrap();
                ns.emit("fence", &0).unwrap();
                ack.send(&true).ok();
            },
        );
        socket.on(
            "disconnect-socket",
            |socket, tickwire::Data(id): tickwire::Data<String>, ack| async move {
                socket.ns().to(id).disconnect_sockets(false);
                ack.send(&true).ok();
            },
        );
    });
    let echo = ns.clone();
    ns.on_server_event(
        "hello",
        move |tickwire::Data(text): tickwire::Data<String>| {
            echo.emit("server-hello", &text).unwrap();
        },
    );
    let port = serve(&io);
    let adapter = adapter.attach(&io).await.expect("attach");
    (io, port, adapter)
}

#[actix_rt::test]
#[cfg_attr(
    any(tickwire_missing_redis, tickwire_missing_interop_js),
    ignore = "needs redis-server, node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
async fn a_tickwire_node_joins_a_node_socket_io_cluster() {
    let redis = Redis::start();
    let node_dialect = RedisAdapter::builder(redis.url()).node_compatible("socket.io");
    let (_io, port, _adapter) = scripted_node(node_dialect).await;
    support::run_node_script_with(
        "node_cluster.mjs",
        port,
        &[("TICKWIRE_REDIS_URL", redis.url())],
        Duration::from_secs(30),
    )
    .await;
}
