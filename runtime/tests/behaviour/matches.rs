//! Match rooms end to end: the matchmaker groups four clients into one match; inputs are
//! applied in order and acknowledged in every snapshot; a dropped player rejoins its seat;
//! an expired reservation is refused; an empty match disposes itself and leaves nothing
//! behind; two matches tick on two worker threads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{parse_sio, serve, settled, within, WsClient};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tickwire::{
    Data, JoinError, LeaveReason, Match, MatchConfig, MatchContext, MatchHandle, MatchRoom,
    Matchmaker, MatchmakerConfig, PlayerId, PlayerInfo, SeatToken, SocketIo, Ticket,
};

/// Each player walks along a line; the snapshot is every position.
#[derive(Default)]
struct Walk {
    pos: BTreeMap<PlayerId, i64>,
    events: Vec<String>,
    thread: Option<String>,
}

#[derive(Deserialize)]
struct Step {
    dx: i64,
}

#[derive(Serialize)]
struct Positions {
    pos: Vec<(PlayerId, i64)>,
}

impl Match for Walk {
    type Input = Step;
    type Snapshot = Positions;

    fn on_join(&mut self, _: &mut MatchContext, player: PlayerId, info: &PlayerInfo) {
        self.pos.insert(player, 0);
        self.events.push(format!("join {player} {}", info.name));
    }

    fn on_leave(&mut self, _: &mut MatchContext, player: PlayerId, reason: LeaveReason) {
        self.events.push(format!("leave {player} {reason:?}"));
    }

    fn on_rejoin(&mut self, _: &mut MatchContext, player: PlayerId) {
        self.events.push(format!("rejoin {player}"));
    }

    fn on_input(&mut self, _: &mut MatchContext, player: PlayerId, _seq: u32, input: Step) {
        *self.pos.entry(player).or_default() += input.dx;
    }

    fn tick(&mut self, _: &mut MatchContext, _: Duration) -> Positions {
        self.thread = Some(format!("{:?}", std::thread::current().id()));
        Positions {
            pos: self.pos.iter().map(|(p, x)| (*p, *x)).collect(),
        }
    }

    fn state(&self) -> Value {
        json!({"events": self.events, "thread": self.thread})
    }
}

fn match_config() -> MatchConfig {
    MatchConfig {
        tick_rate: 30,
        reconnect_window: Duration::from_secs(5),
        empty_timeout: Duration::from_millis(50),
        ..MatchConfig::default()
    }
}

type Matches = Arc<Mutex<HashMap<u64, MatchHandle<Walk>>>>;

/// `queue`(name) → ack `{match, token}` once grouped; `join-match`(match, token) → ack the
/// player id or the error.
fn server(group_size: usize) -> (SocketIo, Matches) {
    let matches: Matches = Arc::default();
    let io = SocketIo::builder().build();
    let mm = Matchmaker::spawn(
        &io,
        MatchmakerConfig {
            group_size,
            max_wait: Duration::from_secs(60),
            ..MatchmakerConfig::default()
        },
        |_, _, _| (match_config(), Walk::default()),
    );
    let registry = matches.clone();
    io.ns("/", move |socket| {
        let (mm, queue_registry) = (mm.clone(), registry.clone());
        socket.on("queue", move |socket, Data(name): Data<String>, ack| {
            let (mm, registry) = (mm.clone(), queue_registry.clone());
            async move {
                let player = PlayerInfo {
                    name,
                    ..PlayerInfo::default()
                };
                let ticket = Ticket::for_socket("walk", player, &socket);
                if let Ok(seat) = mm.enqueue(ticket).await {
                    registry
                        .lock()
                        .insert(seat.handle.id(), seat.handle.clone());
                    ack.send(&json!({"match": seat.handle.id(), "token": seat.token.0}))
                        .ok();
                }
            }
        });
        let registry = registry.clone();
        socket.on(
            "join-match",
            move |socket, Data((id, token)): Data<(u64, String)>, ack| {
                let handle = registry.lock().get(&id).cloned();
                async move {
                    let Some(handle) = handle else { return };
                    match handle.join(&SeatToken(token), &socket).await {
                        Ok(player) => ack.send(&json!({"player": player})).ok(),
                        Err(e) => ack.send(&json!({"error": e.to_string()})).ok(),
                    };
                }
            },
        );
    });
    (io, matches)
}

/// Read frames until the ack `43<id>[...]`, returning its first argument (other frames are
/// skipped: snapshots may already be flowing).
async fn ack_of(client: &mut WsClient, id: u64) -> Value {
    let prefix = format!("43{id}[");
    let frame = client.wait_for(|m| m.text_starts_with(&prefix)).await;
    let crate::support::Msg::Text(text) = frame else {
        unreachable!()
    };
    parse_sio(&text).data.expect("ack payload")[0].clone()
}

/// The next snapshot: `(tick, acks, positions)`.
async fn next_state(client: &mut WsClient) -> (u64, Vec<(u32, u32)>, Vec<(u32, i64)>) {
    let frame = client
        .wait_for(|m| m.text_starts_with(r#"42["state","#))
        .await;
    let crate::support::Msg::Text(text) = frame else {
        unreachable!()
    };
    let data = parse_sio(&text).data.expect("state payload");
    let env = &data[1];
    let acks = serde_json::from_value(env["acks"].clone()).expect("acks");
    let pos = serde_json::from_value(env["state"]["pos"].clone()).expect("positions");
    (env["tick"].as_u64().expect("tick"), acks, pos)
}

#[actix_rt::test]
async fn four_players_are_matched_play_rejoin_and_the_match_disposes_when_empty() {
    let (io, matches) = server(4);
    let port = serve(&io);

    // Four clients queue; the matchmaker answers each once the group is complete.
    let mut clients = Vec::new();
    for i in 0..4 {
        let (mut client, _) = WsClient::connect(port).await;
        client.send_text(&format!(r#"421["queue","p{i}"]"#)).await;
        clients.push(client);
    }
    let mut seats = Vec::new();
    for client in &mut clients {
        let seat = ack_of(client, 1).await;
        seats.push((
            seat["match"].as_u64().unwrap(),
            seat["token"].as_str().unwrap().to_owned(),
        ));
    }
    let match_id = seats[0].0;
    assert!(
        seats.iter().all(|(m, _)| *m == match_id),
        "one match for the group"
    );
    assert_eq!(matches.lock().len(), 1);
    let handle = matches.lock()[&match_id].clone();

    // Each takes its seat.
    let mut players = Vec::new();
    for (client, (m, token)) in clients.iter_mut().zip(&seats) {
        client
            .send_text(&format!(r#"422["join-match",[{m},"{token}"]]"#))
            .await;
        players.push(ack_of(client, 2).await["player"].as_u64().unwrap() as u32);
    }
    let mut sorted = players.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "four distinct players: {players:?}");

    // Player k sends inputs 1..=5 with dx = k+1, with a retried duplicate; the match applies
    // each once. (Reordering within a tick and stale inputs are covered by unit tests: an
    // input older than one applied in an earlier tick is dropped.)
    for (k, client) in clients.iter_mut().enumerate() {
        for seq in [1, 2, 3, 3, 4, 5, 5] {
            client
                .send_text(&format!(r#"42["input",[{seq},{{"dx":{}}}]]"#, k + 1))
                .await;
        }
    }
    // Every client sees snapshots with strictly increasing ticks until every player's last
    // applied input is 5, and then the positions are exactly 5 × dx.
    for client in &mut clients {
        let mut last_tick = None;
        loop {
            let (tick, acks, pos) = next_state(client).await;
            if let Some(last) = last_tick {
                assert!(tick > last, "ticks increase: {last} then {tick}");
            }
            last_tick = Some(tick);
            let acked: HashMap<u32, u32> = acks.into_iter().collect();
            if players.iter().all(|p| acked.get(p) == Some(&5)) {
                let pos: HashMap<u32, i64> = pos.into_iter().collect();
                for (k, player) in players.iter().enumerate() {
                    assert_eq!(pos[player], 5 * (k as i64 + 1), "player {player}");
                }
                break;
            }
        }
    }

    // Player 0 drops, then comes back on a new connection with the same token.
    clients[0].close().await;
    let dropped = players[0];
    loop {
        let state = handle.state().await.expect("state");
        let events: Vec<String> = serde_json::from_value(state["events"].clone()).unwrap();
        if events.contains(&format!("leave {dropped} Disconnected")) {
            break;
        }
        tokio::task::yield_now().await;
    }
    let (mut back, _) = WsClient::connect(port).await;
    back.send_text(&format!(
        r#"429["join-match",[{match_id},"{}"]]"#,
        seats[0].1
    ))
    .await;
    assert_eq!(
        ack_of(&mut back, 9).await["player"],
        json!(dropped),
        "same seat"
    );
    let state = handle.state().await.expect("state");
    let events: Vec<String> = serde_json::from_value(state["events"].clone()).unwrap();
    assert!(events.contains(&format!("rejoin {dropped}")), "{events:?}");
    // The rejoined player resumes from the current snapshot, position kept.
    let (_, _, pos) = next_state(&mut back).await;
    let pos: HashMap<u32, i64> = pos.into_iter().collect();
    assert_eq!(pos[&dropped], 5);

    // Everybody leaves the match for good: it disposes itself and nothing is left.
    let metrics = handle.metrics().await.expect("metrics");
    assert_eq!(metrics.players, 4);
    for player_token in &seats {
        handle.leave(&SeatToken(player_token.1.clone())).await;
    }
    settled("the empty match to dispose", || !handle.is_alive()).await;
    back.close().await;
    for client in clients.iter_mut().skip(1) {
        client.close().await;
    }
    settled("every connection gone", || {
        let s = io.stats();
        s.connections == 0 && s.sockets == 0 && s.room_memberships == 0 && s.connection_actors == 0
    })
    .await;
    assert!(MatchRoom::list(&io).iter().all(|(id, _)| *id != match_id));
}

#[actix_rt::test]
async fn an_expired_reservation_is_refused_with_a_clear_error() {
    let (io, _) = server(1);
    let port = serve(&io);
    let handle = MatchRoom::spawn(
        &io,
        MatchConfig {
            reservation_timeout: Duration::ZERO,
            ..match_config()
        },
        Walk::default(),
    );
    let token = handle
        .reserve(PlayerInfo::default())
        .await
        .expect("reserve");
    let (mut client, _) = WsClient::connect(port).await;
    let socket = io.of("/").unwrap().broadcast().fetch_sockets().remove(0);
    assert_eq!(handle.join(&token, &socket).await, Err(JoinError::Expired));
    assert_eq!(JoinError::Expired.to_string(), "seat reservation expired");
    assert_eq!(
        handle.join(&SeatToken("nope".into()), &socket).await,
        Err(JoinError::InvalidToken)
    );
    client.close().await;
    handle.stop().await;
    assert!(
        !within("the stopped match", async {
            while handle.is_alive() {
                tokio::task::yield_now().await;
            }
            handle.is_alive()
        })
        .await
    );
}

/// A socket seated in two matches of the same input event: the later seat takes its inputs
/// (one handler per event), and leaving the earlier match leaves that seat's inputs alone.
#[actix_rt::test]
async fn leaving_one_match_leaves_the_inputs_of_the_socket_seat_in_another() {
    let (io, matches) = server(4);
    let config = || MatchConfig {
        empty_timeout: Duration::from_secs(60),
        ..match_config()
    };
    let (first, second) = (
        MatchRoom::spawn(&io, config(), Walk::default()),
        MatchRoom::spawn(&io, config(), Walk::default()),
    );
    for handle in [&first, &second] {
        matches.lock().insert(handle.id(), handle.clone());
    }
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    let mut tokens = Vec::new();
    for (ack, handle) in [(1, &first), (2, &second)] {
        let token = handle.reserve(PlayerInfo::default()).await.unwrap();
        let join = format!(r#"42{ack}["join-match",[{},"{}"]]"#, handle.id(), token.0);
        client.send_text(&join).await;
        assert_eq!(ack_of(&mut client, ack).await, json!({"player": 1}));
        tokens.push(token);
    }
    first.leave(&tokens[0]).await;
    client.send_text(r#"42["input",[1,{"dx":3}]]"#).await;
    within("the second match applies the input", async {
        loop {
            let (_, _, pos) = next_state(&mut client).await;
            if pos == vec![(1, 3)] {
                break;
            }
        }
    })
    .await;
    first.stop().await;
    second.stop().await;
}

#[actix_rt::test]
async fn a_full_or_locked_match_refuses_seats() {
    let io = SocketIo::builder().build();
    let handle = MatchRoom::spawn(
        &io,
        MatchConfig {
            max_players: 2,
            ..match_config()
        },
        Walk::default(),
    );
    handle.reserve(PlayerInfo::default()).await.expect("first");
    handle.reserve(PlayerInfo::default()).await.expect("second");
    assert_eq!(
        handle.reserve(PlayerInfo::default()).await,
        Err(JoinError::Full)
    );
    handle.lock(true).await;
    assert_eq!(
        handle.reserve(PlayerInfo::default()).await,
        Err(JoinError::Locked)
    );
    handle.stop().await;
    assert_eq!(
        handle.reserve(PlayerInfo::default()).await,
        Err(JoinError::Disposed)
    );
}

#[actix_rt::test]
async fn two_matches_tick_on_two_worker_threads() {
    // Serving registers the server's two worker arbiters; matches are spread over them.
    let (io, _) = server(1);
    let _port = serve(&io);
    // Spawning before the workers started would place matches on this thread.
    settled("both workers registered", || io.workers().len() == 2).await;
    let mut threads = std::collections::HashSet::new();
    let mut handles = Vec::new();
    let config = MatchConfig {
        empty_timeout: Duration::from_secs(60),
        ..match_config()
    };
    for _ in 0..4 {
        handles.push(MatchRoom::spawn(&io, config.clone(), Walk::default()));
    }
    for handle in &handles {
        let thread = within("a tick on the match's thread", async {
            loop {
                let state = handle.state().await.expect("state");
                if let Some(thread) = state["thread"].as_str() {
                    return thread.to_owned();
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        threads.insert(thread);
    }
    assert_eq!(
        threads.len(),
        2,
        "matches spread over both workers: {threads:?}"
    );
    // Both keep ticking side by side.
    for handle in &handles {
        let before = handle.metrics().await.unwrap().ticks;
        within("the match to keep ticking", async {
            while handle.metrics().await.unwrap().ticks < before + 3 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        handle.stop().await;
    }
}

/// The `play` handler queues for a one-player match, then waits for the test before taking
/// the seat; the test disconnects the client meanwhile.
#[actix_rt::test]
async fn a_player_who_leaves_before_taking_the_seat_leaves_no_match_ticking() {
    let io = SocketIo::builder().build();
    let mm = Matchmaker::spawn(
        &io,
        MatchmakerConfig {
            group_size: 1,
            ..Default::default()
        },
        |_, _, _| {
            let config = MatchConfig {
                empty_timeout: Duration::from_millis(100),
                ..match_config()
            };
            (config, Walk::default())
        },
    );
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let (queued_tx, mut queued) = crate::support::events::<MatchHandle<Walk>>();
    let (seated_tx, mut seated) = crate::support::events::<Result<PlayerId, JoinError>>();
    let (gone_tx, mut gone) = crate::support::events::<()>();
    io.ns("/", move |socket| {
        let (mm, release) = (mm.clone(), release.clone());
        let (queued_tx, seated_tx) = (queued_tx.clone(), seated_tx.clone());
        socket.on("play", move |socket, _: tickwire::Payload, _| {
            let (mm, release) = (mm.clone(), release.lock().take());
            let (queued_tx, seated_tx) = (queued_tx.clone(), seated_tx.clone());
            async move {
                let ticket = Ticket::for_socket("walk", PlayerInfo::default(), &socket);
                let seat = mm.enqueue(ticket).await.expect("a match");
                let _ = queued_tx.send(seat.handle.clone());
                if let Some(release) = release {
                    let _ = release.await;
                }
                let _ = seated_tx.send(seat.handle.join(&seat.token, &socket).await);
            }
        });
        let gone_tx = gone_tx.clone();
        socket.on_disconnect(move |_, _| {
            let _ = gone_tx.send(());
        });
    });
    let port = serve(&io);
    let (mut client, _) = WsClient::connect(port).await;
    client.send_text(r#"42["play"]"#).await;
    let handle = queued.next().await;
    client.close().await;
    gone.next().await;
    release_tx.send(()).expect("the handler waits");
    assert_eq!(seated.next().await, Err(JoinError::Disconnected));
    // The reservation was freed: the match is empty and disposes itself.
    settled("the empty match disposed", || !handle.is_alive()).await;
}

#[actix_rt::test]
async fn the_matchmaker_never_groups_a_ticket_whose_socket_has_gone() {
    let spawned = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = spawned.clone();
    let io = SocketIo::builder().build();
    let mm = Matchmaker::spawn(
        &io,
        MatchmakerConfig {
            group_size: 2,
            max_wait: Duration::from_secs(60),
            ..Default::default()
        },
        move |_, _, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (match_config(), Walk::default())
        },
    );
    let (gone_tx, mut gone) = crate::support::events::<()>();
    let (waiting_tx, mut waiting) = crate::support::events::<()>();
    {
        let mm = mm.clone();
        io.ns("/", move |socket| {
            let (mm, waiting_tx) = (mm.clone(), waiting_tx.clone());
            socket.on("play", move |socket, _: tickwire::Payload, _| {
                let (mm, waiting_tx) = (mm.clone(), waiting_tx.clone());
                async move {
                    let ticket = Ticket::for_socket("walk", PlayerInfo::default(), &socket);
                    let enqueue = mm.enqueue(ticket);
                    let _ = waiting_tx.send(());
                    let _ = enqueue.await;
                }
            });
            let gone_tx = gone_tx.clone();
            socket.on_disconnect(move |_, _| {
                let _ = gone_tx.send(());
            });
        });
    }
    let port = serve(&io);
    // The first player queues, then goes away (its handler keeps awaiting the queue).
    let (mut first, _) = WsClient::connect(port).await;
    first.send_text(r#"42["play"]"#).await;
    waiting.next().await;
    settled_async(|| async { mm.queued().await.get("walk") == Some(&1) }).await;
    first.close().await;
    gone.next().await;
    // Its ticket is dropped (its handler still awaits the queue: only the socket is gone).
    settled_async(|| async { !mm.queued().await.contains_key("walk") }).await;
    // The second player's ticket finds no live partner: no group, no match.
    let (mut second, _) = WsClient::connect(port).await;
    second.send_text(r#"42["play"]"#).await;
    waiting.next().await;
    settled_async(|| async { mm.queued().await.get("walk") == Some(&1) }).await;
    assert_eq!(spawned.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// Re-check an async condition until it holds (within the test's wait).
async fn settled_async<F, Fut>(cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within("an async condition", async {
        while !cond().await {
            tokio::task::yield_now().await;
        }
    })
    .await
}
