//! Backpressure: no client can grow server memory or slow other players.
//!
//! - a client that never reads is disconnected as a slow consumer while the queues stay
//!   within their configured bounds, and a normal client in the same room gets every
//!   message in order;
//! - a flooding client is throttled, then disconnected, while a well-behaved one keeps
//!   getting its acks;
//! - connect/join/disconnect churn (websocket, polling, abrupt drops) leaves nothing behind;
//! - under a stalled transport, only the newest snapshot is delivered, volatile packets are
//!   dropped, and reliable packets keep their order.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{events, serve, settled, within, PollingClient, WsClient};
use serde_json::{json, Value};
use tickwire::{
    Config, Data, DisconnectReason, Match, MatchConfig, MatchContext, MatchRoom, Payload,
    PlayerInfo, SocketIo,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A websocket client made of a bare TCP socket with a tiny receive buffer: it completes the
/// handshake, sends what the test tells it, and never reads again.
struct StalledClient {
    stream: TcpStream,
}

impl StalledClient {
    async fn connect(port: u16) -> StalledClient {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut stream = socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect");
        let request = format!(
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("upgrade request");
        // Read the 101 response and the open packet frame, nothing more.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            within("the upgrade response", stream.read_exact(&mut byte))
                .await
                .expect("read upgrade response");
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        StalledClient { stream }
    }

    /// Read one (unmasked, unfragmented) server frame's payload.
    async fn read_frame(&mut self) -> Vec<u8> {
        let mut head = [0u8; 2];
        within("a frame", self.stream.read_exact(&mut head))
            .await
            .expect("frame header");
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                self.stream.read_exact(&mut ext).await.expect("length");
                u64::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                self.stream.read_exact(&mut ext).await.expect("length");
                u64::from_be_bytes(ext)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload).await.expect("payload");
        payload
    }

    /// Join namespace `/`: send CONNECT and read frames up to its reply.
    async fn sio_connect(&mut self) {
        self.send_text("40").await;
        while !self.read_frame().await.starts_with(b"40") {}
    }

    /// Send one masked text frame.
    async fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.expect("send frame");
    }
}

fn small_queues() -> Config {
    Config {
        max_buffered_bytes: 256 << 10,
        ..Config::default()
    }
}

#[actix_rt::test]
async fn a_client_that_never_reads_is_cut_and_the_others_get_everything_in_order() {
    const BURSTS: usize = 120;
    const PER_BURST: usize = 32;
    let config = small_queues();
    let bound = config.max_buffered_bytes;
    let io = SocketIo::builder().config(config).build();
    let (reasons, mut reasons_rx) = events::<(String, DisconnectReason)>();
    io.ns("/", move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |s, reason| {
            let _ = reasons.send((s.id().to_owned(), reason));
        });
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"ok").ok();
        });
        // One burst: PER_BURST reliable messages of 4 KiB to the room, then the ack.
        socket.on("burst", |socket, Data(n): Data<usize>, ack| async move {
            let blob = "x".repeat(4 << 10);
            for i in 0..PER_BURST {
                let seq = n * PER_BURST + i;
                socket
                    .ns()
                    .to("r")
                    .emit("blob", &json!({"seq": seq, "blob": blob}))
                    .ok();
            }
            ack.send(&n).ok();
        });
    });
    let port = serve(&io);

    let mut stalled = StalledClient::connect(port).await;
    stalled.sio_connect().await;
    stalled.send_text(r#"420["join","r"]"#).await;

    let (mut normal, _) = WsClient::connect(port).await;
    normal.send_text(r#"421["join","r"]"#).await;
    normal.wait_for_text(r#"431["ok"]"#).await;
    // The stalled client has joined once the room has two members.
    let ns = io.of("/").expect("namespace /");
    settled("the stalled client joined", || ns.room_size("r") == 2).await;

    let mut next_seq = 0usize;
    let mut max_queued = 0usize;
    let mut cut = None;
    for n in 0..BURSTS {
        normal
            .send_text(&format!(r#"42{}["burst",{n}]"#, 100 + n))
            .await;
        let ack = format!("43{}[{n}]", 100 + n);
        loop {
            let frame = normal.recv_text_skip_pings().await;
            if frame == ack {
                break;
            }
            let packet = crate::support::parse_sio(&frame);
            let data = packet.data.expect("event payload");
            assert_eq!(data[0], "blob", "unexpected frame {frame:.80}");
            assert_eq!(
                data[1]["seq"],
                json!(next_seq),
                "reliable messages arrive in order"
            );
            next_seq += 1;
        }
        let stats = io.stats();
        max_queued = max_queued.max(stats.queued_bytes);
        assert!(
            stats.queued_bytes <= 2 * bound,
            "queued bytes {} beyond the bound of two clients ({})",
            stats.queued_bytes,
            2 * bound
        );
        if let Some((_, reason)) = reasons_rx.try_next() {
            cut = Some(reason);
        }
    }
    // The normal client got every message, in order (checked above).
    assert_eq!(next_seq, BURSTS * PER_BURST);
    let reason = match cut {
        Some(reason) => reason,
        None => reasons_rx.next().await.1,
    };
    assert_eq!(reason, DisconnectReason::SlowConsumer);
    assert!(max_queued <= 2 * bound);
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_disconnects_total{name="slow consumer"} 1"#),
        "{metrics}"
    );
    drop(stalled);
}

#[actix_rt::test]
async fn a_flooding_client_is_throttled_then_cut_and_others_keep_their_acks() {
    let config = Config {
        max_inbound_messages_per_sec: 50,
        ..Config::default()
    };
    let io = SocketIo::builder().config(config).build();
    let (reasons, mut reasons_rx) = events::<DisconnectReason>();
    io.ns("/", move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        socket.on("ping", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
    });
    let port = serve(&io);
    let (mut flooder, _) = WsClient::connect(port).await;
    let (mut polite, _) = WsClient::connect(port).await;

    // The flooder sends far over its limit; the polite client does one ack round trip per
    // 50 flood messages and must get every answer.
    let mut polite_acks = 0;
    let mut flood_sent = 0;
    let mut cut = None;
    'flood: for round in 0..100u64 {
        for _ in 0..50 {
            flooder.send_text(r#"42["ping","spam"]"#).await;
            flood_sent += 1;
            if let Some(reason) = reasons_rx.try_next() {
                cut = Some(reason);
                break 'flood;
            }
        }
        polite
            .send_text(&format!(r#"42{round}["ping",{round}]"#))
            .await;
        polite.wait_for_text(&format!("43{round}[{round}]")).await;
        polite_acks += 1;
    }
    // Cut before sending everything it wanted to.
    let reason = match cut {
        Some(reason) => reason,
        None => reasons_rx.next().await,
    };
    assert_eq!(reason, DisconnectReason::RateLimited);
    assert!(flood_sent < 5000, "the flooder was never cut");
    assert!(polite_acks > 0);
    // The polite client still gets acks after the flooder is gone.
    polite.send_text(r#"42999["ping","after"]"#).await;
    polite.wait_for_text(r#"43999["after"]"#).await;
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_inbound_dropped_total{name="rate"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tickwire_disconnects_total{name="rate limited"} 1"#));
}

#[actix_rt::test]
async fn churn_leaves_no_actor_membership_or_registry_entry_behind() {
    const CYCLES: usize = 20_000;
    const CONCURRENCY: usize = 50;
    // Abandoned polling sessions expire by ping timeout within 2 s (short enough for the
    // test, long enough for clients on a loaded machine to answer every ping).
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(1000))
        .ping_timeout(Duration::from_millis(1000))
        .build();
    io.ns("/", |socket| {
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            socket.join(room);
            ack.send(&"ok").ok();
        });
    });
    let port = serve(&io);
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    let mut workers = Vec::new();
    for w in 0..CONCURRENCY {
        let done = done.clone();
        workers.push(actix_rt::spawn(async move {
            let mut i = w;
            while i < CYCLES {
                match i % 10 {
                    // Polling: connect, join, then abandon the session (no close): it must
                    // expire by ping timeout.
                    0 => {
                        let (mut client, _) = PollingClient::connect(port).await;
                        client.send(r#"421["join","churn"]"#).await;
                        client.wait_for(r#"431["ok"]"#).await;
                    }
                    // Abrupt TCP drop after joining, no close frame.
                    1..=3 => {
                        let mut raw = StalledClient::connect(port).await;
                        raw.sio_connect().await;
                        raw.send_text(r#"42["join","churn"]"#).await;
                        drop(raw);
                    }
                    // Websocket with a clean close.
                    _ => {
                        let (mut client, _) = WsClient::connect(port).await;
                        client.send_text(r#"421["join","churn"]"#).await;
                        client.wait_for_text(r#"431["ok"]"#).await;
                        client.close().await;
                    }
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                i += CONCURRENCY;
            }
        }));
    }
    for worker in workers {
        worker.await.expect("churn worker");
    }
    assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), CYCLES);
    // Everything a connection owned is gone once the last one closed (abandoned polling
    // sessions by ping timeout, within a second).
    let clean = || {
        let s = io.stats();
        s.connections == 0 && s.connection_actors == 0 && s.sockets == 0 && s.room_memberships == 0
    };
    settled("every connection torn down", clean).await;
    let stats = io.stats();
    assert_eq!(stats.connections, 0, "{stats:?}");
    assert_eq!(stats.connection_actors, 0, "{stats:?}");
    assert_eq!(stats.sockets, 0, "{stats:?}");
    assert_eq!(stats.room_memberships, 0, "{stats:?}");
    assert_eq!(stats.queued_bytes, 0, "{stats:?}");
}

/// A match whose snapshot is its tick number.
struct Counter;

impl Match for Counter {
    type Input = Value;
    type Snapshot = u64;
    fn on_input(&mut self, _: &mut MatchContext, _: u32, _: u32, _: Value) {}
    fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> u64 {
        ctx.tick()
    }
}

#[actix_rt::test]
async fn a_stalled_transport_gets_only_the_newest_snapshot_and_reliable_order_is_kept() {
    let io = SocketIo::builder().build();
    let handle = MatchRoom::spawn(
        &io,
        MatchConfig {
            tick_rate: 100,
            envelope: false,
            ..MatchConfig::default()
        },
        Counter,
    );
    let token = handle.reserve(PlayerInfo::default()).await.expect("seat");
    let seat = Arc::new(parking_lot::Mutex::new(Some((handle.clone(), token))));
    io.ns("/", move |socket| {
        let seat = seat.clone();
        socket.on("sit", move |socket, _: Payload, ack| {
            let seat = seat.lock().take();
            async move {
                if let Some((handle, token)) = seat {
                    handle.join(&token, &socket).await.expect("join");
                }
                ack.send(&"seated").ok();
            }
        });
        socket.on("reliable", |socket, Data(n): Data<u32>, ack| async move {
            for i in 0..n {
                socket.emit("r", &i).ok();
                socket.volatile().emit("v", &i).ok();
            }
            ack.send(&"sent").ok();
        });
    });
    let port = serve(&io);

    // A polling client does not poll between the steps below: its transport is stalled.
    let (mut client, _) = PollingClient::connect(port).await;
    client.send(r#"421["sit"]"#).await;
    client.wait_for(r#"431["seated"]"#).await;
    // Drain whatever arrived so far, then stall while the match ticks at least 10 times.
    let ticks_before = handle.metrics().await.expect("metrics").ticks;
    client.send(r#"422["reliable",20]"#).await;
    loop {
        let ticks = handle.metrics().await.expect("metrics").ticks;
        if ticks >= ticks_before + 10 {
            break;
        }
        tokio::task::yield_now().await;
    }
    // One poll now returns: the ack, 20 reliable packets in order, no volatile packet (no
    // poll was parked), and exactly one snapshot: the newest.
    let reply = client.get().await;
    assert_eq!(reply.status, 200);
    let packets: Vec<&str> = reply.body.split('\x1e').collect();
    let states: Vec<&&str> = packets
        .iter()
        .filter(|p| p.starts_with(r#"42["state","#))
        .collect();
    assert_eq!(states.len(), 1, "one coalesced snapshot: {packets:?}");
    let reliable: Vec<String> = packets
        .iter()
        .filter(|p| p.starts_with(r#"42["r","#))
        .map(|p| (*p).to_owned())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!(r#"42["r",{i}]"#)).collect();
    assert_eq!(reliable, expected, "reliable packets complete and in order");
    assert!(
        !packets.iter().any(|p| p.starts_with(r#"42["v","#)),
        "{packets:?}"
    );
    assert!(packets.contains(&r#"432["sent"]"#));
    let metrics = io.metrics_text();
    assert!(
        metrics.contains("tickwire_outbound_dropped{name=\"volatile\"}"),
        "{metrics}"
    );
    handle.stop().await;
}

#[actix_rt::test]
async fn acks_count_toward_the_budget_a_polling_client_that_never_fetches_is_cut() {
    const BUDGET: usize = 64 << 10;
    let config = Config {
        max_buffered_bytes: BUDGET,
        // The inbound limits are not what stops this client.
        max_inbound_bytes_per_sec: 64 << 20,
        max_inbound_messages_per_sec: 100_000,
        ..Config::default()
    };
    let (io, mut reasons) =
        crate::support::echo_reporting_disconnects(SocketIo::builder().config(config).build());
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    // Large ack-requesting events, POSTed without ever fetching the answers.
    let blob = "y".repeat(8 << 10);
    let mut posted = 0usize;
    let cut = loop {
        let body = format!(r#"42{posted}["echo","{blob}"]"#);
        let reply = client.post(&body).await;
        if reply.status != 200 {
            break reply;
        }
        posted += 1;
        assert!(posted < 1000, "never cut after {posted} acks queued");
    };
    assert_eq!(cut.status, 400, "{cut:?}");
    assert_eq!(reasons.next().await, DisconnectReason::SlowConsumer);
    // Cut once its acks exceeded the budget, not later.
    assert!(posted * blob.len() <= 2 * BUDGET, "{posted} acks queued");
    settled("nothing queued", || io.stats().queued_bytes == 0).await;
}

#[actix_rt::test]
async fn a_burst_of_broadcasts_reaches_every_reading_client_whole_and_in_order() {
    const BURST: usize = 3000;
    let (io, mut reasons) = crate::support::echo_reporting_disconnects(SocketIo::builder().build());
    let port = serve(&io);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(WsClient::connect(port).await.0);
    }
    // One handler's loop, far more packets than any queue count would hold.
    let emitter = io.clone();
    actix_rt::spawn(async move {
        for i in 0..BURST {
            emitter.emit("n", &i).expect("broadcast");
        }
    });
    for client in &mut clients {
        for i in 0..BURST {
            assert_eq!(
                client.recv_text_skip_pings().await,
                format!(r#"42["n",{i}]"#)
            );
        }
    }
    assert!(reasons.try_next().is_none(), "nobody is cut");
    assert_eq!(io.stats().sockets, 3);
}

/// A compact-codec client on a raw websocket.
async fn compact_client(port: u16) -> WsClient {
    use tickwire::protocol::compact::{self, CompactPacket};
    let url = crate::support::sio_url("ws", port, "EIO=4&transport=websocket&codec=compact");
    let mut ws = WsClient::open_url(&url).await;
    ws.send_binary(&compact::encode(&CompactPacket::connect("/", None)).unwrap())
        .await;
    // The CONNECT reply.
    ws.recv_binary().await;
    ws
}

#[actix_rt::test]
async fn a_compact_flood_is_throttled_and_cut_like_a_json_one() {
    use tickwire::protocol::compact::{self, CompactPacket};
    const FLOOD: usize = 20_000;
    let io = SocketIo::builder().build();
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (reasons, mut reasons_rx) = events::<DisconnectReason>();
    {
        let handled = handled.clone();
        io.ns("/", move |socket| {
            let handled = handled.clone();
            socket.on("tick", move |_, _: Payload, _| {
                handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async {}
            });
            let reasons = reasons.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = reasons.send(reason);
            });
        });
    }
    let port = serve(&io);
    let count = |handled: &Arc<std::sync::atomic::AtomicUsize>| {
        handled.swap(0, std::sync::atomic::Ordering::Relaxed)
    };

    let (mut json, _) = WsClient::connect(port).await;
    let mut cut = None;
    for _ in 0..FLOOD {
        json.send_text(r#"42["tick",1]"#).await;
        if let Some(reason) = reasons_rx.try_next() {
            cut = Some(reason);
            break;
        }
    }
    let reason = match cut {
        Some(reason) => reason,
        None => reasons_rx.next().await,
    };
    assert_eq!(reason, DisconnectReason::RateLimited);
    let json_handled = count(&handled);

    let mut compact = compact_client(port).await;
    let frame = compact::encode(&CompactPacket::event(
        "/",
        "tick",
        compact::to_payload(&1u32).unwrap(),
        None,
    ))
    .unwrap();
    let mut cut = None;
    for _ in 0..FLOOD {
        compact.send_binary(&frame).await;
        if let Some(reason) = reasons_rx.try_next() {
            cut = Some(reason);
            break;
        }
    }
    let reason = match cut {
        Some(reason) => reason,
        None => reasons_rx.next().await,
    };
    assert_eq!(reason, DisconnectReason::RateLimited);
    let compact_handled = count(&handled);
    // 500 messages/s with bursts of 1,000: a few thousand at most in either codec.
    for (codec, n) in [("json", json_handled), ("compact", compact_handled)] {
        assert!(n > 0 && n < FLOOD / 4, "{codec}: {n} of {FLOOD} handled");
    }
    let metrics = io.metrics_text();
    assert!(
        metrics.contains(r#"tickwire_disconnects_total{name="rate limited"} 2"#),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn a_websocket_that_stops_reading_is_cut_after_the_write_timeout() {
    let config = Config {
        write_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (reasons, mut reasons_rx) = events::<DisconnectReason>();
    let io = SocketIo::builder().config(config).build();
    io.ns("/", move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        // 6 MiB in all: within the 8 MiB budget, more than the socket buffers hold (at most
        // 4 MiB on loopback here).
        socket.on("fill", |socket, _: Payload, _| async move {
            let blob = "z".repeat(512 << 10);
            for _ in 0..12 {
                socket.emit("blob", &blob).ok();
            }
        });
    });
    let port = serve(&io);
    let mut stalled = StalledClient::connect(port).await;
    stalled.sio_connect().await;
    stalled.send_text(r#"42["fill"]"#).await;
    assert_eq!(reasons_rx.next().await, DisconnectReason::SlowConsumer);
    settled("nothing queued", || io.stats().queued_bytes == 0).await;
}

#[actix_rt::test]
async fn a_polling_client_that_stops_fetching_is_cut_after_the_write_timeout() {
    let config = Config {
        write_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (io, mut reasons) =
        crate::support::echo_reporting_disconnects(SocketIo::builder().config(config).build());
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    // An answer waits for a GET that never comes.
    client.send(r#"421["echo","waiting"]"#).await;
    assert_eq!(reasons.next().await, DisconnectReason::SlowConsumer);
}

#[actix_rt::test]
async fn polling_posts_pay_the_inbound_limits_like_websocket_frames() {
    let config = Config {
        max_inbound_messages_per_sec: 50,
        ..Config::default()
    };
    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (reasons, mut reasons_rx) = events::<DisconnectReason>();
    let io = SocketIo::builder().config(config).build();
    {
        let handled = handled.clone();
        io.ns("/", move |socket| {
            let handled = handled.clone();
            socket.on("tick", move |_, _: Payload, _| {
                handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async {}
            });
            let reasons = reasons.clone();
            socket.on_disconnect(move |_, reason| {
                let _ = reasons.send(reason);
            });
        });
    }
    let port = serve(&io);
    let (client, _) = PollingClient::connect(port).await;
    // 200 packets per POST body, far over 50 per second.
    let body = vec![r#"42["tick"]"#; 200].join("\u{1e}");
    for _ in 0..10 {
        if client.post(&body).await.status != 200 {
            break;
        }
    }
    assert_eq!(reasons_rx.next().await, DisconnectReason::RateLimited);
    let handled = handled.load(std::sync::atomic::Ordering::Relaxed);
    assert!(handled <= 150, "{handled} of 2,000 handled");
}

#[actix_rt::test]
async fn what_a_connect_handler_emits_before_the_reply_pays_the_budget_too() {
    let config = Config {
        max_buffered_bytes: 64 << 10,
        ..Config::default()
    };
    let (reasons, mut reasons_rx) = events::<DisconnectReason>();
    let io = SocketIo::builder().config(config).build();
    io.ns("/", move |socket| {
        let reasons = reasons.clone();
        socket.on_disconnect(move |_, reason| {
            let _ = reasons.send(reason);
        });
        // Held back until the CONNECT reply is written: 128 KiB against a 64 KiB budget.
        let blob = "w".repeat(1 << 10);
        for _ in 0..128 {
            if socket.emit("early", &blob).is_err() {
                break;
            }
        }
    });
    let port = serve(&io);
    let mut client = WsClient::open(port).await;
    client.send_text("40").await;
    assert_eq!(reasons_rx.next().await, DisconnectReason::SlowConsumer);
    settled("nothing queued", || io.stats().queued_bytes == 0).await;
}
