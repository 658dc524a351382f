//! `match-burst`: matches spawned in one burst on one thread, each tick costing a fixed busy
//! time (what a tick's snapshot and its fan-out cost the thread), and what that does to
//! the rest of the thread's work. Two figures:
//! - tick jitter: each match times its own ticks; a tick's jitter is its offset from the
//!   match's own schedule, less the match's smallest offset over the run (as `loadgen`
//!   measures lateness from the client side);
//! - wait of other work: a probe on the same thread asks to wake every millisecond and
//!   records how late it woke, as a socket's message or a player's input waits for the
//!   thread while ticks run.
//!
//! ```sh
//! target/release/match-burst --matches 50 --hz 30 --work-us 300 --seconds 4
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use parking_lot::Mutex;
use tickwire::{Match, MatchConfig, MatchContext, MatchRoom, PlayerId, SocketIo, TickClock};
use tickwire_benches::stats;

#[derive(Parser)]
struct Args {
    /// Matches spawned at once.
    #[arg(long, default_value_t = 50)]
    matches: usize,
    /// Their tick rate (a match ticks at 1–120 Hz).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    hz: u32,
    /// Busy time of each tick, µs.
    #[arg(long, default_value_t = 300)]
    work_us: u64,
    /// How long to run.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
}

/// A match with no players whose tick spins for `work` and records when it ran.
struct Busy {
    work: Duration,
    ran: Arc<Mutex<Vec<Instant>>>,
}

impl Match for Busy {
    type Input = ();
    type Snapshot = u64;

    fn on_input(&mut self, _: &mut MatchContext, _: PlayerId, _: u32, _: ()) {}

    fn tick(&mut self, ctx: &mut MatchContext, _: Duration) -> u64 {
        let now = Instant::now();
        self.ran.lock().push(now);
        while now.elapsed() < self.work {
            std::hint::spin_loop();
        }
        ctx.tick()
    }
}

/// Each tick's jitter: its offset from its match's own schedule, less the smallest, µs.
fn jitter(ran: &[Instant], period: Duration) -> Vec<u32> {
    let Some(first) = ran.first() else {
        return Vec::new();
    };
    // Ticks are stamped in slot order with none skipped at this load; offset of tick k
    // from slot k of a clock started at the first tick.
    let offsets: Vec<i64> = ran
        .iter()
        .enumerate()
        .map(|(k, t)| {
            t.duration_since(*first).as_micros() as i64 - (period * k as u32).as_micros() as i64
        })
        .collect();
    let least = offsets.iter().copied().min().unwrap_or(0);
    offsets.iter().map(|o| (o - least) as u32).collect()
}

#[actix_rt::main]
async fn main() {
    let args = Args::parse();
    let io = SocketIo::builder().build();
    let config = MatchConfig {
        tick_rate: args.hz,
        ..MatchConfig::default()
    };
    let ticks: Vec<_> = (0..args.matches)
        .map(|_| {
            let ran = Arc::new(Mutex::new(Vec::new()));
            let game = Busy {
                work: Duration::from_micros(args.work_us),
                ran: ran.clone(),
            };
            MatchRoom::spawn(&io, config.clone(), game);
            ran
        })
        .collect();
    let mut waits = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    while Instant::now() < end {
        let due = Instant::now() + Duration::from_millis(1);
        tokio::time::sleep_until(due.into()).await;
        waits.push(due.elapsed().as_micros() as u32);
    }
    let period = TickClock::new(Instant::now(), args.hz).period();
    let mut jitters: Vec<u32> = ticks
        .iter()
        .flat_map(|ran| jitter(&ran.lock(), period))
        .collect();
    let count = jitters.len();
    let jitter = stats::summarize(&mut jitters);
    let wait = stats::summarize(&mut waits);
    println!(
        "{} matches at {} Hz, {} µs per tick, {count} ticks: tick jitter p50 / p99 / max {} / {} / {} µs; \
         other work's wait p50 / p99 / max {} / {} / {} µs",
        args.matches, args.hz, args.work_us, jitter.p50, jitter.p99, jitter.max, wait.p50, wait.p99, wait.max
    );
}
