//! Memory is a function of configuration, and nothing outlives its socket: measured on the
//! process's resident memory, with real clients on loopback.
//!
//! - a long-polling client that POSTs ack-requesting events with large payloads and never
//!   fetches the answers grows the server by no more than its outbound budget before it is
//!   cut;
//! - a randomized soak: clients of every kind (JSON and compact websockets, polling,
//!   stalled readers, flooders) connect, join and leave rooms, emit with and without acks,
//!   queue for matches and play, and close cleanly or abruptly. At the end there are no
//!   sockets, memberships, matches, actors or queued frames left, and resident memory is
//!   back within a small margin of where it started.
//!
//! Resident memory is process-wide: this binary holds only these tests, run one at a time,
//! and allocates with mimalloc (the allocator the game and the benchmarks use, which gives
//! freed memory back to the system).

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use support::{serve, settled, PollingClient};
use tickwire::{
    Codec, Config, Data, Match, MatchConfig, MatchContext, MatchHandle, Matchmaker,
    MatchmakerConfig, Payload, PlayerId, PlayerInfo, RecoveryConfig, SocketIo, Ticket,
};
use tickwire_client::{Client, Reconnect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One test at a time: resident memory is the whole process's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages in statm");
    pages * 4096
}

const MIB: usize = 1 << 20;

#[actix_rt::test]
async fn a_polling_client_that_never_fetches_its_acks_grows_memory_by_its_budget_at_most() {
    let _serial = SERIAL.lock().await;
    const BUDGET: usize = MIB;
    const BLOB: usize = 64 << 10;
    let config = Config {
        max_buffered_bytes: BUDGET,
        // Inbound limits far above the flood: only the outbound budget stops it.
        max_inbound_bytes_per_sec: 1 << 30,
        max_inbound_messages_per_sec: 1_000_000,
        ..Config::default()
    };
    let (io, mut reasons) =
        support::echo_reporting_disconnects(SocketIo::builder().config(config).build());
    let port = serve(&io);
    // Warm up the server's and the client's buffers, then measure from there.
    let (mut warm, _) = PollingClient::connect(port).await;
    warm.send(r#"421["echo","warm"]"#).await;
    warm.wait_for(r#"431["warm"]"#).await;
    let (client, _) = PollingClient::connect(port).await;
    let before = rss();
    let blob = "y".repeat(BLOB);
    let mut peak = before;
    let mut posted = 0usize;
    // 2,000 × 64 KiB = 125 MiB of acks if nothing stopped it.
    while posted < 2000 {
        let reply = client
            .post(&format!(r#"42{posted}["echo","{blob}"]"#))
            .await;
        peak = peak.max(rss());
        if reply.status != 200 {
            break;
        }
        posted += 1;
    }
    assert_eq!(
        reasons.next().await,
        tickwire::DisconnectReason::SlowConsumer,
        "cut after {posted} acks"
    );
    let growth = peak.saturating_sub(before);
    println!(
        "acks posted before the cut: {posted}; peak growth {} KiB",
        growth >> 10
    );
    assert!(posted * BLOB <= 2 * BUDGET, "{posted} acks queued");
    assert!(
        growth <= BUDGET + 16 * MIB,
        "resident memory grew by {} KiB with a {} KiB budget",
        growth >> 10,
        BUDGET >> 10
    );
    settled("nothing queued", || io.stats().queued_bytes == 0).await;
    drop(warm);
}

// ----- the soak ----------------------------------------------------------------------------

/// How long the clients run.
const SOAK: Duration = Duration::from_secs(20);
/// Clients running at once.
const WORKERS: usize = 24;

/// A match where each player's number grows with its inputs.
#[derive(Default)]
struct Tally {
    scores: Vec<(PlayerId, u32)>,
}

#[derive(Serialize, Deserialize)]
struct Press {
    n: u32,
}

impl Match for Tally {
    type Input = Press;
    type Snapshot = Vec<(PlayerId, u32)>;

    fn on_join(&mut self, _: &mut MatchContext, player: PlayerId, _: &PlayerInfo) {
        self.scores.push((player, 0));
    }

    fn on_input(&mut self, _: &mut MatchContext, player: PlayerId, _: u32, input: Press) {
        if let Some(score) = self.scores.iter_mut().find(|(p, _)| *p == player) {
            score.1 = score.1.saturating_add(input.n.min(10));
        }
    }

    fn tick(&mut self, _: &mut MatchContext, _: Duration) -> Vec<(PlayerId, u32)> {
        self.scores.clone()
    }
}

/// The soak's server: rooms, echo, broadcasts, bursts, matches; short timeouts so that
/// abandoned and stalled clients are cut within the soak; recovery on.
fn soak_server(matches: Arc<Mutex<Vec<MatchHandle<Tally>>>>) -> SocketIo {
    let config = Config {
        max_buffered_bytes: 256 << 10,
        write_timeout: Duration::from_millis(500),
        max_inbound_messages_per_sec: 200,
        recovery: Some(RecoveryConfig {
            max_disconnection: Duration::from_secs(1),
            ..RecoveryConfig::default()
        }),
        ..Config::default()
    };
    let io = SocketIo::builder()
        .config(config)
        .ping_interval(Duration::from_millis(500))
        .ping_timeout(Duration::from_millis(500))
        .build();
    let mm = Matchmaker::spawn(
        &io,
        MatchmakerConfig {
            group_size: 2,
            min_group: 1,
            max_wait: Duration::from_millis(100),
            max_queued: 64,
        },
        move |_, _, _| {
            let config = MatchConfig {
                tick_rate: 20,
                reservation_timeout: Duration::from_millis(500),
                reconnect_window: Duration::from_millis(200),
                empty_timeout: Duration::from_millis(200),
                ..MatchConfig::default()
            };
            (config, Tally::default())
        },
    );
    io.ns("/", move |socket| {
        socket.on("join", |socket, Data(room): Data<String>, ack| async move {
            ack.send(&socket.join(room)).ok();
        });
        socket.on("leave", |socket, Data(room): Data<String>, _| async move {
            socket.leave(&room);
        });
        socket.on("echo", |_, payload: Payload, ack| async move {
            ack.send_payload(payload).ok();
        });
        socket.on(
            "shout",
            |socket, Data((room, text)): Data<(String, String)>, _| async move {
                socket.to(room).emit("shout", &text).ok();
            },
        );
        socket.on("burst", |socket, Data(n): Data<u32>, _| async move {
            for i in 0..n.min(500) {
                socket.emit("b", &i).ok();
            }
        });
        let (mm, matches) = (mm.clone(), matches.clone());
        socket.on("play", move |socket, _: Payload, ack| {
            let (mm, matches) = (mm.clone(), matches.clone());
            async move {
                let ticket = Ticket::for_socket("tally", PlayerInfo::default(), &socket);
                let Ok(seat) = mm.enqueue(ticket).await else {
                    return;
                };
                matches.lock().push(seat.handle.clone());
                let seated = seat.handle.join(&seat.token, &socket).await.is_ok();
                ack.send(&seated).ok();
            }
        });
    });
    io
}

/// What one worker did, for the report.
#[derive(Default)]
struct Counts {
    sessions: AtomicUsize,
    acks: AtomicUsize,
}

/// A tickwire client (JSON or compact websocket) doing random things, then leaving.
async fn client_session(port: u16, codec: Codec, rng: &mut StdRng, done: &Counts) {
    let url = format!("http://127.0.0.1:{port}");
    let Ok(client) = Client::builder(url)
        .codec(codec)
        .reconnect(Reconnect::disabled())
        .on("b", |_, _: u32, _| {})
        .on("shout", |_, _: String, _| {})
        .on("state", |_, _: serde_json::Value, _| {})
        .connect()
        .await
    else {
        return;
    };
    done.sessions.fetch_add(1, Ordering::Relaxed);
    let wait = Duration::from_secs(2);
    for seq in 0..rng.random_range(1..20u32) {
        let room = format!("room-{}", rng.random_range(0..6));
        let result = match rng.random_range(0..8) {
            0 => client
                .emit_with_ack::<bool>("join", &room, wait)
                .await
                .map(drop),
            1 => client.emit("leave", &room),
            2 => client
                .emit_with_ack::<String>("echo", &"hello".to_owned(), wait)
                .await
                .map(drop),
            3 => client.emit("shout", &(room, "hi".to_owned())),
            4 => client.emit("burst", &rng.random_range(1..300u32)),
            5 => match client.emit_with_ack::<bool>("play", &(), wait).await {
                Ok(true) => client.emit("input", &(seq, Press { n: 3 })),
                other => other.map(drop),
            },
            6 => client.emit("input", &(seq, Press { n: 1 })),
            _ => client.emit("echo", &"no ack"),
        };
        match result {
            Ok(()) => {
                done.acks.fetch_add(1, Ordering::Relaxed);
            }
            // Cut (rate limit, slow consumer) or timed out: this session is over.
            Err(_) if client.is_closed() => return,
            Err(_) => {}
        }
    }
    client.disconnect();
    let _ = tokio::time::timeout(wait, client.closed()).await;
}

/// A long-polling session that joins a room, does a few requests, then abandons the session
/// (no close): the server must expire it.
async fn polling_session(port: u16, rng: &mut StdRng, done: &Counts) {
    let http = awc::Client::new();
    let base = format!("http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling");
    let Ok(mut response) = http.get(&base).send().await else {
        return;
    };
    let Ok(body) = response.body().await else {
        return;
    };
    let Some(sid) = serde_json::from_slice::<serde_json::Value>(&body[1..])
        .ok()
        .and_then(|open| open["sid"].as_str().map(str::to_owned))
    else {
        return;
    };
    done.sessions.fetch_add(1, Ordering::Relaxed);
    let session = format!("{base}&sid={sid}");
    let room = format!("room-{}", rng.random_range(0..6));
    for body in [
        "40".to_owned(),
        format!(r#"421["join","{room}"]"#),
        r#"422["echo","polled"]"#.to_owned(),
    ] {
        if http.post(&session).send_body(body).await.is_err() {
            return;
        }
    }
    for _ in 0..rng.random_range(0..3) {
        let get = http.get(&session).send();
        match tokio::time::timeout(Duration::from_secs(1), get).await {
            Ok(Ok(mut response)) => {
                let _ = response.body().await;
            }
            _ => return,
        }
    }
}

/// A websocket that joins a room and never reads again: cut by the write timeout or the
/// budget once broadcasts pile up, or by the ping timeout.
async fn stalled_session(port: u16, room: &str, done: &Counts) {
    let Ok(socket) = TcpSocket::new_v4() else {
        return;
    };
    let _ = socket.set_recv_buffer_size(4096);
    let Ok(mut stream) = socket.connect(([127, 0, 0, 1], port).into()).await else {
        return;
    };
    let request = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut head = [0u8; 256];
    if stream.read(&mut head).await.unwrap_or(0) == 0 {
        return;
    }
    done.sessions.fetch_add(1, Ordering::Relaxed);
    for text in ["40".to_owned(), format!(r#"42["join","{room}"]"#)] {
        if send_masked(&mut stream, &text).await.is_err() {
            return;
        }
    }
    // What this client does: hold the socket, reading nothing, for a while; then drop it
    // without a close frame. (Not a wait for the server: the server acts meanwhile.)
    tokio::time::sleep(Duration::from_millis(800)).await;
}

/// One masked text frame (client to server).
async fn send_masked(stream: &mut TcpStream, text: &str) -> std::io::Result<()> {
    let payload = text.as_bytes();
    let mask = [7u8, 1, 3, 9];
    let mut frame = vec![0x81u8, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&frame).await
}

/// A client far over its inbound rate: throttled, then cut.
async fn flooding_session(port: u16, done: &Counts) {
    let url = format!("http://127.0.0.1:{port}");
    let Ok(client) = Client::builder(url)
        .reconnect(Reconnect::disabled())
        .connect()
        .await
    else {
        return;
    };
    done.sessions.fetch_add(1, Ordering::Relaxed);
    for _ in 0..3000 {
        if client.emit("echo", &"flood").is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    client.disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(2), client.closed()).await;
}

#[actix_rt::test]
async fn a_randomized_soak_leaves_no_socket_membership_match_actor_or_frame_behind() {
    let _serial = SERIAL.lock().await;
    let matches = Arc::new(Mutex::new(Vec::new()));
    let io = soak_server(matches.clone());
    let port = serve(&io);
    let done = Arc::new(Counts::default());

    // One short round first, so that what stays allocated for good (thread-local buffers,
    // runtime structures, the allocator's own) is counted in the baseline.
    let run = |seconds: Duration, seed: u64| {
        let done = done.clone();
        async move {
            let deadline = Instant::now() + seconds;
            let mut workers = Vec::new();
            for w in 0..WORKERS {
                let done = done.clone();
                workers.push(actix_rt::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(seed + w as u64);
                    while Instant::now() < deadline {
                        match rng.random_range(0..12) {
                            0..=3 => client_session(port, Codec::Json, &mut rng, &done).await,
                            4..=6 => client_session(port, Codec::Compact, &mut rng, &done).await,
                            7..=8 => polling_session(port, &mut rng, &done).await,
                            9..=10 => {
                                let room = format!("room-{}", rng.random_range(0..6));
                                stalled_session(port, &room, &done).await
                            }
                            _ => flooding_session(port, &done).await,
                        }
                    }
                }));
            }
            for worker in workers {
                worker.await.expect("soak worker");
            }
        }
    };
    let empty = || {
        let s = io.stats();
        s.connections == 0
            && s.connection_actors == 0
            && s.sockets == 0
            && s.room_memberships == 0
            && s.queued_frames == 0
            && s.parked_polls == 0
    };
    let matches_over = || matches.lock().iter().all(|m| !m.is_alive());
    // Abandoned polling sessions expire by ping timeout (1 s), reconnect windows and empty
    // matches within a second more.
    let settle = |what: &'static str| settled(what, || empty() && matches_over());
    run(Duration::from_secs(2), 1).await;
    settle("the warm-up round torn down").await;
    let before = rss();

    run(SOAK, 1000).await;
    settle("every session, membership and match gone").await;
    let after = rss();
    let stats = io.stats();
    println!(
        "soak: {} sessions, {} successful actions, {} matches; rss {} → {} KiB; {stats:?}",
        done.sessions.load(Ordering::Relaxed),
        done.acks.load(Ordering::Relaxed),
        matches.lock().len(),
        before >> 10,
        after >> 10,
    );
    assert_eq!(stats.connections, 0, "{stats:?}");
    assert_eq!(stats.connection_actors, 0, "{stats:?}");
    assert_eq!(stats.sockets, 0, "{stats:?}");
    assert_eq!(stats.room_memberships, 0, "{stats:?}");
    assert_eq!(stats.queued_frames, 0, "{stats:?}");
    assert_eq!(io.of("/").map(|ns| ns.room_count()), Some(0));
    assert!(matches_over(), "a match outlived its players");
    assert!(done.sessions.load(Ordering::Relaxed) > 100, "the soak ran");
    assert!(!matches.lock().is_empty(), "matches were played");
    assert!(
        after <= before + 8 * MIB,
        "resident memory {} KiB after the soak, {} KiB before",
        after >> 10,
        before >> 10
    );
}
