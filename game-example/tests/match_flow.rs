//! In-process: the game server on a free port; two headless players (tickwire's Rust client,
//! one on the JSON codec and one on the compact codec) queue, get matched, play a short round
//! and agree on the final score; a spectator watches; the operations endpoints report the
//! match; the page's guest token route works and `/` refuses a socket without a token (the
//! players connect with guest tokens of their own). The players acknowledge ticks and so get delta snapshots, which they apply: the
//! states they make are the spectator's full snapshots of the same ticks. Every wait is on an
//! event, with a safety timeout.
//!
//! One test function on purpose: the runtime spreads matches over the arbiters of the HTTP
//! workers it has seen in this process, so a second server in another `System` of the same
//! test binary could be handed a finished worker's arbiter.

use std::time::Duration;

use game_example::game::state::{Arena, RoundConfig, PHASE_OVER};
use game_example::headless::{play_until_end, queue_and_join, HeadlessPlayer, MatchOutcome};
use game_example::match_glue::MatchSettings;
use game_example::wire::{JoinReply, MatchSummary, SpectateRequest};
use game_example::{start, ServerOptions};
use tickwire::Codec;

const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
const MATCH_TIMEOUT: Duration = Duration::from_secs(30);

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

#[actix_web::test]
async fn two_players_are_matched_play_a_round_and_agree_on_the_score() {
    let server = start(ServerOptions {
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
            round: RoundConfig {
                countdown_secs: 0.0,
                round_secs: 4.0,
                scoreboard_secs: 0.5,
                score_limit: 0,
            },
            ..MatchSettings::default()
        },
        // Never fill with bots: the two clients must meet each other.
        fill_after: None,
        // One node, no Redis.
        redis: None,
        ..ServerOptions::default()
    })
    .await
    .expect("server starts");
    let base = format!("http://{}", server.addr);

    // The page and its scripts are served from the binary.
    let (status, page) = get(&base, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("game.js"));

    // The page gets a guest token; `/` admits no socket without one.
    let mut resp = awc::Client::default()
        .post(format!("{base}/token"))
        .send()
        .await
        .expect("POST /token");
    assert_eq!(resp.status().as_u16(), 200);
    let issued: serde_json::Value = resp.json().await.expect("token JSON");
    let claims = server
        .auth
        .check(issued["token"].as_str().expect("a token"))
        .await
        .expect("a valid guest token");
    assert!(claims.sub.starts_with("guest-"));
    assert_eq!(issued["exp"].as_u64(), Some(claims.exp));
    let refused = tickwire_client::Client::builder(base.clone())
        .reconnect(tickwire_client::Reconnect::disabled())
        .connect()
        .await
        .expect_err("refused without a token");
    assert!(
        matches!(&refused, tickwire_client::Error::ConnectRefused { message, .. } if message == "token missing"),
        "{refused}"
    );
    assert_eq!(get(&base, "/tickwire-client.js").await.0, 200);
    assert_eq!(get(&base, "/tickwire-auth.js").await.0, 200);

    let mut alice = HeadlessPlayer::connect(&base, Codec::Json)
        .await
        .expect("alice connects");
    let mut bob = HeadlessPlayer::connect(&base, Codec::Compact)
        .await
        .expect("bob connects");
    let mut carol = HeadlessPlayer::connect(&base, Codec::Compact)
        .await
        .expect("carol connects");

    // A malformed input is ignored, not fatal.
    alice.emit("input", "not an input").expect("emit");

    let (a, b) = futures_util::join!(
        queue_and_join(&mut alice, "alice", QUEUE_TIMEOUT),
        queue_and_join(&mut bob, "bob", QUEUE_TIMEOUT)
    );
    let (a, b) = (a.expect("alice joins"), b.expect("bob joins"));
    assert_eq!(a.match_id, b.match_id, "both in the same match");
    // On one node a match's id is its id on this server.
    let local_id: u64 = a.match_id.parse().expect("a number on one node");
    assert_ne!(a.player, b.player);
    assert!(!a.spectator && !b.spectator);

    // Carol finds the match in the lobby's list and watches it.
    let list: Vec<MatchSummary> = carol
        .call("matches", &(), Duration::from_secs(5))
        .await
        .expect("matches ack");
    assert!(list.iter().any(|m| m.id == a.match_id), "listed: {list:?}");
    let reply: JoinReply = carol
        .call(
            "spectate",
            &SpectateRequest {
                match_id: a.match_id.clone(),
            },
            Duration::from_secs(5),
        )
        .await
        .expect("spectate ack");
    let c = reply.joined.expect("spectator seat");
    assert!(c.spectator);

    // While the match runs, the operations endpoints see it.
    let (status, metrics) = get(&base, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("tickwire_connections 3"), "{metrics}");
    // Three players with guest tokens; one client refused without a token.
    assert!(
        metrics.contains("tickwire_auth_live_sockets 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tickwire_auth_refused_total{reason=\"missing\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "tickwire_match_ticks_total{{match=\"{}\"}}",
        a.match_id
    )));
    let (status, page) = get(&base, "/status").await;
    assert_eq!(status, 200);
    assert!(page.contains("alice") && page.contains("bob"), "{page}");

    let (ra, rb, rc) = futures_util::join!(
        play_until_end(&mut alice, a.clone(), 1, MATCH_TIMEOUT),
        play_until_end(&mut bob, b.clone(), 2, MATCH_TIMEOUT),
        play_until_end(&mut carol, c, 3, MATCH_TIMEOUT),
    );
    let (ra, rb, rc) = (
        ra.expect("alice plays"),
        rb.expect("bob plays"),
        rc.expect("carol watches"),
    );

    for outcome in [&ra, &rb, &rc] {
        assert_eq!(outcome.ended.as_deref(), Some("finished"));
        assert!(
            outcome.snapshots > 30,
            "too few snapshots: {}",
            outcome.snapshots
        );
    }
    // Inputs were applied and acknowledged in the envelopes.
    for outcome in [&ra, &rb] {
        assert!(outcome.inputs > 0);
        let ack = outcome.last_ack.expect("inputs acknowledged");
        assert!(ack > 0 && ack <= outcome.inputs);
    }
    // The players (JSON and compact) got deltas and applied them to states they had; what
    // they made is what the spectator, who acknowledges nothing, got whole.
    assert_eq!(rc.deltas, 0, "the spectator gets full snapshots");
    for (name, outcome) in [("alice", &ra), ("bob", &rb)] {
        assert!(
            outcome.deltas > outcome.snapshots / 2,
            "{name} applied {} deltas of {} states ({} skipped)",
            outcome.deltas,
            outcome.snapshots,
            outcome.deltas_skipped
        );
        let mut compared = 0;
        for (tick, from_delta, state) in &outcome.recent {
            if let Some((_, _, full)) = rc.recent.iter().find(|(t, _, _)| t == tick) {
                assert_eq!(state, full, "{name}'s state of tick {tick}");
                compared += usize::from(*from_delta);
            }
        }
        assert!(compared > 10, "{name}: {compared} delta states compared");
        eprintln!(
            "{name}: {} deltas of {} states, {} skipped, {compared} compared with the spectator's",
            outcome.deltas, outcome.snapshots, outcome.deltas_skipped
        );
    }
    let scores = |o: &MatchOutcome| {
        let snapshot = o.final_snapshot.clone().expect("saw the scoreboard");
        assert_eq!(snapshot.phase, PHASE_OVER);
        let mut s: Vec<(u32, u32)> = snapshot.players.iter().map(|p| (p.id, p.score)).collect();
        s.sort_unstable();
        s
    };
    let (sa, sb, sc) = (scores(&ra), scores(&rb), scores(&rc));
    assert_eq!(sa.len(), 2, "two players, no bots: {sa:?}");
    assert_eq!(sa, sb, "both players see the same final score");
    assert_eq!(sa, sc, "the spectator sees it too");
    eprintln!("final scores (player, points): {sa:?}");
    assert!(
        sa.iter().map(|(_, s)| s).sum::<u32>() > 0,
        "nobody hit anybody in a 4 s round at close range: {sa:?}"
    );

    // Back to the queue: the match is gone; a new ticket waits for a partner.
    assert_eq!(
        tickwire::MatchRoom::list(&server.io)
            .iter()
            .filter(|(id, _)| *id == local_id)
            .count(),
        0
    );

    let io = server.io.clone();
    server.shutdown().await;
    assert_eq!(tickwire::MatchRoom::count(&io), 0);
}
