//! Matches resume from the last acknowledged tick. Clients acknowledge the newest tick they
//! applied with their inputs (`[seq, input, tick]`); the match sends each player the delta
//! from that tick (`state-delta`, with its base) instead of the full snapshot (`state`).
//! A player who drops and rejoins with its token gets the newest full snapshot at once
//! (before its join is answered), then never an older tick, and full snapshots until it
//! acknowledges a tick of its new connection. Duplicate, old, future, huge and mistyped
//! acknowledgements are ignored and the seat plays on. Players acknowledging the same tick
//! get the same delta bytes; one whose tick is too old gets the full snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{parse_sio, serve, within, Msg, WsClient};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tickwire::game::{Deltas, SnapshotDelta};
use tickwire::{
    Data, LeaveReason, Match, MatchConfig, MatchContext, MatchHandle, MatchRoom, PlayerId,
    PlayerInfo, SeatToken, SocketIo,
};

/// Each player walks along a line; the clock moves every tick, so every tick differs.
struct Drift {
    pos: BTreeMap<PlayerId, i64>,
    clock: u64,
    events: Vec<String>,
    history: usize,
}

#[derive(Deserialize)]
struct Step {
    dx: i64,
}

#[derive(Serialize)]
struct Board {
    clock: u64,
    pos: Vec<(PlayerId, i64)>,
}

/// The clock, and the players whose position changed.
#[derive(Serialize)]
struct Moved {
    clock: u64,
    moved: Vec<(PlayerId, i64)>,
}

impl Match for Drift {
    type Input = Step;
    type Snapshot = Board;

    fn on_join(&mut self, _: &mut MatchContext, player: PlayerId, _: &PlayerInfo) {
        self.pos.insert(player, 0);
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

    fn tick(&mut self, _: &mut MatchContext, _: Duration) -> Board {
        self.clock += 1;
        Board {
            clock: self.clock,
            pos: self.pos.iter().map(|(p, x)| (*p, *x)).collect(),
        }
    }

    fn deltas(&self) -> Option<Deltas> {
        Some(Deltas {
            history: self.history,
            ..Deltas::default()
        })
    }

    fn delta(&self, base: &Board, current: &Board) -> Option<SnapshotDelta> {
        let before: HashMap<_, _> = base.pos.iter().copied().collect();
        let moved = current
            .pos
            .iter()
            .filter(|(p, x)| before.get(p) != Some(x))
            .copied()
            .collect();
        Some(SnapshotDelta::new(Moved {
            clock: current.clock,
            moved,
        }))
    }

    fn state(&self) -> Value {
        json!({ "events": self.events })
    }
}

/// A match of `Drift` keeping `history` delta bases, ticking at 10 Hz (so that a snapshot
/// arriving right with a join's answer is the resumed one, not a tick that happened to
/// fall in between), and a server whose `join-match`(token) seats the socket and answers
/// `{player}` or `{error}`.
fn server(history: usize) -> (SocketIo, u16, MatchHandle<Drift>) {
    let io = SocketIo::builder().build();
    let config = MatchConfig {
        tick_rate: 10,
        reconnect_window: Duration::from_secs(10),
        empty_timeout: Duration::from_secs(30),
        ..MatchConfig::default()
    };
    let game = Drift {
        pos: BTreeMap::new(),
        clock: 0,
        events: Vec::new(),
        history,
    };
    let handle = MatchRoom::spawn(&io, config, game);
    let seated = Arc::new(handle.clone());
    io.ns("/", move |socket| {
        let handle = seated.clone();
        socket.on(
            "join-match",
            move |socket, Data(token): Data<String>, ack| {
                let handle = handle.clone();
                async move {
                    let reply = match handle.join(&SeatToken(token), &socket).await {
                        Ok(player) => json!({ "player": player }),
                        Err(e) => json!({ "error": e.to_string() }),
                    };
                    ack.send(&reply).ok();
                }
            },
        );
    });
    let port = serve(&io);
    (io, port, handle)
}

/// What a client receives from the match.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    /// A full snapshot: its tick, input acks and positions.
    Full {
        tick: u64,
        acks: HashMap<u32, u32>,
        pos: HashMap<u32, i64>,
    },
    /// A delta from `base`, and its frame as sent.
    Delta {
        tick: u64,
        base: u64,
        acks: HashMap<u32, u32>,
        frame: String,
    },
    /// The answer of the ack `id`.
    Answer(Value),
}

impl Got {
    fn tick(&self) -> Option<u64> {
        match self {
            Got::Full { tick, .. } | Got::Delta { tick, .. } => Some(*tick),
            Got::Answer(_) => None,
        }
    }

    fn acks(&self) -> Option<&HashMap<u32, u32>> {
        match self {
            Got::Full { acks, .. } | Got::Delta { acks, .. } => Some(acks),
            Got::Answer(_) => None,
        }
    }
}

fn acks_of(env: &Value) -> HashMap<u32, u32> {
    let acks: Vec<(u32, u32)> = serde_json::from_value(env["acks"].clone()).expect("acks");
    acks.into_iter().collect()
}

/// The next snapshot, delta or answer to ack `answer` (other frames are skipped).
async fn next(client: &mut WsClient, answer: u64) -> Got {
    let ack = format!("43{answer}[");
    let frame = client
        .wait_for(|m| {
            m.text_starts_with(r#"42["state","#)
                || m.text_starts_with(r#"42["state-delta","#)
                || m.text_starts_with(&ack)
        })
        .await;
    let Msg::Text(text) = frame else {
        unreachable!()
    };
    let data = parse_sio(&text).data.expect("a payload");
    if text.starts_with(&ack) {
        return Got::Answer(data[0].clone());
    }
    let env = &data[1];
    let tick = env["tick"].as_u64().expect("tick");
    if data[0] == "state" {
        let pos: Vec<(u32, i64)> =
            serde_json::from_value(env["state"]["pos"].clone()).expect("positions");
        Got::Full {
            tick,
            acks: acks_of(env),
            pos: pos.into_iter().collect(),
        }
    } else {
        Got::Delta {
            tick,
            base: env["base"].as_u64().expect("base"),
            acks: acks_of(env),
            frame: text,
        }
    }
}

/// Connect and take the seat of `token` (ack id 1); the player.
async fn seated(port: u16, token: &SeatToken) -> (WsClient, u32) {
    let (mut client, _) = WsClient::connect(port).await;
    client
        .send_text(&format!(r#"421["join-match","{}"]"#, token.0))
        .await;
    loop {
        if let Got::Answer(reply) = within("seated", next(&mut client, 1)).await {
            let player = reply["player"].as_u64();
            return (client, player.unwrap_or_else(|| panic!("{reply}")) as u32);
        }
    }
}

/// Send input `seq` (one step) acknowledging `tick` (any JSON).
async fn step(client: &mut WsClient, seq: u32, tick: &str) {
    client
        .send_text(&format!(r#"42["input",[{seq},{{"dx":1}},{tick}]]"#))
        .await;
}

/// Wait until the match has seen `player` drop.
async fn dropped(handle: &MatchHandle<Drift>, player: u32) {
    within("the drop to reach the match", async {
        loop {
            let state = handle.state().await.expect("state");
            let events: Vec<String> = serde_json::from_value(state["events"].clone()).unwrap();
            if events.contains(&format!("leave {player} Disconnected")) {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[actix_rt::test]
async fn a_rejoining_player_gets_the_newest_full_snapshot_at_once_and_never_an_older_tick() {
    let (_io, port, handle) = server(16);
    let token = handle.reserve(PlayerInfo::default()).await.expect("a seat");
    let (mut first, player) = seated(port, &token).await;

    // The player acknowledges each tick it applies with its next input: the match answers
    // with deltas from those ticks. Ticks only increase.
    let (mut last, mut seq, mut deltas) = (0, 0, 0);
    while deltas < 3 {
        let got = within("a snapshot", next(&mut first, 1)).await;
        let tick = got.tick().expect("a snapshot");
        assert!(
            tick > last || last == 0,
            "ticks increase: {last} then {tick}"
        );
        last = tick;
        if let Got::Delta { base, .. } = got {
            assert!(base < tick, "a delta from a tick sent before: {base}");
            deltas += 1;
        }
        seq += 1;
        step(&mut first, seq, &tick.to_string()).await;
    }

    // It drops, and comes back on a new connection with its token.
    first.close().await;
    dropped(&handle, player).await;
    let (mut back, _) = WsClient::connect(port).await;
    back.send_text(&format!(r#"429["join-match","{}"]"#, token.0))
        .await;
    // At once: a full snapshot of a tick at least as new as the last one it had, before the
    // join is even answered.
    let resumed = within("the resumed snapshot", next(&mut back, 9)).await;
    let Got::Full {
        tick: from, pos, ..
    } = &resumed
    else {
        panic!("a full snapshot first, before the answer: {resumed:?}")
    };
    assert!(*from >= last, "resumed from {from}, had {last}");
    assert!(pos.contains_key(&player), "its seat is kept: {pos:?}");
    let mut answered = false;
    let mut newest = *from;
    // Then every tick from there on, never an older one; all full, since the new connection
    // acknowledged nothing yet.
    let mut fulls = 0;
    while !answered || fulls < 4 {
        let got = within("the ticks after the rejoin", next(&mut back, 9)).await;
        match got {
            Got::Answer(reply) => {
                assert_eq!(reply["player"], json!(player), "the same seat");
                answered = true;
            }
            Got::Full { tick, .. } => {
                assert!(tick > newest, "no older tick: {newest} then {tick}");
                newest = tick;
                fulls += 1;
            }
            Got::Delta { .. } => panic!("a delta before the new connection acknowledged: {got:?}"),
        }
    }
    // Once it acknowledges a tick of its new connection, deltas resume from there.
    seq += 1;
    step(&mut back, seq, &newest.to_string()).await;
    within("deltas again", async {
        loop {
            let got = next(&mut back, 9).await;
            let tick = got.tick().expect("a snapshot");
            assert!(tick > newest, "no older tick: {newest} then {tick}");
            newest = tick;
            if let Got::Delta { base, .. } = got {
                assert!(base >= *from, "a base of the new connection: {base}");
                return;
            }
        }
    })
    .await;
    handle.stop().await;
}

#[actix_rt::test]
async fn duplicate_old_future_and_mistyped_acknowledgements_are_ignored_and_the_seat_plays_on() {
    let (_io, port, handle) = server(64);
    let token = handle.reserve(PlayerInfo::default()).await.expect("a seat");
    let (mut client, player) = seated(port, &token).await;
    let acked = within("a snapshot", next(&mut client, 1))
        .await
        .tick()
        .expect("a snapshot");
    step(&mut client, 1, &acked.to_string()).await;
    let base_of = |got: &Got| match got {
        Got::Delta { base, .. } => Some(*base),
        _ => None,
    };
    within("a delta from the acknowledged tick", async {
        while base_of(&next(&mut client, 1).await) != Some(acked) {}
    })
    .await;

    // A duplicate, an older tick, ticks never sent (a future one, the largest u64, one too
    // large for any integer), and values that are no tick at all: each with an input, which
    // counts. An input of the wrong type is skipped with its acknowledgement.
    let bogus = [
        acked.to_string(),
        "0".into(),
        (acked + 100_000).to_string(),
        u64::MAX.to_string(),
        "99999999999999999999999".into(),
        r#""7""#.into(),
        "-1".into(),
        "1.5".into(),
        "null".into(),
        r#"{"tick":1}"#.into(),
    ];
    for (i, tick) in bogus.iter().enumerate() {
        step(&mut client, 2 + i as u32, tick).await;
    }
    let last_seq = 1 + bogus.len() as u32;
    client
        .send_text(&format!(
            r#"42["input",[{},"no step",{acked}]]"#,
            last_seq + 1
        ))
        .await;
    client.send_text(r#"42["input","garbage"]"#).await;

    // Every input counted, and the deltas stay based on the one real acknowledgement.
    let got = within("the inputs applied", async {
        loop {
            let got = next(&mut client, 1).await;
            if got.acks().and_then(|a| a.get(&player)) == Some(&last_seq) {
                return got;
            }
        }
    })
    .await;
    assert_eq!(base_of(&got), Some(acked), "{got:?}");
    for _ in 0..3 {
        let got = within("a snapshot", next(&mut client, 1)).await;
        assert_eq!(
            base_of(&got),
            Some(acked),
            "bogus acknowledgements ignored: {got:?}"
        );
    }

    // A real, newer acknowledgement still counts (a huge one did not block it), and the
    // position is every step taken.
    let newer = got.tick().expect("a snapshot");
    step(&mut client, last_seq + 2, &newer.to_string()).await;
    within("deltas from the newer tick", async {
        while base_of(&next(&mut client, 1).await) != Some(newer) {}
    })
    .await;
    let state = handle.state().await.expect("state");
    assert_eq!(state["events"], json!([]), "the seat never dropped");
    client.close().await;
    dropped(&handle, player).await;
    let (mut back, _) = seated(port, &token).await;
    let after = within("a snapshot after the rejoin", next(&mut back, 1)).await;
    let Got::Full { pos, .. } = after else {
        panic!("a full snapshot: {after:?}")
    };
    assert_eq!(
        pos[&player],
        i64::from(last_seq) + 1,
        "each step counted once"
    );
    handle.stop().await;
}

#[actix_rt::test]
async fn players_acknowledging_one_tick_share_its_delta_bytes_and_a_too_old_one_gets_full_snapshots(
) {
    // Four bases kept: an acknowledgement six ticks old is too old.
    let (_io, port, handle) = server(4);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let token = handle.reserve(PlayerInfo::default()).await.expect("a seat");
        clients.push(seated(port, &token).await);
    }
    let old = within("a snapshot", next(&mut clients[2].0, 1))
        .await
        .tick()
        .expect("a snapshot");
    let mut shared = old;
    while shared < old + 6 {
        shared = within("ticks", next(&mut clients[0].0, 1))
            .await
            .tick()
            .expect("a snapshot");
    }
    // Two players acknowledge the same recent tick; the third one an old one.
    step(&mut clients[0].0, 1, &shared.to_string()).await;
    step(&mut clients[1].0, 1, &shared.to_string()).await;
    step(&mut clients[2].0, 1, &old.to_string()).await;

    // The deltas from the shared tick: the same bytes for both, tick for tick.
    let mut frames: Vec<BTreeMap<u64, String>> = vec![BTreeMap::new(), BTreeMap::new()];
    for (k, seen) in frames.iter_mut().enumerate() {
        let client = &mut clients[k].0;
        within("deltas from the shared tick", async {
            while seen.len() < 2 {
                if let Got::Delta {
                    tick, base, frame, ..
                } = next(client, 1).await
                {
                    assert_eq!(base, shared);
                    seen.insert(tick, frame);
                }
            }
        })
        .await;
    }
    let common: Vec<_> = frames[0]
        .iter()
        .filter_map(|(tick, frame)| frames[1].get(tick).map(|other| (tick, frame, other)))
        .collect();
    assert!(!common.is_empty(), "ticks both saw: {frames:?}");
    for (tick, frame, other) in common {
        assert_eq!(frame, other, "tick {tick}");
    }

    // The old acknowledgement's base is gone: from the tick that applied its input on, the
    // third player gets full snapshots.
    let third = clients[2].1;
    let mut fulls = 0;
    within("full snapshots for the too old base", async {
        while fulls < 3 {
            let got = next(&mut clients[2].0, 1).await;
            if fulls > 0 || got.acks().and_then(|a| a.get(&third)) == Some(&1) {
                assert!(matches!(got, Got::Full { .. }), "{got:?}");
                fulls += 1;
            }
        }
    })
    .await;
    handle.stop().await;
}
