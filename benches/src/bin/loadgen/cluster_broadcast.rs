//! `cluster-broadcast`: broadcasts across two nodes of a cluster on one Redis (any contract
//! server with `REDIS_URL`: the contract's `publish` event).
//!
//! Sockets connect to node A (`--ports` first) and node B (second); one of A's sockets is
//! the publisher. The publisher runs an open loop on an absolute schedule: every
//! `--batch-ms` it sends `publish [from, count]` with every number due by then at `--rate`
//! broadcasts per second (1 ms batches: one number per batch at 1,000/s, ten at 10,000/s),
//! noting each number's send time just before the frame is written, and never waits for an
//! ack. Every socket of `/` on both nodes gets `seq {"n": i}` for each number; a receiver's
//! latency is its receipt time minus the send time of that number (one process, one
//! monotonic clock: nothing is stamped by the servers). Latencies are split by where the
//! receiver is: `remote` on node B (the broadcast crossed Redis), `local` on node A (the
//! publisher's node, the publisher included).
//!
//! The window: numbers first sent during the `--duration` after the `--warmup` are the
//! measured ones; publishing stops at the window's end and the receivers get up to
//! `--drain` seconds to catch up. Every receiver should get every measured number once and
//! in order: what it did not get by then is `missing`, a number at or below one it already
//! got is `out_of_order`. CPU of each node and of redis-server (`/proc/PID/stat`, all
//! threads) is taken over the window and divided by the messages delivered in it (to
//! sockets of both nodes).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures_util::stream::{self, StreamExt};
use tickwire_benches::client::{self, Client, ConnectOptions};
use tickwire_benches::procfs::CpuMeter;
use tickwire_benches::report::RunResult;
use tickwire_benches::stats;

use super::{timed_wait, Common, Window, CONNECT_TIMEOUT};

/// The sizes of one run.
pub(crate) struct Shape {
    /// Broadcasts per second.
    pub(crate) rate: f64,
    /// How often the publisher sends what is due.
    pub(crate) batch_ms: f64,
    /// Sockets on node A besides the publisher.
    pub(crate) receivers_a: usize,
    /// Sockets on node B.
    pub(crate) receivers_b: usize,
    pub(crate) warmup: f64,
    pub(crate) duration: f64,
    /// Longest wait after the window for the measured numbers to arrive.
    pub(crate) drain: f64,
}

/// The two nodes and Redis.
pub(crate) struct Nodes {
    pub(crate) ports: Vec<u16>,
    pub(crate) pids: Vec<u32>,
    pub(crate) redis_pid: Option<u32>,
}

/// No number has this send time: not sent yet.
const UNSENT: u64 = u64::MAX;

/// What the publisher and the receivers share (one thread).
struct Shared {
    base: Instant,
    /// Send time of number `n` (µs since `base`).
    sent_us: Vec<u64>,
    /// The measured numbers: `lo..hi` (both `u64::MAX` until the window opens; `hi` until
    /// it ends).
    lo: u64,
    hi: u64,
    /// Receipts are counted for the CPU figure while this is set.
    counting: bool,
    delivered_in_window: u64,
    local: Vec<u32>,
    remote: Vec<u32>,
    /// Measured numbers received, over all receivers.
    received: u64,
    out_of_order: u64,
    acked: u64,
    publishes: u64,
    disconnects: usize,
    errors: Vec<String>,
}

impl Shared {
    fn fail(&mut self, what: &str, e: impl std::fmt::Display) {
        self.disconnects += 1;
        if self.errors.len() < 5 {
            self.errors.push(format!("{what}: {e}"));
        }
    }

    /// One receipt of `seq` number `n` by a receiver whose last number was `last`.
    fn receipt(&mut self, n: u64, last: &mut Option<u64>, remote: bool, now_us: u64) {
        if last.is_some_and(|l| n <= l) {
            self.out_of_order += 1;
            return;
        }
        *last = Some(n);
        if self.counting {
            self.delivered_in_window += 1;
        }
        if n < self.lo || n >= self.hi {
            return;
        }
        let Some(&sent) = self.sent_us.get(n as usize) else {
            return;
        };
        if sent == UNSENT {
            return;
        }
        self.received += 1;
        let us = now_us.saturating_sub(sent).min(u64::from(u32::MAX)) as u32;
        if remote {
            self.remote.push(us);
        } else {
            self.local.push(us);
        }
    }
}

/// The number of a `42["seq",{"n":N}...]` message.
fn seq_number(msg: &[u8]) -> Option<u64> {
    let rest = msg.strip_prefix(b"42[\"seq\",")?;
    if let Some(digits) = rest.strip_prefix(b"{\"n\":") {
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len > 0 && digits.get(len) == Some(&b'}') {
            return std::str::from_utf8(&digits[..len]).ok()?.parse().ok();
        }
    }
    // Another spelling (spaces, an offset after it): parse it as JSON.
    let args: serde_json::Value = serde_json::from_slice(&msg[2..]).ok()?;
    args.get(1)?.get("n")?.as_u64()
}

fn us_since(base: Instant) -> u64 {
    base.elapsed().as_micros() as u64
}

/// Connect `n` sockets to `addr`, 50 at a time.
async fn connect_all(addr: SocketAddr, n: usize) -> (Vec<Client>, Vec<String>) {
    let results: Vec<Result<Client>> = stream::iter(0..n)
        .map(|_| async move {
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                Client::connect(addr, ConnectOptions::default()),
            )
            .await
            {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Err(anyhow::anyhow!("connect took over {CONNECT_TIMEOUT:?}")),
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let mut ok = Vec::with_capacity(n);
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(c) => ok.push(c),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    (ok, errors)
}

/// A receiver: read until the connection ends, timing every `seq`.
async fn receive(mut client: Client, remote: bool, shared: Rc<RefCell<Shared>>) {
    let mut last = None;
    let base = shared.borrow().base;
    loop {
        let got = client
            .recv(|msg| {
                if let Some(n) = seq_number(msg) {
                    let now = us_since(base);
                    shared.borrow_mut().receipt(n, &mut last, remote, now);
                }
            })
            .await;
        if let Err(e) = got {
            shared.borrow_mut().fail("receiver", e);
            return;
        }
    }
}

/// The publisher's schedule: what is due when, and the window's edges.
struct Schedule {
    start: Instant,
    window: Instant,
    end: Instant,
    rate: f64,
    batch: Duration,
}

/// The publisher: open loop, every batch sends what is due; reads its own socket (acks and
/// its own `seq` receipts, which count as local) in between.
async fn publish(mut client: Client, plan: Schedule, shared: Rc<RefCell<Shared>>) {
    let mut last = None;
    let mut next_n: u64 = 0;
    let mut next_batch = plan.start;
    let mut window_open = false;
    let base = shared.borrow().base;
    loop {
        let now = Instant::now();
        if now >= plan.end {
            let mut s = shared.borrow_mut();
            s.lo = s.lo.min(next_n);
            s.hi = next_n;
            break;
        }
        if now >= next_batch {
            if !window_open && now >= plan.window {
                window_open = true;
                shared.borrow_mut().lo = next_n;
            }
            let due = (plan.rate * now.duration_since(plan.start).as_secs_f64()).floor() as u64;
            if due > next_n {
                let count = due - next_n;
                {
                    let mut s = shared.borrow_mut();
                    let t = us_since(base);
                    let len = due as usize;
                    if s.sent_us.len() < len {
                        s.sent_us.resize(len, UNSENT);
                    }
                    s.sent_us[next_n as usize..len].fill(t);
                    s.publishes += 1;
                }
                let text = format!("[{next_n},{count}]");
                if let Err(e) = client.emit_with_ack("publish", &text).await {
                    shared.borrow_mut().fail("publisher", e);
                    return;
                }
                next_n = due;
            }
            next_batch += plan.batch;
            // Fallen behind by whole batches: the next batch carries what is due then.
            if next_batch < now {
                next_batch = now + plan.batch;
            }
            continue;
        }
        if let Err(e) = read_own(&mut client, next_batch - now, &mut last, &shared, base).await {
            shared.borrow_mut().fail("publisher", e);
            return;
        }
    }
    // Keep reading: acks and the publisher's own receipts still arrive.
    loop {
        let got = read_own(
            &mut client,
            Duration::from_secs(3600),
            &mut last,
            &shared,
            base,
        )
        .await;
        if let Err(e) = got {
            shared.borrow_mut().fail("publisher", e);
            return;
        }
    }
}

async fn read_own(
    client: &mut Client,
    wait: Duration,
    last: &mut Option<u64>,
    shared: &Rc<RefCell<Shared>>,
    base: Instant,
) -> std::io::Result<bool> {
    client
        .recv_timeout(wait, |msg| {
            if let Some(n) = seq_number(msg) {
                let now = us_since(base);
                shared.borrow_mut().receipt(n, last, false, now);
            } else if let Some((_, args)) = client::parse_ack(msg) {
                if let Ok((count,)) = serde_json::from_slice::<(u64,)>(args) {
                    shared.borrow_mut().acked += count;
                }
            }
        })
        .await
}

pub(crate) async fn run(common: &Common, shape: Shape, nodes: Nodes) -> Result<RunResult> {
    let [a, b] = nodes.ports[..] else {
        bail!("cluster-broadcast needs two nodes' ports (--ports A,B)");
    };
    if !(shape.rate > 0.0 && shape.batch_ms > 0.0) {
        bail!("--rate and --batch-ms must be positive");
    }
    let mut r = RunResult::new("cluster-broadcast");
    r.param("rate", shape.rate);
    r.param("batch_ms", shape.batch_ms);
    r.param("sockets_a", shape.receivers_a + 1);
    r.param("sockets_b", shape.receivers_b);
    r.param("duration_s", shape.duration);
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let (on_b, mut errors) = connect_all(at(b), shape.receivers_b).await;
    let (mut on_a, errors_a) = connect_all(at(a), shape.receivers_a + 1).await;
    errors.extend(errors_a);
    let Some(publisher) = on_a.pop() else {
        bail!("the publisher could not connect: {errors:?}");
    };
    let receivers = on_a.len() + on_b.len() + 1;
    let shared = Rc::new(RefCell::new(Shared {
        base: Instant::now(),
        sent_us: Vec::new(),
        lo: u64::MAX,
        hi: u64::MAX,
        counting: false,
        delivered_in_window: 0,
        local: Vec::new(),
        remote: Vec::new(),
        received: 0,
        out_of_order: 0,
        acked: 0,
        publishes: 0,
        disconnects: 0,
        errors: Vec::new(),
    }));
    let mut tasks = Vec::new();
    for (clients, remote) in [(on_a, false), (on_b, true)] {
        for c in clients {
            tasks.push(tokio::task::spawn_local(receive(c, remote, shared.clone())));
        }
    }
    // Every node has its sockets; give the adapters a moment before the first broadcast.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let window = start + Duration::from_secs_f64(shape.warmup);
    let end = window + Duration::from_secs_f64(shape.duration);
    let plan = Schedule {
        start,
        window,
        end,
        rate: shape.rate,
        batch: Duration::from_secs_f64(shape.batch_ms / 1e3),
    };
    tasks.push(tokio::task::spawn_local(publish(
        publisher,
        plan,
        shared.clone(),
    )));
    timed_wait(shape.warmup, "warmup", common.quiet).await;
    let gen = Window::start(None);
    let meters: Vec<CpuMeter> = nodes
        .pids
        .iter()
        .map(|pid| CpuMeter::start(Some(*pid)))
        .collect();
    let redis = nodes.redis_pid.map(|pid| CpuMeter::start(Some(pid)));
    {
        let mut s = shared.borrow_mut();
        s.counting = true;
        s.delivered_in_window = 0;
    }
    let t0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    shared.borrow_mut().counting = false;
    let secs = t0.elapsed().as_secs_f64();
    gen.finish(&mut r, "");
    let cpu: Vec<f64> = meters.iter().map(|m| m.read().0).collect();
    let redis_cpu = redis.map(|m| m.read().0);

    // Drain: until every receiver has every measured number, or the limit.
    let drain_end = Instant::now() + Duration::from_secs_f64(shape.drain);
    let expected = loop {
        let (hi, lo, received) = {
            let s = shared.borrow();
            (s.hi, s.lo, s.received)
        };
        let expected = if hi == u64::MAX {
            None
        } else {
            Some(hi.saturating_sub(lo) * receivers as u64)
        };
        if expected.is_some_and(|e| received >= e) || Instant::now() >= drain_end {
            break expected.unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for t in tasks {
        t.abort();
    }

    let mut s = shared.borrow_mut();
    let measured = s.hi.saturating_sub(s.lo);
    r.metric("receivers", receivers as f64);
    r.metric("broadcasts_per_s", measured as f64 / shape.duration);
    r.metric(
        "publishes_per_s",
        s.publishes as f64 / (shape.warmup + shape.duration),
    );
    r.metric("acked", s.acked as f64);
    r.metric("sent", s.sent_us.len() as f64);
    r.metric("expected", expected as f64);
    r.metric("missing", expected.saturating_sub(s.received) as f64);
    r.metric(
        "missing_pct",
        if expected == 0 {
            0.0
        } else {
            100.0 * expected.saturating_sub(s.received) as f64 / expected as f64
        },
    );
    r.metric("out_of_order", s.out_of_order as f64);
    r.metric("disconnects", s.disconnects as f64);
    r.metric("connect_errors", errors.len() as f64);
    let delivered = s.delivered_in_window as f64;
    r.metric("delivered_per_s", delivered / secs);
    let per_msg = |cpu_s: f64| {
        if delivered > 0.0 {
            cpu_s * 1e6 / delivered
        } else {
            f64::NAN
        }
    };
    let mut total = 0.0;
    for (name, c) in ["node_a", "node_b"].iter().zip(&cpu) {
        r.metric(&format!("{name}_cpu_pct"), 100.0 * c / secs);
        r.metric(&format!("{name}_cpu_us_per_msg"), per_msg(*c));
        total += c;
    }
    r.metric("server_cpu_pct", 100.0 * cpu.iter().sum::<f64>() / secs);
    if let Some(c) = redis_cpu {
        r.metric("redis_cpu_pct", 100.0 * c / secs);
        r.metric("redis_cpu_us_per_msg", per_msg(c));
        r.metric(
            "redis_cpu_us_per_broadcast",
            if measured > 0 {
                c * 1e6 / measured as f64
            } else {
                f64::NAN
            },
        );
        total += c;
    }
    r.metric("cpu_us_per_msg", per_msg(total));
    let local = stats::summarize(&mut s.local);
    let remote = stats::summarize(&mut s.remote);
    for (name, sum) in [("local", &local), ("remote", &remote)] {
        r.metric(&format!("{name}_p50_us"), sum.p50);
        r.metric(&format!("{name}_p90_us"), sum.p90);
        r.metric(&format!("{name}_p99_us"), sum.p99);
        r.metric(&format!("{name}_p999_us"), sum.p999);
        r.metric(&format!("{name}_max_us"), sum.max);
        r.metric(&format!("{name}_samples"), sum.count as f64);
    }
    r.curves
        .insert("remote_latency".into(), stats::quantile_curve(&s.remote));
    r.curves
        .insert("local_latency".into(), stats::quantile_curve(&s.local));
    if let Some(e) = errors.first() {
        r.notes.push(format!(
            "{} sockets failed to connect; first: {e}",
            errors.len()
        ));
    }
    for e in &s.errors {
        r.notes.push(format!("failed: {e}"));
    }
    if expected > s.received {
        r.notes.push(format!(
            "{} of {expected} measured deliveries missing after the {:.1} s drain",
            expected - s.received,
            shape.drain
        ));
    }
    if remote.count == 0 {
        bail!(
            "no broadcast reached node B ({} sent, {} acked, {} local receipts; {:?})",
            s.sent_us.len(),
            s.acked,
            local.count,
            r.notes
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_numbers_are_read_in_any_spelling() {
        assert_eq!(seq_number(br#"42["seq",{"n":42}]"#), Some(42));
        assert_eq!(seq_number(br#"42["seq",{"n":7},"1-0"]"#), Some(7));
        assert_eq!(seq_number(br#"42["seq", {"n": 3}]"#), Some(3));
        assert_eq!(seq_number(br#"42["state",{"n":3}]"#), None);
        assert_eq!(seq_number(br#"42["seq",{"n":}]"#), None);
    }
}
