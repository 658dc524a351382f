//! Room fan-out to 1,000 members: encode the tick's snapshot once, then hand the same bytes
//! to every member's outbound queue.
//!
//! tickwire's outbound queue (`runtime/src/outbox.rs`) is crate-private and a `Socket` exists
//! only behind a live connection, so this measures a local model of the same path: a
//! `parking_lot` mutex around a `VecDeque` of (key, `Bytes`) per member with the latest-class
//! coalescing scan, then a wake for the member's websocket task (a `tokio::sync::Notify`
//! here; the runtime wakes the task's stored `Waker`, which costs the same order) — the
//! operations `Outbox::push_latest` performs. With a public hook (e.g. a detached `Socket`
//! whose outbox the bench drains) the runtime's own `MatchRoom` fan-out could be measured.
//!
//! `cargo bench -p tickwire-benches --bench fanout`

use std::collections::VecDeque;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

const MEMBERS: usize = 1000;

#[derive(Serialize)]
struct State<'a> {
    t: u64,
    tick: u64,
    room: &'a str,
    filler: &'a str,
}

/// Queued frames (with their latest-class key) and their bytes.
#[derive(Default)]
struct Queue {
    frames: VecDeque<(Option<u64>, Bytes)>,
    bytes: usize,
}

/// One member's outbound queue, as the runtime's outbox holds it.
struct Member {
    queue: Mutex<Queue>,
    notify: Notify,
}

impl Member {
    fn new() -> Member {
        Member {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
        }
    }

    /// Latest class: replace a queued frame with the same key, else append; wake the writer.
    fn push_latest(&self, key: u64, frame: Bytes) {
        {
            let mut q = self.queue.lock();
            if let Some(pos) = q.frames.iter().rposition(|(k, _)| *k == Some(key)) {
                if let Some((_, old)) = q.frames.remove(pos) {
                    q.bytes -= old.len();
                }
            }
            q.bytes += frame.len();
            q.frames.push_back((Some(key), frame));
        }
        self.notify.notify_one();
    }

    /// What the websocket task does after a wake: take everything queued.
    fn drain(&self) -> usize {
        let mut q = self.queue.lock();
        let n = q.frames.len();
        q.frames.clear();
        q.bytes = 0;
        n
    }
}

fn encode(tick: u64, filler: &str) -> Bytes {
    let state = State {
        t: 1_712_345_678_901_234 + tick,
        tick,
        room: "room-3",
        filler,
    };
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"42[\"state\",");
    serde_json::to_writer(&mut out, &state).expect("serializable");
    out.push(b']');
    Bytes::from(out)
}

fn fanout(c: &mut Criterion) {
    let filler = "x".repeat(200);
    let members: Vec<Member> = (0..MEMBERS).map(|_| Member::new()).collect();
    let mut g = c.benchmark_group("fanout_1000");
    g.bench_function("encode_once", |b| {
        let mut tick = 0;
        b.iter(|| {
            tick += 1;
            encode(black_box(tick), &filler)
        })
    });
    // Per member from here on.
    g.throughput(Throughput::Elements(MEMBERS as u64));

    g.bench_function("encode_once+enqueue_latest", |b| {
        let mut tick = 0;
        b.iter(|| {
            tick += 1;
            let frame = encode(tick, &filler);
            for m in &members {
                m.push_latest(7, frame.clone());
            }
        })
    });

    g.bench_function("encode_once+enqueue+writer_drain", |b| {
        // Each member's writer takes the frame before the next tick (a healthy room).
        let mut tick = 0;
        b.iter(|| {
            tick += 1;
            let frame = encode(tick, &filler);
            for m in &members {
                m.push_latest(7, frame.clone());
            }
            let mut taken = 0;
            for m in &members {
                taken += m.drain();
            }
            black_box(taken)
        })
    });

    g.bench_function("encode_per_member+enqueue", |b| {
        // What encode-once avoids.
        let mut tick = 0;
        b.iter(|| {
            tick += 1;
            for m in &members {
                m.push_latest(7, encode(tick, &filler));
            }
        })
    });

    g.bench_function("bytes_clone_only", |b| {
        let frame = encode(1, &filler);
        let mut sink: Vec<Bytes> = Vec::with_capacity(MEMBERS);
        b.iter(|| {
            sink.clear();
            for _ in 0..MEMBERS {
                sink.push(frame.clone());
            }
            black_box(sink.len())
        })
    });
    g.finish();
}

/// The runtime's own path (feature `bench-internals`): a match tick's snapshot to 1,000
/// members, half on each codec — one encode per codec, then a latest-class push per member.
fn runtime_mixed_fanout(c: &mut Criterion) {
    use tickwire::bench_support::MixedMembers;

    #[derive(serde::Serialize)]
    struct Snap {
        tick: u64,
        players: Vec<(u32, f32, f32, u32)>,
    }
    let snap = Snap {
        tick: 1,
        players: (0..8)
            .map(|i| (i, i as f32 * 1.5, -(i as f32), 100 + i))
            .collect(),
    };
    let members = MixedMembers::new(500, 500);
    let mut g = c.benchmark_group("runtime_fanout");
    g.throughput(Throughput::Elements(1_000));
    g.bench_function(
        "mixed_500_json_500_compact/encode_once_per_codec_and_push_latest",
        |b| b.iter(|| members.broadcast_latest("state", &snap)),
    );
    g.finish();
    // The latest class kept one frame per member, however many ticks were pushed.
    assert_eq!(members.queued(), 1_000);
}

criterion_group!(benches, fanout, runtime_mixed_fanout);
criterion_main!(benches);
