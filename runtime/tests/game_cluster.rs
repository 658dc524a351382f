//! Matches across nodes over a real `redis-server`: three nodes (three `SocketIo` servers in
//! this process, each on its own port, each a `GameCluster` node running a
//! `ClusterMatchmaker`) behave as one game server. Players queued on different nodes play in
//! one match; a dropped player rejoins through another node; a killed node's matches end
//! for the players elsewhere; a draining node hosts no new match and lets its matches finish;
//! forged tokens and full queues are refused with a clear error.
//!
//! Each test starts its own `redis-server` on a free loopback port and stops it by its PID.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::redis::Redis;
use support::{parse_sio, serve, settled, within, Msg, WsClient};
use tickwire::game::cluster::{ClusterMatchmaker, GameCluster, MatchRef};
use tickwire::{
    Data, JoinError, LeaveReason, Match, MatchConfig, MatchContext, MatchHandle, MatchRoom,
    MatchmakerConfig, MatchmakingError, PlayerId, PlayerInfo, SeatToken, SocketIo, Ticket,
};

/// A node's heartbeat TTL here: a lost node is noticed within twice this.
const TTL: Duration = Duration::from_millis(600);

/// Every player counts up; `end` finishes the match at the next tick. Spectators (player
/// data `{"spectator": true}`) watch.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<PlayerId, i64>,
    ending: bool,
}

fn spectator() -> PlayerInfo {
    PlayerInfo {
        name: "spectator".into(),
        data: json!({"spectator": true}),
    }
}

#[derive(Deserialize)]
struct Add {
    #[serde(default)]
    n: i64,
    #[serde(default)]
    end: bool,
}

#[derive(Serialize)]
struct Counts {
    counts: Vec<(PlayerId, i64)>,
}

impl Match for Tally {
    type Input = Add;
    type Snapshot = Counts;

    fn on_join(&mut self, _: &mut MatchContext, player: PlayerId, info: &PlayerInfo) {
        if info.data["spectator"] != json!(true) {
            self.counts.entry(player).or_default();
        }
    }

    fn on_leave(&mut self, _: &mut MatchContext, _: PlayerId, _: LeaveReason) {}

    fn on_input(&mut self, _: &mut MatchContext, player: PlayerId, _seq: u32, input: Add) {
        *self.counts.entry(player).or_default() += input.n;
        self.ending |= input.end;
    }

    fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> Counts {
        if self.ending {
            ctx.end();
        }
        Counts {
            counts: self.counts.iter().map(|(p, n)| (*p, *n)).collect(),
        }
    }

    fn state(&self) -> Value {
        json!({"total": self.counts.values().sum::<i64>()})
    }
}

/// One node of the cluster: a server on its own port whose `/` has `queue`(mode, name) →
/// ack `{match, token}` (or `{error}`), `join`(token) → ack `{player}` (or `{error}`), and
/// `spectate`(match) → ack `{player}` (or `{error}`).
struct Node {
    io: SocketIo,
    port: u16,
    cluster: GameCluster,
    mm: ClusterMatchmaker<Tally>,
}

async fn node(redis: &Redis, group_size: usize) -> Node {
    node_with(redis, group_size, 10_000).await
}

async fn node_with(redis: &Redis, group_size: usize, max_queued: usize) -> Node {
    let io = SocketIo::builder().build();
    let cluster = GameCluster::builder(redis.url())
        .heartbeat_ttl(TTL)
        .request_timeout(Duration::from_secs(2))
        .attach(&io)
        .await
        .expect("the node joins the cluster");
    let config = MatchmakerConfig {
        group_size,
        max_wait: Duration::from_secs(60),
        max_queued,
        ..MatchmakerConfig::default()
    };
    let mm = ClusterMatchmaker::spawn(&cluster, config, Duration::from_secs(20), |mode, _, _| {
        let config = MatchConfig {
            tick_rate: 30,
            reconnect_window: Duration::from_secs(5),
            empty_timeout: Duration::from_secs(5),
            label: mode.to_owned(),
            ..MatchConfig::default()
        };
        (config, Tally::default())
    });
    let (queue_mm, join_cluster) = (mm.clone(), cluster.clone());
    io.ns("/", move |socket| {
        let mm = queue_mm.clone();
        socket.on(
            "queue",
            move |socket, Data((mode, name)): Data<(String, String)>, ack| {
                let mm = mm.clone();
                async move {
                    let player = PlayerInfo {
                        name,
                        ..PlayerInfo::default()
                    };
                    let reply = match mm.enqueue(Ticket::for_socket(mode, player, &socket)).await {
                        Ok(seat) => json!({"match": seat.at.to_string(), "token": seat.token.0}),
                        Err(e) => json!({"error": e.to_string()}),
                    };
                    ack.send(&reply).ok();
                }
            },
        );
        let cluster = join_cluster.clone();
        socket.on("spectate", move |socket, Data(at): Data<String>, ack| {
            let cluster = cluster.clone();
            async move {
                let seated = async {
                    let at: MatchRef = at.parse()?;
                    let token = cluster.reserve(at, spectator()).await?;
                    cluster.join(&token, &socket).await
                };
                let reply = match seated.await {
                    Ok(player) => json!({"player": player}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                ack.send(&reply).ok();
            }
        });
        let cluster = join_cluster.clone();
        socket.on("join", move |socket, Data(token): Data<String>, ack| {
            let cluster = cluster.clone();
            async move {
                let reply = match cluster.join(&SeatToken(token), &socket).await {
                    Ok(player) => json!({"player": player}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                ack.send(&reply).ok();
            }
        });
    });
    let port = serve(&io);
    Node {
        io,
        port,
        cluster,
        mm,
    }
}

/// Read frames until the ack `43<id>[...]`, returning its first argument (snapshots may be
/// flowing already).
async fn ack_of(client: &mut WsClient, id: u64) -> Value {
    let prefix = format!("43{id}[");
    let Msg::Text(text) = client.wait_for(|m| m.text_starts_with(&prefix)).await else {
        unreachable!()
    };
    parse_sio(&text).data.expect("ack payload")[0].clone()
}

/// The next snapshot: `(tick, acks, counts)`.
async fn next_state(client: &mut WsClient) -> (u64, HashMap<u32, u32>, HashMap<u32, i64>) {
    let Msg::Text(text) = client
        .wait_for(|m| m.text_starts_with(r#"42["state","#))
        .await
    else {
        unreachable!()
    };
    let data = parse_sio(&text).data.expect("state payload");
    let env = &data[1];
    let acks: Vec<(u32, u32)> = serde_json::from_value(env["acks"].clone()).expect("acks");
    let counts: Vec<(u32, i64)> =
        serde_json::from_value(env["state"]["counts"].clone()).expect("counts");
    (
        env["tick"].as_u64().expect("tick"),
        acks.into_iter().collect(),
        counts.into_iter().collect(),
    )
}

/// The `match-ended` reason this client hears next (snapshots before it are skipped).
async fn match_ended(client: &mut WsClient) -> String {
    let Msg::Text(text) = client
        .wait_for(|m| m.text_starts_with(r#"42["match-ended","#))
        .await
    else {
        unreachable!()
    };
    parse_sio(&text).data.expect("reason")[1]
        .as_str()
        .expect("a reason")
        .to_owned()
}

/// Read until the connection closes (snapshots may come until then).
async fn closed(client: &mut WsClient) {
    while !matches!(client.recv().await, Msg::Close(_) | Msg::Ended) {}
}

/// A player on `node`, queued in `mode` (ack id 1 pending).
async fn queue_on(node: &Node, mode: &str, name: &str) -> WsClient {
    let (mut client, _) = WsClient::connect(node.port).await;
    client
        .send_text(&format!(r#"421["queue",["{mode}","{name}"]]"#))
        .await;
    client
}

/// Seat every client with its token through its own node; the player ids.
async fn join_all(clients: &mut [WsClient], tokens: &[String]) -> Vec<u32> {
    let mut players = Vec::new();
    for (client, token) in clients.iter_mut().zip(tokens) {
        client.send_text(&format!(r#"422["join","{token}"]"#)).await;
        let reply = ack_of(client, 2).await;
        players.push(
            reply["player"]
                .as_u64()
                .unwrap_or_else(|| panic!("seated: {reply}")) as u32,
        );
    }
    players
}

/// The match and tokens of a group: every client's queue ack, which must name one match.
async fn seats_of(clients: &mut [WsClient]) -> (MatchRef, Vec<String>) {
    let mut at = None;
    let mut tokens = Vec::new();
    for client in clients.iter_mut() {
        let seat = ack_of(client, 1).await;
        let here: MatchRef = seat["match"]
            .as_str()
            .unwrap_or_else(|| panic!("grouped: {seat}"))
            .parse()
            .expect("a match ref");
        assert_eq!(*at.get_or_insert(here), here, "one match for the group");
        tokens.push(seat["token"].as_str().expect("token").to_owned());
    }
    (at.expect("a group"), tokens)
}

/// Wait until every client's snapshot acks `seq` for every player; the counts then.
async fn all_acked(clients: &mut [WsClient], players: &[u32], seq: u32) -> Vec<HashMap<u32, i64>> {
    let mut seen = Vec::new();
    for client in clients.iter_mut() {
        let mut last_tick = None;
        loop {
            let (tick, acks, counts) = next_state(client).await;
            if let Some(last) = last_tick {
                assert!(tick > last, "ticks increase: {last} then {tick}");
            }
            last_tick = Some(tick);
            if players.iter().all(|p| acks.get(p) == Some(&seq)) {
                seen.push(counts);
                break;
            }
        }
    }
    seen
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn players_queued_on_three_nodes_play_one_match_on_one_of_them() {
    let redis = Redis::start();
    let nodes = [
        node(&redis, 3).await,
        node(&redis, 3).await,
        node(&redis, 3).await,
    ];
    within("three live nodes", async {
        while nodes[0].cluster.nodes().await.len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // One player per node; the group forms across them.
    let mut clients = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        clients.push(queue_on(n, "duel", &format!("p{i}")).await);
    }
    let (at, tokens) = within("a group across nodes", seats_of(&mut clients)).await;
    let host = nodes
        .iter()
        .position(|n| n.cluster.node_id() == at.node)
        .expect("a node of the cluster hosts it");
    assert_eq!(MatchRoom::count(&nodes[host].io), 1, "the host runs it");
    for (i, n) in nodes.iter().enumerate() {
        if i != host {
            assert_eq!(MatchRoom::count(&n.io), 0, "one match in the cluster");
        }
    }
    let players = within("seated", join_all(&mut clients, &tokens)).await;

    // Player k sends 1..=4 with n = k+1 and a retried duplicate, wherever it is: each
    // input counts once, and every client (local or remote) sees each player's last
    // applied input in the snapshots.
    for (k, client) in clients.iter_mut().enumerate() {
        for seq in [1, 2, 2, 3, 4, 4] {
            client
                .send_text(&format!(r#"42["input",[{seq},{{"n":{}}}]]"#, k + 1))
                .await;
        }
    }
    let seen = within("inputs applied", all_acked(&mut clients, &players, 4)).await;
    for counts in seen {
        for (k, player) in players.iter().enumerate() {
            assert_eq!(counts[player], 4 * (k as i64 + 1), "player {player}");
        }
    }

    // A spectator on a node that does not host the match watches it from there.
    let watch_from = nodes
        .iter()
        .find(|n| n.cluster.node_id() != at.node)
        .unwrap();
    let (mut watcher, _) = WsClient::connect(watch_from.port).await;
    watcher
        .send_text(&format!(r#"425["spectate","{at}"]"#))
        .await;
    let reply = within("spectating", ack_of(&mut watcher, 5)).await;
    assert!(reply["player"].is_u64(), "{reply}");
    let (_, _, counts) = within("a snapshot", next_state(&mut watcher)).await;
    assert_eq!(
        counts.len(),
        3,
        "the players, not the spectator: {counts:?}"
    );
    assert_eq!(counts[&players[2]], 12);

    // Every node lists it in the directory, with its label and seats (players and the
    // spectator).
    for n in &nodes {
        let listed = within("the directory", async {
            loop {
                let listed = n.cluster.directory(Some("duel")).await;
                if listed.first().is_some_and(|e| e.players == 4) {
                    return listed;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].at, at);
        assert_eq!(listed[0].state, json!({"total": 24}), "the game's summary");
        assert!(n.cluster.directory(Some("other")).await.is_empty());
    }

    // The bus carried the remote players' traffic, and nothing was malformed.
    let counters: HashMap<_, _> = nodes[host].cluster.counters().into_iter().collect();
    assert!(
        counters["published"] > 0 && counters["received"] > 0,
        "{counters:?}"
    );
    assert_eq!(counters["malformed"], 0);
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_dropped_player_rejoins_its_seat_through_another_node() {
    let redis = Redis::start();
    let nodes = [
        node(&redis, 2).await,
        node(&redis, 2).await,
        node(&redis, 2).await,
    ];
    let mut clients = vec![
        queue_on(&nodes[0], "duel", "a").await,
        queue_on(&nodes[1], "duel", "b").await,
    ];
    let (at, tokens) = within("grouped", seats_of(&mut clients)).await;
    let players = within("seated", join_all(&mut clients, &tokens)).await;
    for seq in 1..=3 {
        clients[1]
            .send_text(&format!(r#"42["input",[{seq},{{"n":10}}]]"#))
            .await;
    }
    clients[0].send_text(r#"42["input",[1,{"n":1}]]"#).await;
    within("inputs applied", async {
        loop {
            let (_, acks, _) = next_state(&mut clients[0]).await;
            if acks.get(&players[1]) == Some(&3) && acks.get(&players[0]) == Some(&1) {
                return;
            }
        }
    })
    .await;

    // Player b (on node 1) drops, then comes back through node 2 with the same token: the
    // same seat, its count kept, and its inputs go on from where they were.
    clients[1].close().await;
    let (mut back, _) = WsClient::connect(nodes[2].port).await;
    back.send_text(&format!(r#"429["join","{}"]"#, tokens[1]))
        .await;
    let reply = within("rejoined", ack_of(&mut back, 9)).await;
    assert_eq!(reply["player"], json!(players[1]), "the same seat: {reply}");
    back.send_text(r#"42["input",[4,{"n":10}]]"#).await;
    let counts = within("the rejoined player plays on", async {
        loop {
            let (_, acks, counts) = next_state(&mut back).await;
            if acks.get(&players[1]) == Some(&4) {
                return counts;
            }
        }
    })
    .await;
    assert_eq!(counts[&players[1]], 40);
    assert_eq!(counts[&players[0]], 1);

    // The old connection's node holds nothing for it any more; the host still runs one match.
    let host = nodes
        .iter()
        .find(|n| n.cluster.node_id() == at.node)
        .unwrap();
    assert_eq!(MatchRoom::count(&host.io), 1);
    settled("node 1 holds no socket", || {
        nodes[1].io.stats().sockets == 0
    })
    .await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_killed_node_ends_its_matches_for_the_players_on_other_nodes() {
    let redis = Redis::start();
    let nodes = [node(&redis, 2).await, node(&redis, 2).await];
    // One player per node; whichever node hosts the match is killed.
    let mut clients = vec![
        queue_on(&nodes[0], "duel", "a").await,
        queue_on(&nodes[1], "duel", "b").await,
    ];
    let (at, tokens) = within("grouped", seats_of(&mut clients)).await;
    let players = within("seated", join_all(&mut clients, &tokens)).await;
    let host = nodes
        .iter()
        .position(|n| n.cluster.node_id() == at.node)
        .unwrap();
    let other = 1 - host;
    within("snapshots reach the remote player", async {
        loop {
            let (_, _, counts) = next_state(&mut clients[other]).await;
            if counts.len() == players.len() {
                return;
            }
        }
    })
    .await;

    // The host dies (no heartbeat, no messages). The remote player hears `match-ended`
    // with reason `node lost` within twice the TTL, and the directory forgets the match.
    nodes[host].cluster.stop();
    let reason = tokio::time::timeout(TTL * 2, match_ended(&mut clients[other]))
        .await
        .expect("match-ended within twice the TTL");
    assert_eq!(reason, "node lost");
    settled_async(|| async {
        nodes[other].cluster.lookup(at).await.is_none()
            && nodes[other].cluster.nodes().await.len() == 1
    })
    .await;

    // The remote player is free again: its inputs go nowhere, and it can queue anew (a
    // solo game: the new group is hosted by the live node).
    clients[other]
        .send_text(r#"423["queue",["solo","again"]]"#)
        .await;
    let mut solo = queue_on(&nodes[other], "solo", "mate").await;
    let seat = within("requeued", ack_of(&mut solo, 1)).await;
    let again: MatchRef = seat["match"].as_str().expect("grouped").parse().unwrap();
    assert_eq!(again.node, nodes[other].cluster.node_id());
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_draining_node_hosts_no_new_match_and_lets_its_matches_finish() {
    let redis = Redis::start();
    let nodes = [node(&redis, 2).await, node(&redis, 2).await];
    let mut clients = vec![
        queue_on(&nodes[0], "duel", "a").await,
        queue_on(&nodes[1], "duel", "b").await,
    ];
    let (at, tokens) = within("grouped", seats_of(&mut clients)).await;
    within("seated", join_all(&mut clients, &tokens)).await;
    let host = nodes
        .iter()
        .position(|n| n.cluster.node_id() == at.node)
        .unwrap();
    let other = 1 - host;

    // The host drains with a long grace. New groups go to the other node, even one whose
    // players are all on the draining node.
    let drain_cluster = nodes[host].cluster.clone();
    let drained = tokio::spawn(async move { drain_cluster.drain(Duration::from_secs(20)).await });
    within("the drain is published", async {
        loop {
            let loads = nodes[other].cluster.nodes().await;
            if loads.iter().any(|l| l.node == at.node && l.draining) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut late = vec![
        queue_on(&nodes[host], "duel", "c").await,
        queue_on(&nodes[host], "duel", "d").await,
    ];
    let (late_at, late_tokens) = within("a late group", seats_of(&mut late)).await;
    assert_eq!(
        late_at.node,
        nodes[other].cluster.node_id(),
        "not on the draining node"
    );
    within("the late group plays", join_all(&mut late, &late_tokens)).await;

    // The running match is not cut: it plays on until its players end it, and its players
    // (local and remote) hear `finished`. Then the drain completes: the draining node's
    // clients are disconnected, so that a balancer sends them elsewhere.
    clients[0].send_text(r#"42["input",[1,{"n":1}]]"#).await;
    let (_, acks, _) = within("still ticking", async {
        loop {
            let state = next_state(&mut clients[1]).await;
            if !state.1.is_empty() {
                return state;
            }
        }
    })
    .await;
    assert_eq!(acks.values().copied().max(), Some(1));
    assert!(!drained.is_finished(), "the drain waits for its match");
    clients[1]
        .send_text(r#"42["input",[1,{"end":true}]]"#)
        .await;
    for client in &mut clients {
        assert_eq!(within("finished", match_ended(client)).await, "finished");
    }
    within("the drain completes", drained).await.unwrap();
    within("the drained node's clients closed", async {
        closed(&mut clients[host]).await;
        for client in &mut late {
            closed(client).await;
        }
    })
    .await;
    // The late match lives on the other node: its players, closed with the drained node,
    // hold their seats there for their reconnect window.
    assert_eq!(
        MatchRoom::count(&nodes[other].io),
        1,
        "the late match plays on"
    );
    assert_eq!(MatchRoom::count(&nodes[host].io), 0);
    let live = nodes[other].cluster.nodes().await;
    assert_eq!(live.len(), 1, "the drained node left: {live:?}");
    assert_eq!(live[0].node, nodes[other].cluster.node_id());
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn forged_and_stale_tokens_and_full_queues_are_refused_with_a_clear_error() {
    let redis = Redis::start();
    let nodes = [node_with(&redis, 4, 2).await, node_with(&redis, 4, 2).await];
    let (mut client, sid) = WsClient::connect(nodes[0].port).await;

    let other = nodes[1].cluster.node_id();
    let cases = [
        ("not a token".to_owned(), "invalid seat token"),
        (format!("{other:016x}-77.forged"), "invalid seat token"),
        ("00000000000000ff-1.nobody".to_owned(), "did not answer"),
    ];
    for (i, (token, expected)) in cases.iter().enumerate() {
        let id = 10 + i as u64;
        client
            .send_text(&format!(r#"42{id}["join","{token}"]"#))
            .await;
        let reply = within("refused", ack_of(&mut client, id)).await;
        let error = reply["error"].as_str().unwrap_or_else(|| panic!("{reply}"));
        assert!(error.contains(expected), "{token}: {error}");
    }
    assert_eq!(JoinError::InvalidToken.to_string(), "invalid seat token");

    // A real match on node 1, a token of it with a forged secret: refused, and the match
    // keeps its seats.
    let handle = MatchRoom::spawn(&nodes[1].io, MatchConfig::default(), Tally::default());
    let at = MatchRef {
        node: other,
        id: handle.id(),
    };
    let forged = SeatToken(format!("{at}.guessed"));
    let socket = nodes[0].io.of("/").unwrap().get_socket(&sid).unwrap();
    assert_eq!(
        nodes[0].cluster.join(&forged, &socket).await,
        Err(JoinError::InvalidToken)
    );
    let token = nodes[0]
        .cluster
        .reserve(at, PlayerInfo::default())
        .await
        .expect("a seat reserved from another node");
    assert_eq!(MatchRef::of_token(&token), Ok(at));
    nodes[0].cluster.leave(&token).await;
    assert_eq!(
        nodes[0].cluster.join(&token, &socket).await,
        Err(JoinError::InvalidToken),
        "a token given up is stale"
    );

    // The mode's queue holds two tickets cluster-wide; the third is refused, wherever queued.
    let mut queued = [
        queue_on(&nodes[0], "big", "q0").await,
        queue_on(&nodes[1], "big", "q1").await,
    ];
    within("two queued", async {
        while nodes[0].mm.queued("big").await.unwrap() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut third = queue_on(&nodes[1], "big", "q2").await;
    let reply = within("refused", ack_of(&mut third, 1)).await;
    assert_eq!(
        reply["error"].as_str(),
        Some(MatchmakingError::QueueFull.to_string().as_str())
    );

    // A queued player who disconnects leaves the queue.
    queued[0].close().await;
    settled_async(|| async { nodes[1].mm.queued("big").await.unwrap() == 1 }).await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn placement_follows_load_and_a_burst_of_groups_spreads() {
    let redis = Redis::start();
    let nodes = [node(&redis, 2).await, node(&redis, 2).await];
    // Node 0 runs five matches already, as its heartbeat shows.
    let busy: Vec<_> = (0..5)
        .map(|_| MatchRoom::spawn(&nodes[0].io, MatchConfig::default(), Tally::default()))
        .collect();
    let loaded = nodes[0].cluster.node_id();
    settled_async(|| async {
        nodes[1]
            .cluster
            .nodes()
            .await
            .iter()
            .any(|l| l.node == loaded && l.matches == 5)
    })
    .await;

    // Three groups at once, all of players on node 0: node 0 is too busy to host them for
    // their sake, and node 1 hosts them all (each counts towards its load as soon as it is
    // placed, before its heartbeat shows it).
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(queue_on(&nodes[0], "duel", &format!("p{i}")).await);
    }
    // The six queue concurrently, so which two make a group is up to the queue's order.
    let mut groups: HashMap<MatchRef, usize> = HashMap::new();
    for client in &mut clients {
        let seat = within("grouped", ack_of(client, 1)).await;
        let at: MatchRef = seat["match"]
            .as_str()
            .unwrap_or_else(|| panic!("grouped: {seat}"))
            .parse()
            .expect("a match ref");
        *groups.entry(at).or_default() += 1;
    }
    assert_eq!(groups.len(), 3, "three matches: {groups:?}");
    assert!(
        groups.values().all(|&n| n == 2),
        "two players each: {groups:?}"
    );
    let light = nodes[1].cluster.node_id();
    let hosts: Vec<_> = groups.keys().map(|at| at.node).collect();
    assert_eq!(hosts, vec![light; 3], "the lighter node hosts the burst");
    assert_eq!(MatchRoom::count(&nodes[1].io), 3);
    drop(busy);
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_match_whose_players_are_all_on_its_node_takes_no_bus_hop() {
    let redis = Redis::start();
    let nodes = [node(&redis, 2).await, node(&redis, 2).await];
    let mut clients = vec![
        queue_on(&nodes[1], "duel", "a").await,
        queue_on(&nodes[1], "duel", "b").await,
    ];
    let (at, tokens) = within("grouped", seats_of(&mut clients)).await;
    assert_eq!(
        at.node,
        nodes[1].cluster.node_id(),
        "hosted where its players are"
    );
    let players = within("seated", join_all(&mut clients, &tokens)).await;
    let published = |n: &Node| -> u64 {
        let counters: HashMap<_, _> = n.cluster.counters().into_iter().collect();
        counters["published"]
    };
    let before = [published(&nodes[0]), published(&nodes[1])];
    for client in &mut clients {
        for seq in 1..=3 {
            client
                .send_text(&format!(r#"42["input",[{seq},{{"n":1}}]]"#))
                .await;
        }
    }
    within("inputs applied", all_acked(&mut clients, &players, 3)).await;
    assert_eq!(
        [published(&nodes[0]), published(&nodes[1])],
        before,
        "no message on the bus for a match played where its players are"
    );
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_group_whose_host_dies_before_seating_it_goes_back_to_the_queue_and_plays() {
    let redis = Redis::start();
    let nodes = [node(&redis, 2).await, node(&redis, 2).await];
    // Node 1 is the busier one, so that node 0 is chosen to host the next group.
    let _busy: Vec<_> = (0..2)
        .map(|_| MatchRoom::spawn(&nodes[1].io, MatchConfig::default(), Tally::default()))
        .collect();
    let busy = nodes[1].cluster.node_id();
    settled_async(|| async {
        nodes[1]
            .cluster
            .nodes()
            .await
            .iter()
            .any(|l| l.node == busy && l.matches == 2)
    })
    .await;

    // Node 0 dies; before its heartbeat lapses, a group forms on node 1 and is placed on
    // node 0, which never hosts it. Once node 0 is found lost, the group's tickets go back
    // to the queue with their places, and node 1 hosts them: the players get their seats.
    nodes[0].cluster.stop();
    let mut clients = vec![
        queue_on(&nodes[1], "duel", "a").await,
        queue_on(&nodes[1], "duel", "b").await,
    ];
    let (at, tokens) = within("grouped after the requeue", seats_of(&mut clients)).await;
    assert_eq!(at.node, busy, "hosted by the live node");
    let counters: HashMap<_, _> = nodes[1].cluster.counters().into_iter().collect();
    assert_eq!(counters["nodes_lost"], 1, "{counters:?}");
    assert_eq!(counters["tickets_requeued"], 2, "{counters:?}");
    let players = within("seated", join_all(&mut clients, &tokens)).await;
    assert_eq!(players.len(), 2);
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_rolling_restart_of_two_nodes_loses_no_match() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, 2).await, node(&redis, 2).await);
    // Two matches, each with a player on each node; the burst spreads them, one per node.
    let mut first = vec![
        queue_on(&a, "duel", "a1").await,
        queue_on(&b, "duel", "b1").await,
    ];
    let (first_at, first_tokens) = within("grouped", seats_of(&mut first)).await;
    let mut second = vec![
        queue_on(&a, "duel", "a2").await,
        queue_on(&b, "duel", "b2").await,
    ];
    let (second_at, second_tokens) = within("grouped", seats_of(&mut second)).await;
    assert_ne!(first_at.node, second_at.node, "one match per node");
    within("seated", join_all(&mut first, &first_tokens)).await;
    within("seated", join_all(&mut second, &second_tokens)).await;
    let (mut on_a, mut on_b) = if first_at.node == a.cluster.node_id() {
        ((first, first_tokens), (second, second_tokens))
    } else {
        ((second, second_tokens), (first, first_tokens))
    };

    // Restart A: it drains, its match runs to its end (the players end it), then its
    // clients are closed. B's player of A's match heard `finished`, like A's.
    let draining = a.cluster.clone();
    let drain_a = tokio::spawn(async move { draining.drain(Duration::from_secs(20)).await });
    on_a.0[1].send_text(r#"42["input",[1,{"end":true}]]"#).await;
    for client in &mut on_a.0 {
        assert_eq!(
            within("A's match ends", match_ended(client)).await,
            "finished"
        );
    }
    within("A drained", drain_a).await.unwrap();
    // A's player in B's match lost its connection with A; it comes back through the new
    // node A' with its token, to the same seat.
    closed(&mut on_b.0[0]).await;
    let a2 = node(&redis, 2).await;
    let (mut back, _) = WsClient::connect(a2.port).await;
    back.send_text(&format!(r#"429["join","{}"]"#, on_b.1[0]))
        .await;
    let reply = within("rejoined through A'", ack_of(&mut back, 9)).await;
    assert!(reply["player"].is_u64(), "{reply}");
    on_b.0[0] = back;

    // Restart B: new groups go to A' now; B's match runs to its end.
    let draining = b.cluster.clone();
    let drain_b = tokio::spawn(async move { draining.drain(Duration::from_secs(20)).await });
    settled_async(|| async {
        a2.cluster
            .nodes()
            .await
            .iter()
            .any(|l| l.node == b.cluster.node_id() && l.draining)
    })
    .await;
    let mut next = vec![
        queue_on(&a2, "duel", "c").await,
        queue_on(&a2, "duel", "d").await,
    ];
    let (next_at, _) = within("a new group", seats_of(&mut next)).await;
    assert_eq!(next_at.node, a2.cluster.node_id());
    on_b.0[0].send_text(r#"42["input",[1,{"end":true}]]"#).await;
    for client in &mut on_b.0 {
        assert_eq!(
            within("B's match ends", match_ended(client)).await,
            "finished"
        );
    }
    within("B drained", drain_b).await.unwrap();
    let live = a2.cluster.nodes().await;
    assert_eq!(live.len(), 1, "only A' is left: {live:?}");
}

/// Wait until an async condition holds, polling it.
async fn settled_async<F, Fut>(cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within("the cluster to settle", async {
        while !cond().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Counts like [`Tally`], at 10 Hz with a clock that moves every tick, and sends each player
/// the delta from the tick it acknowledged (`state-delta`).
#[derive(Default)]
struct Beacon {
    counts: BTreeMap<PlayerId, i64>,
    clock: u64,
    events: Vec<String>,
}

/// The clock, and the counts that changed.
#[derive(Serialize)]
struct Changed {
    clock: u64,
    counts: Vec<(PlayerId, i64)>,
}

#[derive(Serialize)]
struct Lit {
    clock: u64,
    counts: Vec<(PlayerId, i64)>,
}

impl Match for Beacon {
    type Input = Add;
    type Snapshot = Lit;

    fn on_join(&mut self, _: &mut MatchContext, player: PlayerId, _: &PlayerInfo) {
        self.counts.entry(player).or_default();
    }

    fn on_leave(&mut self, _: &mut MatchContext, player: PlayerId, reason: LeaveReason) {
        self.events.push(format!("leave {player} {reason:?}"));
    }

    fn on_input(&mut self, _: &mut MatchContext, player: PlayerId, _seq: u32, input: Add) {
        *self.counts.entry(player).or_default() += input.n;
    }

    fn tick(&mut self, _: &mut MatchContext, _: Duration) -> Lit {
        self.clock += 1;
        Lit {
            clock: self.clock,
            counts: self.counts.iter().map(|(p, n)| (*p, *n)).collect(),
        }
    }

    fn deltas(&self) -> Option<tickwire::game::Deltas> {
        Some(tickwire::game::Deltas {
            history: 32,
            ..Default::default()
        })
    }

    fn delta(&self, base: &Lit, current: &Lit) -> Option<tickwire::game::SnapshotDelta> {
        let counts = current
            .counts
            .iter()
            .filter(|entry| !base.counts.contains(entry))
            .copied()
            .collect();
        Some(tickwire::game::SnapshotDelta::new(Changed {
            clock: current.clock,
            counts,
        }))
    }

    fn state(&self) -> Value {
        json!({ "events": self.events })
    }
}

/// A snapshot (full or delta) or the answer to an ack, as a client of a [`Beacon`] sees it.
#[derive(Debug)]
enum Seen {
    Full(u64),
    Delta { tick: u64, base: u64 },
    Answer(Value),
}

impl Seen {
    fn tick(&self) -> u64 {
        match self {
            Seen::Full(tick) | Seen::Delta { tick, .. } => *tick,
            Seen::Answer(reply) => panic!("a snapshot expected, got the answer {reply}"),
        }
    }
}

/// The next snapshot, delta or answer to the ack `answer`.
async fn next_seen(client: &mut WsClient, answer: u64) -> Seen {
    let ack = format!("43{answer}[");
    let Msg::Text(text) = client
        .wait_for(|m| {
            m.text_starts_with(r#"42["state","#)
                || m.text_starts_with(r#"42["state-delta","#)
                || m.text_starts_with(&ack)
        })
        .await
    else {
        unreachable!()
    };
    let data = parse_sio(&text).data.expect("a payload");
    if text.starts_with(&ack) {
        return Seen::Answer(data[0].clone());
    }
    let tick = data[1]["tick"].as_u64().expect("tick");
    match data[1]["base"].as_u64() {
        Some(base) => Seen::Delta { tick, base },
        None => Seen::Full(tick),
    }
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_player_of_another_node_resumes_through_a_third_one_from_the_newest_snapshot() {
    let redis = Redis::start();
    let nodes = [
        node(&redis, 2).await,
        node(&redis, 2).await,
        node(&redis, 2).await,
    ];
    // A match on node A; its player is connected to node B.
    let config = MatchConfig {
        tick_rate: 10,
        reconnect_window: Duration::from_secs(10),
        empty_timeout: Duration::from_secs(30),
        ..MatchConfig::default()
    };
    let handle = MatchRoom::spawn(&nodes[0].io, config, Beacon::default());
    let at = MatchRef {
        node: nodes[0].cluster.node_id(),
        id: handle.id(),
    };
    let token = nodes[1]
        .cluster
        .reserve(at, PlayerInfo::default())
        .await
        .expect("a seat reserved from node B");
    let (mut on_b, _) = WsClient::connect(nodes[1].port).await;
    on_b.send_text(&format!(r#"421["join","{}"]"#, token.0))
        .await;
    let player = within("seated from node B", async {
        loop {
            if let Seen::Answer(reply) = next_seen(&mut on_b, 1).await {
                return reply["player"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{reply}"));
            }
        }
    })
    .await;

    // Its acknowledgements travel to node A with its inputs: the deltas come back to B.
    let (mut last, mut seq, mut deltas) = (0, 0, 0);
    within("deltas reach node B", async {
        while deltas < 2 {
            let seen = next_seen(&mut on_b, 1).await;
            let tick = seen.tick();
            assert!(
                tick > last || last == 0,
                "ticks increase: {last} then {tick}"
            );
            last = tick;
            if let Seen::Delta { base, .. } = seen {
                assert!(base < tick);
                deltas += 1;
            }
            seq += 1;
            on_b.send_text(&format!(r#"42["input",[{seq},{{"n":1}},{tick}]]"#))
                .await;
        }
    })
    .await;

    // It drops from B and rejoins through node C: the newest full snapshot arrives at once,
    // before the join is answered, then ticks strictly increase from there.
    on_b.close().await;
    settled_async(|| async {
        let state = handle.state().await.unwrap_or_default();
        state["events"]
            .as_array()
            .is_some_and(|e| e.contains(&json!(format!("leave {player} Disconnected"))))
    })
    .await;
    let (mut on_c, _) = WsClient::connect(nodes[2].port).await;
    on_c.send_text(&format!(r#"429["join","{}"]"#, token.0))
        .await;
    let resumed = within("the resumed snapshot", next_seen(&mut on_c, 9)).await;
    let Seen::Full(from) = resumed else {
        panic!("the newest full snapshot first, before the answer: {resumed:?}")
    };
    assert!(from >= last, "resumed from {from}, had {last}");
    let mut newest = from;
    let mut answered = false;
    let mut ticks = 0;
    while !answered || ticks < 3 {
        match within("the ticks after the rejoin", next_seen(&mut on_c, 9)).await {
            Seen::Answer(reply) => {
                assert_eq!(reply["player"], json!(player), "the same seat: {reply}");
                answered = true;
            }
            Seen::Full(tick) => {
                assert!(tick > newest, "ticks increase: {newest} then {tick}");
                newest = tick;
                ticks += 1;
            }
            seen @ Seen::Delta { .. } => {
                panic!("a delta before the new connection acknowledged: {seen:?}")
            }
        }
    }
    // Acknowledging through node C brings the deltas back, from a tick of the new connection.
    seq += 1;
    on_c.send_text(&format!(r#"42["input",[{seq},{{"n":1}},{newest}]]"#))
        .await;
    within("deltas through node C", async {
        loop {
            let seen = next_seen(&mut on_c, 9).await;
            let tick = seen.tick();
            assert!(tick > newest, "ticks increase: {newest} then {tick}");
            newest = tick;
            if let Seen::Delta { base, .. } = seen {
                assert!(base >= from, "a base of the new connection: {base}");
                return;
            }
        }
    })
    .await;
    let counters: HashMap<_, _> = nodes[0].cluster.counters().into_iter().collect();
    assert_eq!(counters["malformed"], 0);
    handle.stop().await;
}

/// A node's counter `name`.
fn counter(cluster: &GameCluster, name: &str) -> u64 {
    let counters = cluster.counters();
    counters
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no counter {name} in {counters:?}"))
        .1
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn requests_to_a_node_whose_reader_moves_to_its_worker_are_each_answered_once() {
    use futures_util::StreamExt;

    let redis = Redis::start();
    // Node A joins before its server runs: it reads its channel on this thread until its
    // worker runs, then moves the reading there while node B's requests keep coming.
    let a_io = SocketIo::builder().build();
    a_io.ns("/", |_| {});
    let a = GameCluster::builder(redis.url())
        .heartbeat_ttl(TTL)
        .request_timeout(Duration::from_secs(5))
        .attach(&a_io)
        .await
        .expect("node A joins");
    let b = node(&redis, 2).await;
    // A match A does not have: each request gets A's answer that it is gone, and a request
    // lost on the way would time out instead.
    let nowhere = MatchRef {
        node: a.node_id(),
        id: u64::MAX,
    };
    const REQUESTS: u64 = 1_500;
    let requests = futures_util::stream::iter(0..REQUESTS)
        .map(|_| b.cluster.reserve(nowhere, PlayerInfo::default()))
        .buffer_unordered(25)
        .collect::<Vec<_>>();
    let start_a = async {
        settled("node A to answer before its server runs", || {
            counter(&a, "received") >= REQUESTS / 5
        })
        .await;
        serve(&a_io);
        settled("node A's worker to start", || !a_io.workers().is_empty()).await;
    };
    let (answers, ()) = within(
        "every answer",
        futures_util::future::join(requests, start_a),
    )
    .await;
    for answer in &answers {
        assert_eq!(answer, &Err(JoinError::Disposed));
    }
    // Each request heard once by A, each answer once by B.
    assert_eq!(counter(&a, "received"), REQUESTS);
    assert_eq!(counter(&b.cluster, "received"), REQUESTS);
    assert_eq!(counter(&a, "malformed"), 0);
    // And only the worker's subscription is left.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let channel = format!("tickwire-game:to:{:016x}", a.node_id());
    let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(subscribers, 1, "subscriptions to {channel}");
}

/// A node whose `/` has `join`(token) → ack `{player}` (or `{error}`), and `join-once`(token),
/// which polls the join once and gives it up (ack `{pending}`: whether it was still waiting
/// for the host's answer): a caller that stops waiting after the request went out. Its
/// requests wait `request_timeout`.
async fn requester(redis: &Redis, request_timeout: Duration) -> (u16, GameCluster) {
    use futures_util::FutureExt;

    let io = SocketIo::builder().build();
    let cluster = GameCluster::builder(redis.url())
        .heartbeat_ttl(TTL)
        .request_timeout(request_timeout)
        .attach(&io)
        .await
        .expect("the node joins the cluster");
    let on_connect = cluster.clone();
    io.ns("/", move |socket| {
        let cluster = on_connect.clone();
        socket.on("join", move |socket, Data(token): Data<String>, ack| {
            let cluster = cluster.clone();
            async move {
                let reply = match cluster.join(&SeatToken(token), &socket).await {
                    Ok(player) => json!({"player": player}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                ack.send(&reply).ok();
            }
        });
        let cluster = on_connect.clone();
        socket.on(
            "join-once",
            move |socket, Data(token): Data<String>, ack| {
                let cluster = cluster.clone();
                async move {
                    let token = SeatToken(token);
                    let pending = cluster.join(&token, &socket).now_or_never().is_none();
                    ack.send(&json!({ "pending": pending })).ok();
                }
            },
        );
    });
    (serve(&io), cluster)
}

/// A [`Beacon`] match on `host` whose away players lapse after 300 ms, and a seat in it.
async fn beacon_seat(host: &Node) -> (MatchHandle<Beacon>, SeatToken) {
    let config = MatchConfig {
        tick_rate: 10,
        reconnect_window: Duration::from_millis(300),
        empty_timeout: Duration::from_secs(30),
        ..MatchConfig::default()
    };
    let handle = MatchRoom::spawn(&host.io, config, Beacon::default());
    let at = MatchRef {
        node: host.cluster.node_id(),
        id: handle.id(),
    };
    let token = host
        .cluster
        .reserve(at, PlayerInfo::default())
        .await
        .expect("a seat reserved");
    (handle, token)
}

/// Whether the match's events (see [`Beacon`]) include a leave for `reason`.
async fn left_for(handle: &MatchHandle<Beacon>, reason: &str) -> bool {
    let state = handle.state().await.unwrap_or_default();
    state["events"].as_array().is_some_and(|events| {
        events.iter().any(|e| {
            e.as_str()
                .is_some_and(|e| e.ends_with(&format!(" {reason}")))
        })
    })
}

/// Until the match's only seat has lapsed: away (the socket is not there), then timed out
/// after the reconnect window, with no player left.
async fn seat_lapses(handle: &MatchHandle<Beacon>) {
    settled_async(|| async {
        left_for(handle, "Disconnected").await
            && left_for(handle, "TimedOut").await
            && handle.metrics().await.is_some_and(|m| m.players == 0)
    })
    .await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_remote_join_given_up_before_its_answer_leaves_no_connected_seat_on_the_host() {
    let redis = Redis::start();
    let host = node(&redis, 2).await;
    let (port, _cluster) = requester(&redis, Duration::from_secs(5)).await;
    let (handle, token) = beacon_seat(&host).await;

    // The socket's node asks the host to seat it, then stops waiting at once (the answer
    // cannot have come): the host seats it, hears that it is not there, and lets the seat
    // lapse, while the socket stays connected.
    let (mut client, _) = WsClient::connect(port).await;
    client
        .send_text(&format!(r#"421["join-once","{}"]"#, token.0))
        .await;
    let reply = within("join-once answered", ack_of(&mut client, 1)).await;
    assert_eq!(
        reply,
        json!({"pending": true}),
        "given up before the answer"
    );
    seat_lapses(&handle).await;
    let counters: HashMap<_, _> = host.cluster.counters().into_iter().collect();
    assert_eq!(counters["malformed"], 0);
    handle.stop().await;
}

#[actix_rt::test]
#[cfg_attr(
    tickwire_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn a_remote_join_that_times_out_leaves_no_connected_seat_on_the_host() {
    let redis = Redis::start();
    let host = node(&redis, 2).await;
    // An answer rarely comes within 1 ms: the join mostly times out while the host seats it.
    let (port, _cluster) = requester(&redis, Duration::from_millis(1)).await;
    let (handle, token) = beacon_seat(&host).await;
    let (mut client, _) = WsClient::connect(port).await;
    client
        .send_text(&format!(r#"421["join","{}"]"#, token.0))
        .await;
    let reply = within("join answered", ack_of(&mut client, 1)).await;
    assert!(
        reply["player"].is_u64() || reply["error"].is_string(),
        "{reply}"
    );
    // Seated or not, once the socket has gone the host's seat lapses after its window.
    client.close().await;
    seat_lapses(&handle).await;
    handle.stop().await;
}
