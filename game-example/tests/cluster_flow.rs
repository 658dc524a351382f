//! Two game servers in one process, nodes of one game cluster on a real `redis-server`, play
//! as one game: a player queued on each node lands in one match (its id a cluster `MatchRef`),
//! each takes the seat through its own node, and both see each other's inputs acknowledged;
//! either node lists the match, a spectator watches from the node that does not host it, and
//! a dropped player rejoins through the other node. Draining the host (its graceful
//! shutdown) lets a running match finish and sends new matches to the other node.
//!
//! Each test starts its own `redis-server` on a free loopback port and kills it by its PID
//! (`tests/support/redis.rs`); without `redis-server` on PATH the build script marks the
//! tests ignored, unless `CI` is set (then they run and fail). Every wait is on an event or
//! a condition, with a bound.

mod support;

use std::future::Future;
use std::time::Duration;

use game_example::game::state::{Arena, Input, RoundConfig, PHASE_OVER};
use game_example::headless::{play_until_end, queue, take_seat, HeadlessPlayer, MatchOutcome};
use game_example::match_glue::{MatchSettings, SNAPSHOT_EVENT};
use game_example::wire::{JoinReply, MatchSummary, SnapshotMsg, SpectateRequest};
use game_example::{start, RunningServer, ServerOptions};
use support::redis::Redis;
use tickwire::game::cluster::MatchRef;
use tickwire::{Codec, MatchRoom};

/// The bound of each wait.
const WAIT: Duration = Duration::from_secs(20);

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A node of the cluster on `redis`: matches of two, never filled with bots.
fn node_options(redis: &Redis, round: RoundConfig, drain_grace: Duration) -> ServerOptions {
    ServerOptions {
        bind: "127.0.0.1".into(),
        port: 0,
        workers: 2,
        settings: MatchSettings {
            tick_rate: 30,
            match_size: 2,
            // A small open field with the spawns in range, so shots land within the round.
            arena: Arena {
                width: 800.0,
                height: 400.0,
                obstacles: vec![],
                spawns: vec![(250.0, 200.0), (550.0, 200.0)],
            },
            round,
            ..MatchSettings::default()
        },
        fill_after: None,
        redis: Some(redis.url()),
        drain_grace,
        tls: None,
        // One secret for the cluster: a guest token of one node works on every node.
        token_secret: Some(b"the game cluster's token secret, 32+ bytes".to_vec()),
        ..ServerOptions::default()
    }
}

fn base(server: &RunningServer) -> String {
    format!("http://{}", server.addr)
}

fn node_of(server: &RunningServer) -> u64 {
    server
        .lobby
        .cluster()
        .expect("a node of the cluster")
        .node_id()
}

async fn connect(server: &RunningServer, codec: Codec) -> HeadlessPlayer {
    HeadlessPlayer::connect(&base(server), codec)
        .await
        .expect("connects")
}

async fn get(base: &str, path: &str) -> (u16, String) {
    let client = awc::Client::default();
    let mut resp = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = resp.body().await.expect("body");
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn walk(dx: i8, dy: i8) -> Input {
    Input {
        dx,
        dy,
        aim: 0.0,
        fire: false,
        ms: 16,
    }
}

/// Read snapshots until one acknowledges at least `seq` for each `(player, seq)` of `want`
/// (an empty `want`: the next snapshot); that snapshot.
async fn acked(player: &mut HeadlessPlayer, want: &[(u32, u32)]) -> SnapshotMsg {
    loop {
        let (event, payload) = player.next_event().await.expect("still connected");
        if event == "match-ended" {
            let reason: String = payload.deserialize().expect("a reason");
            panic!("the match ended ({reason}) before the inputs were acknowledged");
        }
        if event != SNAPSHOT_EVENT {
            continue;
        }
        let msg: SnapshotMsg = payload.deserialize().expect("a snapshot");
        let seen = |player: u32, seq: u32| msg.acks.iter().any(|&(p, s)| p == player && s >= seq);
        if want.iter().all(|&(p, seq)| seen(p, seq)) {
            return msg;
        }
    }
}

/// Ask `player`'s node for `matches` until it lists `id` with every one of `names` (the
/// cluster's directory is refreshed by each node's heartbeat); that summary.
async fn listed(player: &HeadlessPlayer, id: &str, names: &[&str]) -> MatchSummary {
    loop {
        let list: Vec<MatchSummary> = player
            .call("matches", &(), Duration::from_secs(5))
            .await
            .expect("matches ack");
        if let Some(m) = list.into_iter().find(|m| m.id == id) {
            if names.iter().all(|n| m.players.iter().any(|p| p.name == *n)) {
                return m;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The final scores `(player, points)` a player saw, sorted by player.
fn final_scores(outcome: &MatchOutcome) -> Vec<(u32, u32)> {
    let snapshot = outcome.final_snapshot.clone().expect("saw the scoreboard");
    assert_eq!(snapshot.phase, PHASE_OVER);
    let mut scores: Vec<(u32, u32)> = snapshot.players.iter().map(|p| (p.id, p.score)).collect();
    scores.sort_unstable();
    scores
}

#[actix_web::test]
#[cfg_attr(
    game_example_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn players_on_two_nodes_play_one_match_that_either_node_serves() {
    let redis = Redis::start();
    let round = RoundConfig {
        countdown_secs: 0.0,
        round_secs: 12.0,
        scoreboard_secs: 0.5,
        score_limit: 0,
    };
    let grace = Duration::from_secs(5);
    let servers = [
        start(node_options(&redis, round.clone(), grace))
            .await
            .expect("node A starts"),
        start(node_options(&redis, round, grace))
            .await
            .expect("node B starts"),
    ];
    let nodes = [node_of(&servers[0]), node_of(&servers[1])];
    assert_ne!(nodes[0], nodes[1]);

    // Alice on node A (JSON), Bob on node B (compact): one queue, one match.
    let mut alice = connect(&servers[0], Codec::Json).await;
    let mut bob = connect(&servers[1], Codec::Compact).await;
    let (ma, mb) = futures_util::join!(
        queue(&mut alice, "alice", WAIT),
        queue(&mut bob, "bob", WAIT)
    );
    let (ma, mb) = (ma.expect("alice matched"), mb.expect("bob matched"));
    assert_eq!(ma.match_id, mb.match_id, "one match for both");
    assert_eq!((ma.bots, mb.bots), (0, 0));
    let at: MatchRef = ma.match_id.parse().expect("a cluster match id");
    assert_eq!(
        at.to_string(),
        ma.match_id,
        "the id is the MatchRef, written"
    );
    let host = nodes
        .iter()
        .position(|&n| n == at.node)
        .expect("one of the two nodes hosts it");
    let guest = 1 - host;
    assert_eq!(MatchRoom::count(&servers[host].io), 1, "the host runs it");
    assert_eq!(MatchRoom::count(&servers[guest].io), 0, "one match");

    // Each takes the seat through its own node.
    let ja = take_seat(&alice, &ma.token).await.expect("alice seated");
    let jb = take_seat(&bob, &mb.token).await.expect("bob seated");
    assert_eq!((&ja.match_id, &jb.match_id), (&ma.match_id, &ma.match_id));
    assert_ne!(ja.player, jb.player);
    assert!(!ja.spectator && !jb.spectator);

    // Both send inputs; each sees both players' inputs acknowledged, whichever node it is on.
    for seq in 1..=5 {
        alice.emit("input", &(seq, walk(1, 0))).expect("emit");
        bob.emit("input", &(seq, walk(-1, 0))).expect("emit");
    }
    let both = [(ja.player, 5), (jb.player, 5)];
    let (sa, sb) = futures_util::join!(
        within(
            "alice sees both inputs acknowledged",
            acked(&mut alice, &both)
        ),
        within("bob sees both inputs acknowledged", acked(&mut bob, &both)),
    );
    for snapshot in [&sa, &sb] {
        let mut ids: Vec<u32> = snapshot.state.players.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        let mut want = vec![ja.player, jb.player];
        want.sort_unstable();
        assert_eq!(ids, want, "the two humans, no bot");
    }

    // Either node lists the match, with both players (the summary the host published).
    for (who, player) in [("alice's node", &alice), ("bob's node", &bob)] {
        let summary = within(who, listed(player, &ma.match_id, &["alice", "bob"])).await;
        assert_eq!(summary.players.len(), 2, "{summary:?}");
    }

    // The node that does not host it shows the cluster: both nodes, the match on its host.
    let (status, page) = get(&base(&servers[guest]), "/status").await;
    assert_eq!(status, 200);
    for node in nodes {
        assert!(
            page.contains(&format!("{node:016x}")),
            "node {node:016x}: {page}"
        );
    }
    assert!(
        page.contains(&format!("<tr><td>{}</td><td>{:016x}</td>", at, at.node)),
        "the match and its node: {page}"
    );
    let (status, metrics) = get(&base(&servers[guest]), "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("\ngame_cluster_nodes 2\n"), "{metrics}");
    assert!(metrics.contains("\ngame_cluster_matches 1\n"), "{metrics}");
    let (_, metrics) = get(&base(&servers[host]), "/metrics").await;
    assert!(
        metrics.contains(&format!("tickwire_match_ticks_total{{match=\"{at}\"}}")),
        "the host's tick metrics, by the match's wire id: {metrics}"
    );

    // A spectator on the node that does not host the match watches it from there.
    let mut carol = connect(&servers[guest], Codec::Compact).await;
    let refused: JoinReply = carol
        .call(
            "spectate",
            &SpectateRequest {
                match_id: "00000000000000ff-1".into(),
            },
            Duration::from_secs(10),
        )
        .await
        .expect("spectate ack");
    assert_eq!(refused.error.as_deref(), Some("no such match"));
    let reply: JoinReply = carol
        .call(
            "spectate",
            &SpectateRequest {
                match_id: ma.match_id.clone(),
            },
            Duration::from_secs(10),
        )
        .await
        .expect("spectate ack");
    let jc = reply
        .joined
        .unwrap_or_else(|| panic!("a spectator's seat: {:?}", reply.error));
    assert!(jc.spectator);
    assert_eq!(jc.match_id, ma.match_id);
    let seen = within("the spectator's snapshots", acked(&mut carol, &both)).await;
    assert_eq!(seen.state.players.len(), 2, "players, not the spectator");

    // Alice drops, and comes back through node B with her token: the same seat, and her
    // inputs go on from where they were.
    alice.close().await;
    let mut alice = connect(&servers[1], Codec::Json).await;
    let back = take_seat(&alice, &ma.token)
        .await
        .expect("alice rejoins through the other node");
    assert_eq!(back.player, ja.player, "the same seat");
    assert_eq!(back.match_id, ma.match_id);
    for seq in 6..=8 {
        alice.emit("input", &(seq, walk(0, 1))).expect("emit");
    }
    let rejoined = [(ja.player, 8)];
    within("alice's new inputs", acked(&mut alice, &rejoined)).await;
    within("bob sees them", acked(&mut bob, &rejoined)).await;

    // Everyone plays to the end of the round: the same final score on both nodes.
    let timeout = Duration::from_secs(40);
    let (ra, rb, rc) = futures_util::join!(
        play_until_end(&mut alice, back, 1, timeout),
        play_until_end(&mut bob, jb, 2, timeout),
        play_until_end(&mut carol, jc, 3, timeout),
    );
    let (ra, rb, rc) = (
        ra.expect("alice plays"),
        rb.expect("bob plays"),
        rc.expect("carol watches"),
    );
    for outcome in [&ra, &rb, &rc] {
        assert_eq!(outcome.ended.as_deref(), Some("finished"));
    }
    let scores = final_scores(&ra);
    assert_eq!(scores.len(), 2, "{scores:?}");
    assert_eq!(scores, final_scores(&rb), "both nodes see the same score");
    assert_eq!(scores, final_scores(&rc), "the spectator too");

    // Nothing left to drain: both stop at once.
    let ios = [servers[0].io.clone(), servers[1].io.clone()];
    for server in servers {
        within("a node shuts down", server.shutdown()).await;
    }
    for io in &ios {
        assert_eq!(MatchRoom::count(io), 0);
    }
}

#[actix_web::test]
#[cfg_attr(
    game_example_missing_redis,
    ignore = "needs redis-server on PATH (run .ci/setup)"
)]
async fn draining_the_host_lets_its_match_finish_and_places_new_matches_elsewhere() {
    let redis = Redis::start();
    let round = RoundConfig {
        countdown_secs: 0.0,
        round_secs: 2.0,
        scoreboard_secs: 0.5,
        score_limit: 0,
    };
    // Well over the match's 2.5 s.
    let grace = Duration::from_secs(6);
    let servers = [
        start(node_options(&redis, round.clone(), grace))
            .await
            .expect("node A starts"),
        start(node_options(&redis, round, grace))
            .await
            .expect("node B starts"),
    ];
    let mut alice = connect(&servers[0], Codec::Compact).await;
    let mut bob = connect(&servers[1], Codec::Json).await;
    let (ma, mb) = futures_util::join!(
        queue(&mut alice, "alice", WAIT),
        queue(&mut bob, "bob", WAIT)
    );
    let (ma, mb) = (ma.expect("alice matched"), mb.expect("bob matched"));
    assert_eq!(ma.match_id, mb.match_id);
    let ja = take_seat(&alice, &ma.token).await.expect("alice seated");
    let jb = take_seat(&bob, &mb.token).await.expect("bob seated");
    let at: MatchRef = ma.match_id.parse().expect("a cluster match id");
    let [first, second] = servers;
    let (host, guest) = if node_of(&first) == at.node {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(node_of(&host), at.node);
    // Two more players on the host, to queue once it drains.
    let mut late = [
        connect(&host, Codec::Json).await,
        connect(&host, Codec::Compact).await,
    ];
    // The match runs: both players get snapshots.
    within("alice's first snapshot", acked(&mut alice, &[])).await;
    within("bob's first snapshot", acked(&mut bob, &[])).await;

    // The host stops gracefully (what SIGTERM does): it drains first.
    let guest_cluster = guest.lobby.cluster().expect("a node").clone();
    let (host_node, host_io) = (at.node, host.io.clone());
    let stopping = actix_rt::spawn(host.shutdown());
    within("the other node sees the host draining", async {
        while !guest_cluster
            .nodes()
            .await
            .iter()
            .any(|n| n.node == host_node && n.draining)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let (_, page) = get(&base(&guest), "/status").await;
    assert!(
        page.contains(&format!("<tr><td>{host_node:016x}</td>")) && page.contains("draining</td>"),
        "the status page shows the draining node: {page}"
    );

    // A group queued on the draining node is placed on the other one.
    let [carol, dave] = &mut late;
    let (mc, md) = futures_util::join!(queue(carol, "carol", WAIT), queue(dave, "dave", WAIT));
    let (mc, md) = (mc.expect("carol matched"), md.expect("dave matched"));
    assert_eq!(mc.match_id, md.match_id);
    let late_at: MatchRef = mc.match_id.parse().expect("a cluster match id");
    assert_eq!(
        late_at.node,
        node_of(&guest),
        "no new match on a draining node"
    );

    // The running match is not cut short: it plays to its end, `finished` for both players
    // (not `server shutting down`), whichever node each is on.
    let timeout = Duration::from_secs(30);
    let (ra, rb) = futures_util::join!(
        play_until_end(&mut alice, ja, 1, timeout),
        play_until_end(&mut bob, jb, 2, timeout),
    );
    let (ra, rb) = (ra.expect("alice plays"), rb.expect("bob plays"));
    assert_eq!(ra.ended.as_deref(), Some("finished"));
    assert_eq!(rb.ended.as_deref(), Some("finished"));
    assert_eq!(final_scores(&ra), final_scores(&rb));

    // Then the drain completes: the host's matches are gone, and it left the cluster.
    within("the host shuts down", stopping)
        .await
        .expect("shutdown task");
    assert_eq!(MatchRoom::count(&host_io), 0);
    within("the host leaves the cluster", async {
        while guest_cluster.nodes().await.len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let guest_io = guest.io.clone();
    within("the other node shuts down", guest.shutdown()).await;
    assert_eq!(MatchRoom::count(&guest_io), 0);
}
