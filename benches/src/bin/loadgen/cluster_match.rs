//! `cluster-match`: matches across two nodes of a game cluster (bench-server with
//! `GAME_CLUSTER=1`, see its `game_cluster` module). Players connect to the nodes in turn
//! and queue in that order, so each group of the cluster-wide queue mixes both nodes: in a
//! match, the players on its host hold local seats and the others remote ones (their inputs
//! and snapshots cross Redis). Each player sends one input per tick; the figure is the time
//! from sending input `seq` to the first snapshot whose `acks` show it applied, for local
//! and for remote seats, with the bus messages per second and Redis's CPU.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use tickwire_benches::client::{now_us, parse_state, Client, ConnectOptions};
use tickwire_benches::procfs::CpuMeter;
use tickwire_benches::report::RunResult;
use tickwire_benches::stats;

use super::{redis_hop, timed_wait, Common, Window};

/// The sizes of one run.
pub(crate) struct Shape {
    pub(crate) matches: usize,
    pub(crate) per_match: usize,
    pub(crate) hz: f64,
    pub(crate) warmup: f64,
    pub(crate) duration: f64,
}

/// The processes measured besides the generator.
pub(crate) struct Nodes {
    pub(crate) ports: Vec<u16>,
    pub(crate) pids: Vec<u32>,
    pub(crate) redis_pid: Option<u32>,
    /// The run's Redis, for the bare hop probe (the bus's floor, see [`redis_hop`]).
    pub(crate) redis_port: Option<u16>,
}

/// What every player task records into.
#[derive(Default)]
struct Samples {
    recording: bool,
    local: Vec<u32>,
    remote: Vec<u32>,
    /// From each snapshot's tick stamp to its arrival, for local and remote seats.
    local_lag: Vec<u32>,
    remote_lag: Vec<u32>,
    snapshots: u64,
    ready: usize,
    remote_seats: usize,
    disconnects: usize,
    errors: Vec<String>,
}

#[derive(Deserialize)]
struct Seat {
    #[serde(rename = "match")]
    at: Option<String>,
    token: Option<String>,
    error: Option<String>,
}

/// The first argument of an ack's argument array.
fn first_arg<T: for<'de> Deserialize<'de>>(args: &[u8]) -> Result<T> {
    let (first,): (T,) = serde_json::from_slice(args)
        .with_context(|| format!("unexpected ack {}", String::from_utf8_lossy(args)))?;
    Ok(first)
}

/// What a `state` snapshot frame acknowledges for `player`: `None` if `msg` is not a
/// snapshot, `Some(None)` if its `acks` have no entry for `player`.
///
/// Read without a JSON parse: the generator shares a core with a node, and every cycle it
/// spends on 30,000 snapshots a second is one that node does not get.
fn snapshot_ack(msg: &[u8], player: u32) -> Option<Option<u32>> {
    let body = msg.strip_prefix(b"42[\"state\",")?;
    let key = b"\"acks\":[";
    let mut rest = &body[body.windows(key.len()).position(|w| w == key)? + key.len()..];
    // `rest` is `[p,s],[p,s],…]…`: one pair after another up to the closing `]`.
    loop {
        rest = rest.strip_prefix(b",").unwrap_or(rest);
        if rest.first() == Some(&b']') {
            return Some(None);
        }
        let (p, after) = number(rest.strip_prefix(b"[")?)?;
        let (seq, after) = number(after.strip_prefix(b",")?)?;
        rest = after.strip_prefix(b"]")?;
        if p == player {
            return Some(Some(seq));
        }
    }
}

/// The decimal number `bytes` starts with, and what follows it.
fn number(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((n, &bytes[digits..]))
}

pub(crate) async fn run(common: &Common, shape: Shape, nodes: Nodes) -> Result<RunResult> {
    if nodes.ports.is_empty() {
        bail!("cluster-match needs the nodes' ports (--ports A,B)");
    }
    let players = shape.matches * shape.per_match;
    let mut r = RunResult::new("cluster-match");
    r.param("matches", shape.matches);
    r.param("per_match", shape.per_match);
    r.param("hz", shape.hz);
    r.param("nodes", nodes.ports.len());
    r.param("duration_s", shape.duration);
    let samples = Rc::new(RefCell::new(Samples::default()));
    let period = Duration::from_secs_f64(1.0 / shape.hz);
    let queue_gap = Duration::from_micros(1500);
    let start = Instant::now() + Duration::from_millis(200);
    let mut tasks = Vec::with_capacity(players);
    for i in 0..players {
        let port = nodes.ports[i % nodes.ports.len()];
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let samples = samples.clone();
        // Queue in player order, a little apart, so that the cluster-wide queue (ordered
        // by time) groups players of both nodes together.
        let queue_at = start + queue_gap * i as u32;
        let phase = period.mul_f64((i % 97) as f64 / 97.0);
        tasks.push(tokio::task::spawn_local(async move {
            if let Err(e) = play(addr, queue_at, phase, period, &samples).await {
                let mut s = samples.borrow_mut();
                s.disconnects += 1;
                if s.errors.len() < 5 {
                    s.errors.push(format!("{e:#}"));
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60) + queue_gap * players as u32;
    loop {
        let (ready, failed) = {
            let s = samples.borrow();
            (s.ready, s.disconnects)
        };
        if ready + failed >= players {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {ready} of {players} players seated in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    timed_wait(shape.warmup, "warmup", common.quiet).await;

    let bus_before = bus_totals(&nodes.ports).await?;
    let window = Window::start(None);
    let servers: Vec<CpuMeter> = nodes
        .pids
        .iter()
        .map(|pid| CpuMeter::start(Some(*pid)))
        .collect();
    let redis = nodes.redis_pid.map(|pid| CpuMeter::start(Some(pid)));
    let (stop_probe, probe_stopped) = tokio::sync::oneshot::channel::<()>();
    let hop_probe = nodes
        .redis_port
        .map(|port| redis_hop::start(port, Duration::from_millis(10), probe_stopped));
    samples.borrow_mut().recording = true;
    let t0 = Instant::now();
    timed_wait(shape.duration, "cluster-match", common.quiet).await;
    samples.borrow_mut().recording = false;
    let _ = stop_probe.send(());
    if let Some(probe) = hop_probe {
        let mut hops = probe
            .join()
            .map_err(|_| anyhow::anyhow!("the hop probe panicked"))??;
        let hop = stats::summarize(&mut hops);
        r.metric("bare_hop_p50_us", hop.p50);
        r.metric("bare_hop_p99_us", hop.p99);
    }
    let secs = t0.elapsed().as_secs_f64();
    window.finish(&mut r, "");
    let server_cpu: f64 = servers.iter().map(|m| m.read().2).sum();
    r.metric("server_cpu_pct", server_cpu);
    if let Some(redis) = redis {
        r.metric("redis_cpu_pct", redis.read().2);
    }
    let bus_after = bus_totals(&nodes.ports).await?;
    let bus = |name: &str| {
        let after = bus_after.get(name).copied().unwrap_or(0);
        after.saturating_sub(bus_before.get(name).copied().unwrap_or(0)) as f64
    };
    r.metric("bus_msgs_per_s", bus("published") / secs);
    r.metric("bus_publishes_per_s", bus("publishes") / secs);
    r.metric("bus_dropped", bus("queue_full") + bus("publish_failed"));
    for t in tasks {
        t.abort();
    }

    let mut s = samples.borrow_mut();
    let local = stats::summarize(&mut s.local);
    let remote = stats::summarize(&mut s.remote);
    for (name, sum) in [("local", &local), ("remote", &remote)] {
        r.metric(&format!("{name}_p50_us"), sum.p50);
        r.metric(&format!("{name}_p99_us"), sum.p99);
        r.metric(&format!("{name}_p999_us"), sum.p999);
        r.metric(&format!("{name}_samples"), sum.count as f64);
    }
    r.metric("remote_extra_p50_us", remote.p50 - local.p50);
    r.metric("remote_extra_p99_us", remote.p99 - local.p99);
    // The snapshot's half of the trip alone (tick to arrival): what a remote seat's extra
    // is made of besides its inputs' way to the host.
    let local_lag = stats::summarize(&mut s.local_lag);
    let remote_lag = stats::summarize(&mut s.remote_lag);
    for (name, sum) in [("local", &local_lag), ("remote", &remote_lag)] {
        r.metric(&format!("{name}_snapshot_lag_p50_us"), sum.p50);
        r.metric(&format!("{name}_snapshot_lag_p99_us"), sum.p99);
    }
    r.metric("remote_seats", s.remote_seats as f64);
    r.metric("seated", s.ready as f64);
    r.metric("snapshots_per_s", s.snapshots as f64 / secs);
    r.metric("disconnects", s.disconnects as f64);
    r.curves
        .insert("local_input_ack".into(), stats::quantile_curve(&s.local));
    r.curves
        .insert("remote_input_ack".into(), stats::quantile_curve(&s.remote));
    for e in &s.errors {
        r.notes.push(format!("player failed: {e}"));
    }
    if local.count == 0 && remote.count == 0 {
        bail!("no input was acknowledged");
    }
    Ok(r)
}

/// One player: connect, learn the node, queue, take the seat, then send one input per
/// period and time each until a snapshot acknowledges it.
async fn play(
    addr: SocketAddr,
    queue_at: Instant,
    phase: Duration,
    period: Duration,
    samples: &Rc<RefCell<Samples>>,
) -> Result<()> {
    let mut client = Client::connect(addr, ConnectOptions::default()).await?;
    let node: String = first_arg(&client.call("node", "0", |_| {}).await?)?;
    tokio::time::sleep_until(queue_at.into()).await;
    let seat: Seat = first_arg(&client.call("queue", "0", |_| {}).await?)?;
    let (Some(at), Some(token)) = (seat.at, seat.token) else {
        bail!("not grouped: {:?}", seat.error);
    };
    let token = serde_json::to_string(&token)?;
    let player: u32 =
        first_arg(&client.call("seat", &token, |_| {}).await?).context("seat refused")?;
    let remote = !at.starts_with(&node);
    {
        let mut s = samples.borrow_mut();
        s.ready += 1;
        s.remote_seats += usize::from(remote);
    }
    let mut sent: VecDeque<(u32, Instant)> = VecDeque::new();
    let mut seq = 0u32;
    let mut next = Instant::now() + phase;
    loop {
        let now = Instant::now();
        if now >= next {
            seq += 1;
            client
                .send_text(format!("42[\"input\",[{seq},{{}}]]").as_bytes())
                .await?;
            sent.push_back((seq, Instant::now()));
            // A player whose inputs are never acknowledged must not grow this without end.
            if sent.len() > 256 {
                sent.pop_front();
            }
            next += period;
            continue;
        }
        let wait = next - now;
        let mut acked = None;
        let mut snapshots = 0;
        let mut lags = Vec::new();
        client
            .recv_timeout(wait, |msg| {
                if let Some(ack) = snapshot_ack(msg, player) {
                    snapshots += 1;
                    if let Some(stamp) = parse_state(msg) {
                        lags.push(now_us().saturating_sub(stamp.t) as u32);
                    }
                    if let Some(last) = ack {
                        acked = Some(acked.map_or(last, |a: u32| a.max(last)));
                    }
                }
            })
            .await?;
        let arrived = Instant::now();
        let mut s = samples.borrow_mut();
        if s.recording {
            s.snapshots += snapshots;
            if remote {
                s.remote_lag.extend(lags);
            } else {
                s.local_lag.extend(lags);
            }
        }
        let Some(acked) = acked else {
            continue;
        };
        while sent.front().is_some_and(|(q, _)| *q <= acked) {
            let Some((_, at)) = sent.pop_front() else {
                break;
            };
            if s.recording {
                let us = arrived.duration_since(at).as_micros() as u32;
                if remote {
                    s.remote.push(us);
                } else {
                    s.local.push(us);
                }
            }
        }
    }
}

/// The nodes' bus counters so far (messages by outcome, `PUBLISH` commands), summed.
async fn bus_totals(ports: &[u16]) -> Result<HashMap<String, u64>> {
    let mut total = HashMap::new();
    for port in ports {
        let addr = SocketAddr::from(([127, 0, 0, 1], *port));
        let mut client = Client::connect(addr, ConnectOptions::default()).await?;
        let counters: HashMap<String, u64> = first_arg(&client.call("bus", "0", |_| {}).await?)?;
        for (name, n) in counters {
            *total.entry(name).or_default() += n;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_acknowledges_each_player_of_its_acks() {
        let msg = br#"42["state",{"tick":9,"acks":[[3,17],[12,4],[7,0]],"state":{"t":1}}]"#;
        assert_eq!(snapshot_ack(msg, 3), Some(Some(17)));
        assert_eq!(snapshot_ack(msg, 12), Some(Some(4)));
        assert_eq!(snapshot_ack(msg, 7), Some(Some(0)));
        assert_eq!(snapshot_ack(msg, 5), Some(None));
    }

    #[test]
    fn a_snapshot_without_acks_acknowledges_nobody() {
        let msg = br#"42["state",{"tick":1,"acks":[],"state":{"t":1}}]"#;
        assert_eq!(snapshot_ack(msg, 3), Some(None));
    }

    #[test]
    fn other_frames_are_not_snapshots() {
        assert_eq!(snapshot_ack(br#"42["other",{"acks":[[3,1]]}]"#, 3), None);
        assert_eq!(snapshot_ack(br#"430["ok"]"#, 3), None);
        assert_eq!(snapshot_ack(br#"42["state",{"acks":[[3,x]]}]"#, 3), None);
    }
}
