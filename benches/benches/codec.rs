//! Engine.IO / Socket.IO encode and decode (tickwire-protocol), and the JSON codec against
//! the compact codec (postcard payloads) on a game snapshot.
//!
//! `cargo bench -p tickwire-benches --bench codec`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tickwire_protocol::compact::{self, CompactPacket, EventName, Limits};
use tickwire_protocol::engineio;
use tickwire_protocol::socketio::{self, DecodeConfig, Packet};

/// One player's part of a snapshot: what a top-down shooter sends each tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlayerState {
    id: u32,
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    angle: f32,
    hp: u8,
    score: u32,
    last_seq: u32,
}

/// A 5-player snapshot with the tick number and a few projectiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    tick: u64,
    players: Vec<PlayerState>,
    bullets: Vec<(u32, f32, f32)>,
}

fn snapshot() -> Snapshot {
    Snapshot {
        tick: 123_456,
        players: (0..5)
            .map(|i| PlayerState {
                id: 1000 + i,
                x: 120.5 + i as f32 * 33.25,
                y: 88.75 - i as f32 * 12.5,
                vx: 1.5,
                vy: -0.25,
                angle: 0.785 * i as f32,
                hp: 100 - i as u8 * 7,
                score: 42 * i,
                last_seq: 9000 + i,
            })
            .collect(),
        bullets: (0..4)
            .map(|i| (i, 10.0 + i as f32, 20.0 - i as f32))
            .collect(),
    }
}

/// The contract's `state` payload (about 270 bytes on the wire).
fn contract_state() -> Value {
    json!({
        "t": 1_712_345_678_901_234u64,
        "tick": 4242,
        "room": "room-3",
        "filler": "x".repeat(200),
    })
}

/// What the runtime's JSON fast path writes: `42["<event>",<data>]` straight into a buffer.
fn json_frame<T: Serialize>(event: &str, data: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"42[");
    serde_json::to_writer(&mut out, event).expect("string");
    out.push(b',');
    serde_json::to_writer(&mut out, data).expect("serializable");
    out.push(b']');
    out
}

fn compact_frame<T: Serialize>(event: impl Into<EventName>, data: &T) -> Bytes {
    let payload = compact::to_payload(data).expect("postcard");
    compact::encode(&CompactPacket::event("/", event, payload, None)).expect("valid packet")
}

fn engineio_socketio(c: &mut Criterion) {
    let state = contract_state();
    let sio_text = socketio::encode(&Packet::event("/", "state", [state.clone()], vec![], None));
    let eio_frame = engineio::Packet::message_frame(&sio_text);
    let ping_text = r#"42["ping",{"a":7,"b":1234,"pad":"0123456789abcdef"}]"#;
    let config = DecodeConfig::default();

    let mut g = c.benchmark_group("protocol");
    g.throughput(Throughput::Bytes(eio_frame.len() as u64));
    g.bench_function("engineio/decode_message", |b| {
        b.iter(|| engineio::Packet::decode_text(black_box(&eio_frame)).expect("valid"))
    });
    g.bench_function("engineio/message_frame", |b| {
        b.iter(|| engineio::Packet::message_frame(black_box(&sio_text)))
    });
    g.bench_function("socketio/decode_event", |b| {
        b.iter(|| socketio::decode_text(black_box(&sio_text[..]), &config).expect("valid"))
    });
    let packet = socketio::decode_text(&sio_text, &config).expect("valid");
    g.bench_function("socketio/encode_event", |b| {
        b.iter(|| socketio::encode(black_box(&packet)))
    });
    g.bench_function("socketio/decode_ping_with_ack_id", |b| {
        b.iter(|| socketio::decode_text(black_box(&ping_text[1..]), &config).expect("valid"))
    });
    g.bench_function("socketio/encode_ack", |b| {
        b.iter_batched(
            || {
                let p = socketio::decode_text(&ping_text[1..], &config).expect("valid");
                p.into_args().0
            },
            |args| socketio::encode(&Packet::ack("/", 1234, args, vec![])),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("state/json_fast_path_encode", |b| {
        b.iter(|| json_frame("state", black_box(&state)))
    });
    g.finish();
}

fn json_vs_compact(c: &mut Criterion) {
    let snap = snapshot();
    let json = json_frame("state", &snap);
    let compact_named = compact_frame("state", &snap);
    let compact_id = compact_frame(0u32, &snap);
    eprintln!(
        "5-player snapshot frame: JSON {} bytes, compact {} bytes (named event), {} bytes (event id)",
        json.len() + 1,
        compact_named.len(),
        compact_id.len()
    );
    let config = DecodeConfig::default();
    let limits = Limits::default();

    let mut g = c.benchmark_group("snapshot");
    g.bench_function("encode/json", |b| {
        b.iter(|| json_frame("state", black_box(&snap)))
    });
    g.bench_function("encode/json_via_value", |b| {
        // The generic path: to a `Value`, then the packet encoder.
        b.iter(|| {
            let v = serde_json::to_value(black_box(&snap)).expect("serializable");
            socketio::encode(&Packet::event("/", "state", [v], vec![], None))
        })
    });
    g.bench_function("encode/compact", |b| {
        b.iter(|| compact_frame("state", black_box(&snap)))
    });
    g.bench_function("encode/compact_event_id", |b| {
        b.iter(|| compact_frame(0u32, black_box(&snap)))
    });
    let json_text = std::str::from_utf8(&json).expect("utf-8");
    g.bench_function("decode/json", |b| {
        b.iter(|| {
            // Engine.IO `4` already stripped: `2["state",{...}]`.
            let p = socketio::decode_text(black_box(&json_text[1..]), &config).expect("valid");
            let (mut args, _) = p.into_args();
            let s: Snapshot = serde_json::from_value(args.swap_remove(0)).expect("snapshot");
            s
        })
    });
    g.bench_function("decode/compact", |b| {
        b.iter(|| {
            let p = compact::decode(black_box(compact_named.clone()), &limits).expect("valid");
            let s: Snapshot = compact::from_payload(&p.payload).expect("snapshot");
            s
        })
    });
    g.finish();
}

/// The arena game's own messages: its snapshot with 8 players (after a few ticks of play, so
/// projectiles are in flight) and one input, each as the JSON codec and as the compact codec
/// send them.
fn game_messages(c: &mut Criterion) {
    use game_example::game::rules::{add_player, step};
    use game_example::game::state::{
        Arena, GameState, Input, RoundConfig, Snapshot as GameSnapshot, Tuning,
    };

    let round = RoundConfig {
        countdown_secs: 0.0,
        ..RoundConfig::default()
    };
    let mut state = GameState::new(Arena::standard(), Tuning::default(), round);
    for id in 1..=8 {
        add_player(&mut state, id, &format!("player-{id}"), false);
    }
    for tick in 0..30u32 {
        let inputs: Vec<(u32, Input)> = (1..=8)
            .map(|id| {
                let input = Input {
                    dx: if (tick + id) % 3 == 0 { 1 } else { -1 },
                    dy: if id % 2 == 0 { 1 } else { 0 },
                    aim: id as f32 * 0.7,
                    fire: tick % 4 == 0,
                    ms: 33,
                };
                (id, input)
            })
            .collect();
        step(&mut state, &inputs, 1.0 / 30.0);
    }
    let snapshot = state.snapshot(false);
    let input = (
        1234u32,
        Input {
            dx: 1,
            dy: -1,
            aim: 1.25,
            fire: true,
            ms: 33,
        },
    );
    let snap_json = json_frame("state", &snapshot);
    let snap_compact = compact_frame("state", &snapshot);
    let input_json = json_frame("input", &input);
    let input_compact = compact_frame("input", &input);
    println!(
        "game snapshot, 8 players, {} projectiles: JSON {} bytes, compact {} bytes; input: JSON {} bytes, compact {} bytes",
        snapshot.projectiles.len(),
        snap_json.len(),
        snap_compact.len(),
        input_json.len(),
        input_compact.len()
    );

    let mut g = c.benchmark_group("game");
    g.bench_function("snapshot/encode/json", |b| {
        b.iter(|| json_frame("state", black_box(&snapshot)))
    });
    g.bench_function("snapshot/encode/compact", |b| {
        b.iter(|| compact_frame("state", black_box(&snapshot)))
    });
    g.bench_function("snapshot/decode/json", |b| {
        b.iter(|| {
            let text = std::str::from_utf8(&snap_json[1..]).unwrap_or_default();
            let packet = socketio::decode_text(text, &DecodeConfig::default()).unwrap();
            let args = packet.args();
            serde_json::from_value::<GameSnapshot>(args[0].clone()).unwrap()
        })
    });
    g.bench_function("snapshot/decode/compact", |b| {
        b.iter(|| {
            let packet = compact::decode(snap_compact.clone(), &Limits::default()).unwrap();
            compact::from_payload::<GameSnapshot>(&packet.payload).unwrap()
        })
    });
    g.bench_function("input/encode/json", |b| {
        b.iter(|| json_frame("input", black_box(&input)))
    });
    g.bench_function("input/encode/compact", |b| {
        b.iter(|| compact_frame("input", black_box(&input)))
    });
    g.finish();
}

criterion_group!(benches, engineio_socketio, json_vs_compact, game_messages);
criterion_main!(benches);
