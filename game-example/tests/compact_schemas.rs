//! The browser's compact-codec payload types (`web/codecs.js`) against Rust's: every event
//! payload and ack is encoded with postcard here, decoded and re-encoded by the JS schema
//! in Node, and must match byte for byte. A drift (a field added, reordered, or retyped on
//! one side) fails here rather than as garbage in the browser.
//!
//! The page's delta application (`web/delta.js`) is checked here too: for deltas of real
//! play (bots) and a made-up one, `applyDelta(base, delta)` must give Rust's snapshot.
//!
//! Needs `node` (`.ci/setup` installs it): without it the build script marks the test ignored,
//! unless `CI` is set, in which case it runs and fails saying what to install.
//! `protocol/js/tickwire-compact.js` is part of the repository: without it the test fails.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use game_example::game::delta::diff;
use game_example::game::state::{
    Arena, Input, Kill, PlayerView, ProjectileView, RosterEntry, Snapshot, Tuning,
};
use game_example::match_glue::{ArenaMatch, MatchSettings};
use game_example::wire::{
    DeltaMsg, JoinReply, JoinRequest, Joined, MatchSummary, Matched, QueueError, QueueRequest,
    ScoreLine, SnapshotMsg, SpectateRequest,
};
use serde::Serialize;
use serde_json::{json, Value};

fn case(event: &str, side: &str, value: &impl Serialize) -> Value {
    let bytes = postcard::to_allocvec(value).expect("postcard");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "event": event,
        "side": side,
        "value": serde_json::to_value(value).expect("json"),
        "hex": hex,
    })
}

fn snapshot(roster: bool) -> SnapshotMsg {
    SnapshotMsg {
        tick: 123_456,
        acks: vec![(1, 77), (2, 300)],
        state: Snapshot {
            phase: 1,
            time_left: 42.5,
            players: vec![
                PlayerView {
                    id: 1,
                    x: 120.5,
                    y: 880.25,
                    angle: -1.5,
                    hp: 75,
                    score: 300,
                    kills: 2,
                    deaths: 1,
                    alive: true,
                },
                PlayerView {
                    id: 1000,
                    x: 0.0,
                    y: 1.0,
                    angle: 3.0,
                    hp: 0,
                    score: 0,
                    kills: 0,
                    deaths: 4,
                    alive: false,
                },
            ],
            projectiles: vec![ProjectileView {
                id: 9,
                x: 1.5,
                y: 2.5,
            }],
            kills: vec![Kill {
                killer: 1,
                victim: 1000,
            }],
            roster: roster.then(|| {
                vec![RosterEntry {
                    id: 1,
                    name: "Zoë".into(),
                    bot: false,
                }]
            }),
        },
    }
}

/// A delta from `snapshot(false)`: a player moved and was hit, one left, one joined; a
/// projectile gone, one moved, one new; the roster sent.
fn delta() -> DeltaMsg {
    let base = snapshot(false);
    let mut current = snapshot(true).state;
    current.players[0].x += 3.5;
    current.players[0].hp = 50;
    current.players.remove(1);
    current.players.push(PlayerView {
        id: 3,
        x: 10.0,
        y: 20.0,
        angle: 0.25,
        hp: 100,
        score: 0,
        kills: 0,
        deaths: 0,
        alive: true,
    });
    current.projectiles[0].x += 25.0;
    current.projectiles.push(ProjectileView {
        id: 11,
        x: 7.0,
        y: 8.0,
    });
    current.kills.clear();
    DeltaMsg {
        tick: base.tick + 3,
        base: base.tick,
        acks: vec![(1, 80)],
        delta: diff(&base.state, &current),
    }
}

/// A check of `web/delta.js`: `applyDelta(base, delta)` must be `current`.
fn applies(base: &Snapshot, current: &Snapshot) -> Value {
    json!({
        "event": "applyDelta",
        "side": "apply",
        "value": {"base": base, "delta": diff(base, current), "current": current},
        "hex": "",
    })
}

/// Pairs of snapshots of real play: 4 bots for 4 s, bases 1 to 3 ticks back.
fn played_pairs() -> Vec<Value> {
    let mut game = ArenaMatch::new(&MatchSettings::default(), 0, 4, 11);
    let dt = std::time::Duration::from_millis(33);
    let snapshots: Vec<Snapshot> = (0..120).map(|_| game.advance(dt).0).collect();
    (3..snapshots.len())
        .step_by(9)
        .map(|i| applies(&snapshots[i - 1 - i % 3], &snapshots[i]))
        .collect()
}

#[test]
#[cfg_attr(
    game_example_missing_node,
    ignore = "needs node on PATH: run .ci/setup"
)]
fn browser_payload_types_match_rust() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let module = root.join("../protocol/js/tickwire-compact.js");
    assert!(
        module.is_file(),
        "{} is missing (it is part of the repository)",
        module.display()
    );
    let joined = Joined {
        player: 2,
        // A cluster's match id: the node (16 hex digits), then the match's id there.
        match_id: "3f2a09c1d4e5b677-9007199254".into(),
        spectator: false,
        tick_rate: 30,
        arena: Arena::standard(),
        tuning: Tuning::default(),
    };
    let mut cases = vec![
        case("queue", "payload", &QueueRequest { name: "Ada".into() }),
        case(
            "join-match",
            "payload",
            &JoinRequest {
                token: "abc".into(),
            },
        ),
        case(
            "join-match",
            "ack",
            &JoinReply {
                error: None,
                joined: Some(joined),
            },
        ),
        case("join-match", "ack", &JoinReply::refused("match is over")),
        case(
            "spectate",
            "payload",
            &SpectateRequest {
                match_id: "300".into(),
            },
        ),
        case(
            "spectate",
            "payload",
            &SpectateRequest {
                match_id: "3f2a09c1d4e5b677-300".into(),
            },
        ),
        case(
            "input",
            "payload",
            &(
                4_000_000_000u32,
                Input {
                    dx: -1,
                    dy: 1,
                    aim: 0.5,
                    fire: true,
                    ms: 16,
                },
            ),
        ),
        case(
            "input",
            "payload",
            &(
                7u32,
                Input {
                    dx: 0,
                    dy: -1,
                    aim: -2.5,
                    fire: false,
                    ms: 50,
                },
                // The acknowledged tick, beyond 32 bits.
                9_007_199_254u64,
            ),
        ),
        case("leave", "ack", &true),
        case(
            "matches",
            "ack",
            &vec![MatchSummary {
                id: "3".into(),
                phase: 2,
                time_left: 1.5,
                players: vec![ScoreLine {
                    id: 1,
                    name: "Ada".into(),
                    score: 4,
                    bot: true,
                }],
                spectators: 1,
            }],
        ),
        case(
            "matches",
            "ack",
            &vec![
                MatchSummary {
                    id: "00000000000000ff-12".into(),
                    phase: 0,
                    time_left: 3.0,
                    players: vec![],
                    spectators: 0,
                },
                MatchSummary {
                    id: "3f2a09c1d4e5b677-4".into(),
                    phase: 1,
                    time_left: 60.25,
                    players: vec![ScoreLine {
                        id: 2,
                        name: "Zoë".into(),
                        score: 0,
                        bot: false,
                    }],
                    spectators: 0,
                },
            ],
        ),
        case("rtt", "payload", &70_000u32),
        case("rtt", "ack", &70_000u32),
        case(
            "matched",
            "payload",
            &Matched {
                token: "tok".into(),
                match_id: "77".into(),
                bots: 2,
            },
        ),
        case(
            "matched",
            "payload",
            &Matched {
                token: "3f2a09c1d4e5b677-77.secret".into(),
                match_id: "3f2a09c1d4e5b677-77".into(),
                bots: 0,
            },
        ),
        case(
            "queue-error",
            "payload",
            &QueueError {
                message: "full".into(),
            },
        ),
        case("state", "payload", &snapshot(true)),
        case("state", "payload", &snapshot(false)),
        case("state-delta", "payload", &delta()),
        case(
            "state-delta",
            "payload",
            &DeltaMsg {
                tick: 2,
                base: 1,
                acks: vec![],
                delta: diff(&snapshot(false).state, &snapshot(false).state),
            },
        ),
        case("match-ended", "payload", &"finished"),
        applies(&snapshot(false).state, &{
            let d = delta();
            game_example::game::delta::apply(&snapshot(false).state, &d.delta)
        }),
    ];
    cases.extend(played_pairs());
    let count = cases.len();
    let mut child = Command::new("node")
        .arg(root.join("tests/compact/check_schemas.mjs"))
        .arg(module)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup (Node.js)"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(Value::Array(cases).to_string().as_bytes())
        .expect("write cases");
    let output = child.wait_with_output().expect("node exits");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "web/codecs.js disagrees with Rust (see above)"
    );
    // Every case was checked, each one reported on a line of its own.
    let checked = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(checked, count, "cases checked by check_schemas.mjs");
}
