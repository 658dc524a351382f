//! What delta snapshots save on the game's own snapshots, measured: bots play whole rounds
//! with the game's rules and glue ([`ArenaMatch`]); at every tick the full snapshot and the
//! delta from a base `lag` ticks back (what a client that acknowledged that tick gets) are
//! framed as the runtime sends them, in both codecs, and their sizes compared.
//!
//! The frames are the websocket messages' payloads (without the websocket header): JSON
//! `42["state",{envelope}]` (Engine.IO message, Socket.IO event), compact the binary frame of
//! the protocol crate's encoder. Envelopes are the runtime's public ones
//! ([`SnapshotEnvelope`], [`DeltaEnvelope`]) with input acknowledgements for every player (as
//! if all were seated humans: the same bytes in both). Deterministic: fixed seeds and a fixed
//! step, no clock. Run with `-- --nocapture` for the table (README's figures come from it):
//!
//! ```text
//! cargo test -p game-example --release --test delta_bytes -- --nocapture
//! ```

use std::time::Duration;

use game_example::game::delta::{apply, diff};
use game_example::game::state::Snapshot;
use game_example::match_glue::{ArenaMatch, MatchSettings, DELTA_EVENT, SNAPSHOT_EVENT};
use serde::Serialize;
use tickwire::game::DeltaEnvelope;
use tickwire::protocol::compact::{encode, to_payload, CompactPacket};
use tickwire::SnapshotEnvelope;

/// One tick's frame sizes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tick {
    json_full: usize,
    json_delta: usize,
    compact_full: usize,
    compact_delta: usize,
}

/// The runtime's JSON event frame: `42[` event `,` data `]`.
fn json_frame(event: &str, data: &impl Serialize) -> usize {
    let event = serde_json::to_string(event).expect("an event name");
    let data = serde_json::to_string(data).expect("JSON");
    format!("42[{event},{data}]").len()
}

/// The compact codec's event frame.
fn compact_frame(event: &str, data: &impl Serialize) -> usize {
    let payload = to_payload(data).expect("postcard");
    let packet = CompactPacket::event("/", event.to_owned(), payload, None);
    encode(&packet).expect("a frame").len()
}

/// A whole round of `players` bots at 30 Hz; per tick, the sizes of the full snapshot and of
/// the delta from `lag` ticks back (from the first tick with such a base on).
fn play(players: usize, lag: usize, seed: u64) -> Vec<Tick> {
    let settings = MatchSettings {
        match_size: players,
        ..MatchSettings::default()
    };
    let mut game = ArenaMatch::new(&settings, 0, players, seed);
    let dt = Duration::from_secs(1) / settings.tick_rate;
    let mut history: Vec<Snapshot> = Vec::new();
    let mut ticks = Vec::new();
    for tick in 0u64.. {
        let (current, end) = game.advance(dt);
        // Every player's last input applied: about two inputs a tick.
        let acks: Vec<(u32, u32)> = (1..=players as u32).map(|p| (p, 2 * tick as u32)).collect();
        if history.len() >= lag {
            let base = &history[history.len() - lag];
            let delta = diff(base, &current);
            assert_eq!(apply(base, &delta), current, "tick {tick}");
            let full = SnapshotEnvelope {
                tick,
                acks: &acks,
                state: &current,
            };
            let delta = DeltaEnvelope {
                tick,
                base: tick - lag as u64,
                acks: &acks,
                delta: &delta,
            };
            ticks.push(Tick {
                json_full: json_frame(SNAPSHOT_EVENT, &full),
                json_delta: json_frame(DELTA_EVENT, &delta),
                compact_full: compact_frame(SNAPSHOT_EVENT, &full),
                compact_delta: compact_frame(DELTA_EVENT, &delta),
            });
        }
        history.push(current);
        if history.len() > lag {
            history.remove(0);
        }
        if end {
            break;
        }
    }
    ticks
}

/// Mean, p50, p99 and total of `sizes`.
fn stats(mut sizes: Vec<usize>) -> (f64, usize, usize, usize) {
    sizes.sort_unstable();
    let total: usize = sizes.iter().sum();
    let at = |q: f64| sizes[((sizes.len() - 1) as f64 * q).round() as usize];
    (total as f64 / sizes.len() as f64, at(0.5), at(0.99), total)
}

#[test]
fn deltas_are_smaller_than_full_snapshots_of_real_play() {
    println!(
        "| players | base | codec | full: mean / p50 / p99 B | delta: mean / p50 / p99 B | \
         total full → delta | saved |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (players, lag) in [(4, 1), (4, 3), (4, 8), (8, 1), (8, 3), (8, 8)] {
        let ticks = play(players, lag, 7);
        assert!(ticks.len() > 2900, "a whole round: {} ticks", ticks.len());
        for (codec, full, delta) in [
            (
                "JSON",
                ticks.iter().map(|t| t.json_full).collect::<Vec<_>>(),
                ticks.iter().map(|t| t.json_delta).collect::<Vec<_>>(),
            ),
            (
                "compact",
                ticks.iter().map(|t| t.compact_full).collect(),
                ticks.iter().map(|t| t.compact_delta).collect(),
            ),
        ] {
            let (f, d) = (stats(full), stats(delta));
            let saved = 1.0 - d.3 as f64 / f.3 as f64;
            println!(
                "| {players} | {lag} back | {codec} | {:.0} / {} / {} | {:.0} / {} / {} | \
                 {} → {} KiB | {:.0}% |",
                f.0,
                f.1,
                f.2,
                d.0,
                d.1,
                d.2,
                f.3 / 1024,
                d.3 / 1024,
                saved * 100.0
            );
            assert!(
                d.3 < f.3,
                "{players} players, base {lag} back, {codec}: deltas {} B, full {} B",
                d.3,
                f.3
            );
            // The typical client (a base one to three ticks back) saves at least 40% in JSON
            // (field names of what did not change) and a fifth in the compact codec (where
            // moving players' and projectiles' positions are most of what is left).
            if lag <= 3 {
                let floor = if codec == "JSON" { 0.4 } else { 0.2 };
                assert!(
                    saved > floor,
                    "{players} players, {codec}: saved {saved:.2}"
                );
            }
        }
    }
}

#[test]
fn the_measurement_is_deterministic() {
    assert_eq!(play(4, 2, 3), play(4, 2, 3));
}
