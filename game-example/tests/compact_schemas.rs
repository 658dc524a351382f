//! The browser's compact-codec payload types (`web/codecs.js`) against Rust's: every event
//! payload and ack is encoded with postcard here, decoded and re-encoded by the JS schema
//! in Node, and must match byte for byte. A drift (a field added, reordered, or retyped on
//! one side) fails here rather than as garbage in the browser.
//!
//! Needs `node` (`.ci/setup` installs it): without it the build script marks the test ignored,
//! unless `CI` is set, in which case it runs and fails saying what to install.
//! `protocol/js/tickwire-compact.js` is part of the repository: without it the test fails.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use game_example::game::state::{
    Arena, Input, Kill, PlayerView, ProjectileView, RosterEntry, Snapshot, Tuning,
};
use game_example::wire::{
    JoinReply, JoinRequest, Joined, MatchSummary, Matched, QueueError, QueueRequest, ScoreLine,
    SnapshotMsg, SpectateRequest,
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
    let cases = vec![
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
        case("match-ended", "payload", &"finished"),
    ];
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
