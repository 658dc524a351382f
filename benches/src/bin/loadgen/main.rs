//! Load generator for the benchmark server contract (benches/README.md): Socket.IO v5 over
//! a hand-rolled websocket, all clients on one current-thread tokio runtime (one core).
//!
//! ```text
//! loadgen connect       --port P [--conns 1000 --concurrency 50]
//! loadgen idle-memory   --port P --server-pid PID [--conns 3000]
//! loadgen polling-connect --port P [--conns 1000 --concurrency 50]
//! loadgen polling-echo  --port P [--clients 50 --duration 3]
//! loadgen echo-ack      --port P [--clients 50 --duration 3]
//! loadgen tick-fanout   --port P [--rooms 10 --per-room 100 --hz 60]   (server TICK_HZ=60)
//! loadgen capacity      --port P [--per-room 10 --hz 20 --steps 1000,2000,...]
//! loadgen slow-consumer --port P [--rooms 10 --normal 999 --hz 60]
//! loadgen cluster-match --ports A,B [--matches 100 --per-match 10 --hz 30]
//!                       (two bench-server nodes with GAME_CLUSTER=1 on one REDIS_URL)
//! loadgen cluster-broadcast --ports A,B [--rate 1000 --batch-ms 1 --receivers-a 0 --receivers-b 4]
//!                       (two contract servers with REDIS_URL on one Redis: `publish` on A)
//! ```
//! Common flags: `--server-pid PID` (server CPU% and RSS from /proc), `--json PATH`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use futures_util::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tickwire_benches::client::{self, Client, ConnectOptions};
use tickwire_benches::procfs::{self, CpuMeter};
use tickwire_benches::report::RunResult;
use tickwire_benches::stats;
use tokio::task::JoinHandle;

mod cluster_broadcast;
mod cluster_match;
mod polling;
mod redis_hop;

#[derive(Parser)]
#[command(about = "tickwire benchmark load generator (one core)")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// Server port on 127.0.0.1.
    #[arg(long, global = true, default_value_t = 3000)]
    port: u16,
    /// Server PID, for its CPU% (/proc/PID/stat) and RSS (/proc/PID/status).
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Write the result as JSON here.
    #[arg(long, global = true)]
    json: Option<std::path::PathBuf>,
    /// Prefix of room names (rooms are `<prefix><n>`).
    #[arg(long, global = true, default_value = "room-")]
    room_prefix: String,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Scenario {
    /// N connections at a concurrency: conn/s and latency from TCP connect to `/` joined.
    Connect {
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// `connect` over long-polling: conn/s and latency from TCP connect to `/` joined.
    PollingConnect {
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// `echo-ack` over long-polling: a `POST` of the emit beside the waiting `GET`.
    PollingEcho {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
    /// Hold N idle sockets; the server's RSS before and while holding.
    IdleMemory {
        #[arg(long, default_value_t = 3000)]
        conns: usize,
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Wait this long after the last connect before sampling.
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
        /// Keep holding this long after sampling (for sampling by hand).
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
    },
    /// C clients in a closed loop of `ping` with ack: acks/s and RTT percentiles.
    EchoAck {
        #[arg(long, default_value_t = 50)]
        clients: usize,
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
    /// R rooms × P clients receiving the server's ticks: latency, missed ticks, msgs/s.
    TickFanout {
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 100)]
        per_room: usize,
        /// The server's TICK_HZ (to count missed ticks).
        #[arg(long, default_value_t = 60.0)]
        hz: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
    },
    /// Tick fan-out stepped up in players until a tick is missed or p99 passes the limit.
    Capacity {
        #[arg(long, default_value_t = 10)]
        per_room: usize,
        #[arg(long, default_value_t = 20.0)]
        hz: f64,
        /// Players at each step.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1000,2000,3000,4000,5000,6000,8000"
        )]
        steps: Vec<usize>,
        #[arg(long, default_value_t = 50.0)]
        p99_limit_ms: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 2.0)]
        duration: f64,
    },
    /// Normal clients' tick latency without, then with, one stalled client that never reads.
    SlowConsumer {
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 999)]
        normal: usize,
        #[arg(long, default_value_t = 60.0)]
        hz: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// After the stalled client joins, wait this long for its buffers to fill.
        #[arg(long, default_value_t = 2.0)]
        stall_settle: f64,
        /// The stalled client's SO_RCVBUF.
        #[arg(long, default_value_t = 4096)]
        stalled_rcvbuf: u32,
        /// Rooms the stalled client joins (0 = all): more rooms fill its buffers sooner.
        #[arg(long, default_value_t = 0)]
        stalled_rooms: usize,
    },
    /// Matches across two nodes: input → acknowledged latency of local and remote seats.
    ClusterMatch {
        #[arg(long, default_value_t = 100)]
        matches: usize,
        #[arg(long, default_value_t = 10)]
        per_match: usize,
        /// The nodes' TICK_HZ (one input per player per tick).
        #[arg(long, default_value_t = 30.0)]
        hz: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// The nodes' ports.
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
        /// The nodes' PIDs (their CPU, summed).
        #[arg(long, value_delimiter = ',')]
        server_pids: Vec<u32>,
        /// redis-server's PID (its CPU).
        #[arg(long)]
        redis_pid: Option<u32>,
        /// redis-server's port: probe a bare pub/sub hop through it during the run.
        #[arg(long)]
        redis_port: Option<u16>,
    },
    /// Broadcasts across two nodes: a publisher on node A drives `publish` at a rate; every
    /// socket on both nodes times each number against its send time.
    ClusterBroadcast {
        /// Broadcasts per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// The publisher sends what is due every this many milliseconds.
        #[arg(long, default_value_t = 1.0)]
        batch_ms: f64,
        /// Sockets on node A besides the publisher.
        #[arg(long, default_value_t = 0)]
        receivers_a: usize,
        /// Sockets on node B.
        #[arg(long, default_value_t = 4)]
        receivers_b: usize,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        #[arg(long, default_value_t = 3.0)]
        duration: f64,
        /// Longest wait after the window for the measured numbers to arrive.
        #[arg(long, default_value_t = 2.0)]
        drain: f64,
        /// The two nodes' ports: the publisher's node first.
        #[arg(long, value_delimiter = ',')]
        ports: Vec<u16>,
        /// The two nodes' PIDs, in the order of `--ports`.
        #[arg(long, value_delimiter = ',')]
        server_pids: Vec<u32>,
        /// redis-server's PID (its CPU).
        #[arg(long)]
        redis_pid: Option<u32>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let common = cli.common.clone();
    let result = local.block_on(&rt, run(cli.scenario, cli.common))?;
    print_result(&result);
    if let Some(path) = &common.json {
        std::fs::write(path, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn run(scenario: Scenario, common: Common) -> Result<RunResult> {
    let g = Gen::new(common);
    match scenario {
        Scenario::Connect { conns, concurrency } => g.connect(conns, concurrency).await,
        Scenario::PollingConnect { conns, concurrency } => {
            polling::connect(&g.common, g.addr, conns, concurrency).await
        }
        Scenario::PollingEcho {
            clients,
            warmup,
            duration,
        } => polling::echo(&g.common, g.addr, clients, warmup, duration).await,
        Scenario::IdleMemory {
            conns,
            concurrency,
            settle,
            hold,
        } => g.idle_memory(conns, concurrency, settle, hold).await,
        Scenario::EchoAck {
            clients,
            warmup,
            duration,
        } => g.echo_ack(clients, warmup, duration).await,
        Scenario::TickFanout {
            rooms,
            per_room,
            hz,
            warmup,
            duration,
        } => g.tick_fanout(rooms, per_room, hz, warmup, duration).await,
        Scenario::Capacity {
            per_room,
            hz,
            steps,
            p99_limit_ms,
            warmup,
            duration,
        } => {
            g.capacity(per_room, hz, &steps, p99_limit_ms, warmup, duration)
                .await
        }
        Scenario::SlowConsumer {
            rooms,
            normal,
            hz,
            warmup,
            duration,
            stall_settle,
            stalled_rcvbuf,
            stalled_rooms,
        } => {
            let stall = Stall {
                settle: stall_settle,
                rcvbuf: stalled_rcvbuf,
                rooms: if stalled_rooms == 0 {
                    rooms
                } else {
                    stalled_rooms.min(rooms)
                },
            };
            g.slow_consumer(rooms, normal, hz, warmup, duration, stall)
                .await
        }
        Scenario::ClusterMatch {
            matches,
            per_match,
            hz,
            warmup,
            duration,
            ports,
            server_pids,
            redis_pid,
            redis_port,
        } => {
            let shape = cluster_match::Shape {
                matches,
                per_match,
                hz,
                warmup,
                duration,
            };
            let nodes = cluster_match::Nodes {
                ports,
                pids: server_pids,
                redis_pid,
                redis_port,
            };
            cluster_match::run(&g.common, shape, nodes).await
        }
        Scenario::ClusterBroadcast {
            rate,
            batch_ms,
            receivers_a,
            receivers_b,
            warmup,
            duration,
            drain,
            ports,
            server_pids,
            redis_pid,
        } => {
            let shape = cluster_broadcast::Shape {
                rate,
                batch_ms,
                receivers_a,
                receivers_b,
                warmup,
                duration,
                drain,
            };
            let nodes = cluster_broadcast::Nodes {
                ports,
                pids: server_pids,
                redis_pid,
            };
            cluster_broadcast::run(&g.common, shape, nodes).await
        }
    }
}

/// Above this share of its core the generator, not the server, may be what limits a figure.
const GEN_SATURATED_PCT: f64 = 90.0;

/// The stalled client's TCP MSS (see [`ConnectOptions::mss`]).
const STALLED_MSS: u32 = 536;

/// Longest one client may take to connect and join.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Gen {
    addr: SocketAddr,
    common: Common,
}

/// Server and generator CPU over one measurement window.
struct Window {
    server: Option<CpuMeter>,
    gen: CpuMeter,
}

impl Window {
    fn start(server_pid: Option<u32>) -> Window {
        Window {
            server: server_pid.map(|pid| CpuMeter::start(Some(pid))),
            gen: CpuMeter::start(None),
        }
    }

    /// Record `server_cpu_pct`, `server_cpu_s`, `gen_cpu_pct` (+ a note if saturated);
    /// returns (server CPU seconds, wall seconds).
    fn finish(&self, r: &mut RunResult, prefix: &str) -> (f64, f64) {
        let (_, wall, gen_pct) = self.gen.read();
        r.metric(&format!("{prefix}gen_cpu_pct"), gen_pct);
        if gen_pct > GEN_SATURATED_PCT {
            r.notes.push(format!(
                "{prefix}generator CPU {gen_pct:.0}% of its core: the figure may be generator-bound"
            ));
            r.metric(&format!("{prefix}gen_saturated"), 1.0);
        }
        let mut cpu = 0.0;
        if let Some(server) = &self.server {
            let (c, _, pct) = server.read();
            cpu = c;
            r.metric(&format!("{prefix}server_cpu_pct"), pct);
        }
        (cpu, wall)
    }
}

fn bar(len: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb
}

async fn timed_wait(secs: f64, what: &str, quiet: bool) {
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new((secs * 10.0).ceil() as u64);
        pb.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(what.to_owned());
        pb
    };
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        pb.inc(1);
    }
    pb.finish_and_clear();
}

/// A connected client and how long connecting took.
struct Connected {
    client: Client,
    latency_us: u32,
}

impl Gen {
    fn new(common: Common) -> Gen {
        Gen {
            addr: SocketAddr::from(([127, 0, 0, 1], common.port)),
            common,
        }
    }

    fn room(&self, n: usize) -> String {
        format!("{}{n}", self.common.room_prefix)
    }

    /// Connect `n` clients, `concurrency` at a time; with `room_of`, client `i` also joins
    /// room `room_of(i)` (acked) before it counts as done. Each connected client goes to
    /// `then` at once (e.g. to start its reader, so that no joined client is left unread
    /// while the others connect). Failed or stuck (10 s) connects are counted.
    async fn connect_many<T>(
        &self,
        n: usize,
        concurrency: usize,
        room_of: Option<&dyn Fn(usize) -> String>,
        then: &dyn Fn(usize, Connected) -> T,
        what: &str,
    ) -> (Vec<(usize, T)>, usize) {
        let pb = bar(n, what, self.common.quiet);
        let addr = self.addr;
        let results: Vec<(usize, Result<T>)> = stream::iter(0..n)
            .map(|i| {
                let room = room_of.map(|f| f(i));
                async move {
                    let t0 = Instant::now();
                    let phase = std::cell::Cell::new("connect");
                    let r = async {
                        let mut client = Client::connect(addr, ConnectOptions::default()).await?;
                        let latency_us = t0.elapsed().as_micros() as u32;
                        phase.set("join");
                        if let Some(room) = room {
                            let ack = client.call("join", &format!("\"{room}\""), |_| {}).await?;
                            if ack != br#"["ok"]"# {
                                bail!("join answered {}", String::from_utf8_lossy(&ack));
                            }
                        }
                        Ok(Connected { client, latency_us })
                    };
                    let r = match tokio::time::timeout(CONNECT_TIMEOUT, r).await {
                        Ok(Ok(c)) => Ok(then(i, c)),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err(anyhow::anyhow!(
                            "{} took over {CONNECT_TIMEOUT:?}",
                            phase.get()
                        )),
                    };
                    (i, r)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .inspect(|_| pb.inc(1))
            .collect()
            .await;
        pb.finish_and_clear();
        let results = results.into_iter().map(|(i, r)| r.map(|c| (i, c)));
        let (mut ok, errors) = tally(results, n, "connections");
        ok.sort_by_key(|(i, _)| *i);
        (ok, errors)
    }

    async fn connect(&self, conns: usize, concurrency: usize) -> Result<RunResult> {
        let mut r = RunResult::new("connect");
        r.param("conns", conns);
        r.param("concurrency", concurrency);
        let window = Window::start(self.common.server_pid);
        let t0 = Instant::now();
        // Every client stays connected until the end, so the k-th to finish found k - 1
        // held: the finishing times give the rate against connections held.
        let (clients, errors) = self
            .connect_many(
                conns,
                concurrency,
                None,
                &|_, c| (c, t0.elapsed()),
                "connect",
            )
            .await;
        let elapsed = t0.elapsed().as_secs_f64();
        let (server_cpu_s, _) = window.finish(&mut r, "");
        let mut done: Vec<Duration> = clients.iter().map(|(_, (_, at))| *at).collect();
        done.sort();
        r.steps = rate_by_held(&done, RATE_STEP);
        let mut lat: Vec<u32> = clients.iter().map(|(_, (c, _))| c.latency_us).collect();
        let s = stats::summarize(&mut lat);
        r.metric("conn_per_s", clients.len() as f64 / elapsed);
        r.metric("connected", clients.len() as f64);
        if self.common.server_pid.is_some() && !clients.is_empty() {
            r.metric(
                "server_cpu_us_per_conn",
                server_cpu_s * 1e6 / clients.len() as f64,
            );
        }
        r.metric("errors", errors as f64);
        r.metric("latency_p50_us", s.p50);
        r.metric("latency_p99_us", s.p99);
        r.metric("latency_max_us", s.max);
        r.curves
            .insert("connect_latency".into(), stats::quantile_curve(&lat));
        if clients.is_empty() {
            bail!("no connection succeeded");
        }
        Ok(r)
    }

    async fn idle_memory(
        &self,
        conns: usize,
        concurrency: usize,
        settle: f64,
        hold: f64,
    ) -> Result<RunResult> {
        let mut r = RunResult::new("idle-memory");
        r.param("conns", conns);
        let pid = self.common.server_pid;
        let before = pid.map(procfs::rss_kib).transpose()?;
        let (clients, errors) = self
            .connect_many(conns, concurrency, None, &|_, c| c, "connect")
            .await;
        // Answer the server's heartbeats while holding; otherwise stay idle.
        let readers: Vec<JoinHandle<()>> = clients
            .into_iter()
            .map(|(_, c)| {
                let mut client = c.client;
                tokio::task::spawn_local(async move { while client.recv(|_| {}).await.is_ok() {} })
            })
            .collect();
        let held = readers.len();
        tokio::time::sleep(Duration::from_secs_f64(settle)).await;
        println!("holding {held} sockets");
        if let (Some(pid), Some(before)) = (pid, before) {
            let mut samples = Vec::new();
            for _ in 0..3 {
                samples.push(procfs::rss_kib(pid)?);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples.sort_unstable();
            let holding = samples[1];
            r.metric("rss_before_kib", before as f64);
            r.metric("rss_holding_kib", holding as f64);
            r.metric(
                "kib_per_conn",
                (holding as f64 - before as f64) / held.max(1) as f64,
            );
        } else {
            r.notes
                .push("no --server-pid: sample the server's VmRSS by hand".into());
        }
        if hold > 0.0 {
            timed_wait(hold, "holding", self.common.quiet).await;
        }
        let alive = readers.iter().filter(|h| !h.is_finished()).count();
        for h in readers {
            h.abort();
        }
        r.metric("held", held as f64);
        r.metric("alive_at_end", alive as f64);
        r.metric("errors", errors as f64);
        if held == 0 {
            bail!("no connection succeeded");
        }
        Ok(r)
    }

    async fn echo_ack(&self, clients: usize, warmup: f64, duration: f64) -> Result<RunResult> {
        let mut r = RunResult::new("echo-ack");
        r.param("clients", clients);
        r.param("duration_s", duration);
        let (conns, errors) = self
            .connect_many(clients, clients, None, &|_, c| c, "connect")
            .await;
        if conns.is_empty() {
            bail!("no connection succeeded");
        }
        #[derive(Default)]
        struct Echo {
            active: bool,
            stop: bool,
            rtts: Vec<u32>,
            acks: u64,
            mismatches: u64,
            timeouts: u64,
            disconnects: u64,
        }
        let shared = Rc::new(RefCell::new(Echo::default()));
        let mut tasks = Vec::new();
        for (i, c) in conns {
            let shared = shared.clone();
            let mut client = c.client;
            tasks.push(tokio::task::spawn_local(async move {
                let mut seq = 0u64;
                loop {
                    if shared.borrow().stop {
                        break;
                    }
                    seq += 1;
                    // Keys in sorted order, so that servers that re-serialize objects
                    // through a sorted map echo the very same bytes.
                    let payload = format!(r#"{{"a":{i},"b":{seq},"pad":"0123456789abcdef"}}"#);
                    let t0 = Instant::now();
                    let id = match client.emit_with_ack("ping", &payload).await {
                        Ok(id) => id,
                        Err(_) => {
                            shared.borrow_mut().disconnects += 1;
                            break;
                        }
                    };
                    let mut answer: Option<bool> = None;
                    let deadline = t0 + Duration::from_secs(2);
                    while answer.is_none() {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let got = client
                            .recv_timeout(left, |msg| {
                                if let Some((ack, args)) = client::parse_ack(msg) {
                                    if ack == id {
                                        answer = Some(echo_matches(args, &payload));
                                    }
                                }
                            })
                            .await;
                        match got {
                            Ok(true) => {}
                            Ok(false) => break,
                            Err(_) => {
                                shared.borrow_mut().disconnects += 1;
                                return;
                            }
                        }
                    }
                    let rtt = t0.elapsed().as_micros() as u32;
                    let mut s = shared.borrow_mut();
                    match answer {
                        None => s.timeouts += 1,
                        Some(matches) if s.active => {
                            s.rtts.push(rtt);
                            s.acks += 1;
                            if !matches {
                                s.mismatches += 1;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }));
        }
        timed_wait(warmup, "warmup", self.common.quiet).await;
        shared.borrow_mut().active = true;
        let window = Window::start(self.common.server_pid);
        timed_wait(duration, "echo-ack", self.common.quiet).await;
        let mut s = std::mem::take(&mut *shared.borrow_mut());
        shared.borrow_mut().stop = true;
        let (cpu, wall) = window.finish(&mut r, "");
        for t in tasks {
            t.abort();
        }
        let sum = stats::summarize(&mut s.rtts);
        r.metric("acks_per_s", s.acks as f64 / wall);
        r.metric("rtt_p50_us", sum.p50);
        r.metric("rtt_p99_us", sum.p99);
        r.metric("rtt_p999_us", sum.p999);
        r.metric("rtt_max_us", sum.max);
        if self.common.server_pid.is_some() && s.acks > 0 {
            r.metric("cpu_us_per_ack", cpu * 1e6 / s.acks as f64);
        }
        r.metric("echo_mismatches", s.mismatches as f64);
        r.metric("ack_timeouts", s.timeouts as f64);
        r.metric("disconnects", s.disconnects as f64);
        r.metric("errors", errors as f64);
        r.curves
            .insert("rtt".into(), stats::quantile_curve(&s.rtts));
        if s.mismatches > 0 {
            r.notes
                .push(format!("{} acks did not echo the payload", s.mismatches));
        }
        if s.timeouts > 0 || s.disconnects > 0 {
            r.notes.push(format!(
                "{} acks never came (2 s timeout), {} clients disconnected",
                s.timeouts, s.disconnects
            ));
        }
        if s.acks == 0 {
            bail!("no ack received");
        }
        Ok(r)
    }

    /// Connect `count` clients starting at index `first`, client `i` in room `i / per_room`
    /// (or `i % rooms` with `spread`), and start a reader per client that records ticks.
    async fn fanout_clients(
        &self,
        first: usize,
        count: usize,
        room_of: &dyn Fn(usize) -> usize,
        rec: &Rc<RefCell<Recorder>>,
    ) -> (Vec<JoinHandle<()>>, usize) {
        let name_of = |i: usize| self.room(room_of(first + i));
        let start_reader = |i: usize, c: Connected| {
            let idx = first + i;
            rec.borrow_mut().add_client(idx, room_of(idx));
            let rec = rec.clone();
            let mut client = c.client;
            tokio::task::spawn_local(async move {
                loop {
                    let r = client
                        .recv(|msg| {
                            if let Some(stamp) = client::parse_state(msg) {
                                let now = client::now_us();
                                rec.borrow_mut().record(idx, stamp, now, msg);
                            }
                        })
                        .await;
                    if r.is_err() {
                        rec.borrow_mut().disconnects += 1;
                        break;
                    }
                }
            })
        };
        let (tasks, errors) = self
            .connect_many(count, 64, Some(&name_of), &start_reader, "connect+join")
            .await;
        (tasks.into_iter().map(|(_, t)| t).collect(), errors)
    }

    async fn tick_fanout(
        &self,
        rooms: usize,
        per_room: usize,
        hz: f64,
        warmup: f64,
        duration: f64,
    ) -> Result<RunResult> {
        let mut r = RunResult::new("tick-fanout");
        r.param("rooms", rooms);
        r.param("per_room", per_room);
        r.param("hz", hz);
        r.param("duration_s", duration);
        let rec = Rc::new(RefCell::new(Recorder::new(self.room_names(rooms))));
        let room_of = |i: usize| i / per_room;
        let (tasks, errors) = self
            .fanout_clients(0, rooms * per_room, &room_of, &rec)
            .await;
        if tasks.is_empty() {
            bail!("no connection succeeded");
        }
        timed_wait(warmup, "warmup", self.common.quiet).await;
        let w = self.measure_ticks(&rec, duration, hz, "tick-fanout").await;
        w.write(&mut r, "");
        self.server_rss(&mut r, "");
        r.metric("errors", errors as f64);
        r.curves.insert("tick_latency".into(), w.curve);
        for t in tasks {
            t.abort();
        }
        if w.msgs == 0 {
            bail!("no tick received");
        }
        Ok(r)
    }

    fn room_names(&self, rooms: usize) -> Vec<String> {
        (0..rooms).map(|n| self.room(n)).collect()
    }

    fn server_rss(&self, r: &mut RunResult, prefix: &str) {
        if let Some(pid) = self.common.server_pid {
            if let Ok(kib) = procfs::rss_kib(pid) {
                r.metric(&format!("{prefix}server_rss_kib"), kib as f64);
            }
        }
    }

    /// One measurement window over the running readers.
    async fn measure_ticks(
        &self,
        rec: &Rc<RefCell<Recorder>>,
        duration: f64,
        hz: f64,
        what: &str,
    ) -> TickWindow {
        rec.borrow_mut().begin();
        let window = Window::start(self.common.server_pid);
        let t0 = Instant::now();
        timed_wait(duration, what, self.common.quiet).await;
        let secs = t0.elapsed().as_secs_f64();
        let mut w = rec.borrow_mut().end(secs, hz);
        let mut scratch = RunResult::default();
        window.finish(&mut scratch, "");
        w.cpu = scratch.metrics;
        w.notes = scratch.notes;
        w
    }

    async fn capacity(
        &self,
        per_room: usize,
        hz: f64,
        steps: &[usize],
        p99_limit_ms: f64,
        warmup: f64,
        duration: f64,
    ) -> Result<RunResult> {
        let mut r = RunResult::new("capacity");
        r.param("per_room", per_room);
        r.param("hz", hz);
        r.param("steps", steps.to_vec());
        r.param("p99_limit_ms", p99_limit_ms);
        let max_rooms = steps.iter().max().copied().unwrap_or(0).div_ceil(per_room);
        let rec = Rc::new(RefCell::new(Recorder::new(self.room_names(max_rooms))));
        let room_of = |i: usize| i / per_room;
        let mut tasks = Vec::new();
        let mut connected = 0;
        let mut held = 0usize;
        let mut verdict = "every step passed".to_owned();
        for &players in steps {
            let players = players.div_ceil(per_room) * per_room;
            if players > connected {
                let (mut new, errors) = self
                    .fanout_clients(connected, players - connected, &room_of, &rec)
                    .await;
                tasks.append(&mut new);
                connected = players;
                if errors > 0 {
                    verdict = format!("{errors} connections failed at {players} players");
                    break;
                }
            }
            timed_wait(warmup, "warmup", self.common.quiet).await;
            let w = self
                .measure_ticks(&rec, duration, hz, &format!("{players} players"))
                .await;
            let mut step = std::collections::BTreeMap::new();
            step.insert("players".to_owned(), players as f64);
            step.insert("p50_us".to_owned(), w.lat.p50);
            step.insert("p99_us".to_owned(), w.lat.p99);
            step.insert("max_us".to_owned(), w.lat.max);
            step.insert("missed".to_owned(), w.missed as f64);
            step.insert("missed_pct".to_owned(), w.missed_pct());
            step.insert("server_skipped_slots".to_owned(), w.server_skipped as f64);
            step.insert("msgs_per_s".to_owned(), w.msgs as f64 / w.secs);
            step.insert("disconnects".to_owned(), w.disconnects as f64);
            for (k, v) in &w.cpu {
                step.insert(k.clone(), *v);
            }
            let gen_saturated =
                w.cpu.get("gen_cpu_pct").copied().unwrap_or(0.0) > GEN_SATURATED_PCT;
            r.steps.push(step);
            if !self.common.quiet {
                eprintln!(
                    "capacity: {players} players p99 {:.1} ms, missed {}, server CPU {:.0}%, generator CPU {:.0}%",
                    w.lat.p99 / 1e3,
                    w.missed,
                    w.cpu.get("server_cpu_pct").copied().unwrap_or(f64::NAN),
                    w.cpu.get("gen_cpu_pct").copied().unwrap_or(f64::NAN)
                );
            }
            let pass = w.missed == 0 && w.disconnects == 0 && w.lat.p99 <= p99_limit_ms * 1e3;
            if !pass {
                verdict = format!(
                    "failed at {players} players: p99 {:.1} ms, {} missed ticks, {} disconnects",
                    w.lat.p99 / 1e3,
                    w.missed,
                    w.disconnects
                );
                if gen_saturated {
                    verdict.push_str(" (generator saturated)");
                    r.metric("gen_saturated", 1.0);
                }
                break;
            }
            held = players;
            r.curves.insert("tick_latency".into(), w.curve.clone());
            if gen_saturated {
                verdict =
                    format!("generator saturated at {players} players (server still passing)");
                r.metric("gen_saturated", 1.0);
                break;
            }
        }
        for t in tasks {
            t.abort();
        }
        r.metric("players_held", held as f64);
        r.notes.push(verdict);
        Ok(r)
    }

    async fn slow_consumer(
        &self,
        rooms: usize,
        normal: usize,
        hz: f64,
        warmup: f64,
        duration: f64,
        stall: Stall,
    ) -> Result<RunResult> {
        let Stall {
            settle: stall_settle,
            rcvbuf: stalled_rcvbuf,
            rooms: stalled_rooms,
        } = stall;
        let mut r = RunResult::new("slow-consumer");
        r.param("rooms", rooms);
        r.param("normal", normal);
        r.param("hz", hz);
        r.param("duration_s", duration);
        r.param("stalled_rcvbuf", stalled_rcvbuf);
        r.param("stalled_rooms", stalled_rooms);
        let pid = self.common.server_pid;
        if let Some(pid) = pid {
            procfs::reset_peak_rss(pid).ok();
        }
        let rec = Rc::new(RefCell::new(Recorder::new(self.room_names(rooms))));
        let room_of = |i: usize| i % rooms;
        let (tasks, errors) = self.fanout_clients(0, normal, &room_of, &rec).await;
        if tasks.is_empty() {
            bail!("no connection succeeded");
        }
        timed_wait(warmup, "warmup", self.common.quiet).await;
        let base = self.measure_ticks(&rec, duration, hz, "without").await;
        base.write(&mut r, "without_");
        self.server_rss(&mut r, "without_");
        if let Some(pid) = pid {
            r.metric(
                "without_peak_rss_kib",
                procfs::peak_rss_kib(pid).unwrap_or(0) as f64,
            );
        }
        // The stalled client: joins its rooms, then never reads again.
        let opts = ConnectOptions {
            recv_buffer: Some(stalled_rcvbuf),
            mss: Some(STALLED_MSS),
        };
        let mut stalled = tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(self.addr, opts))
            .await
            .context("connecting the stalled client: timed out")?
            .context("connecting the stalled client")?;
        for room in 0..stalled_rooms {
            let name = format!("\"{}\"", self.room(room));
            let join = stalled.call("join", &name, |_| {});
            let ack = tokio::time::timeout(CONNECT_TIMEOUT, join)
                .await
                .context("the stalled client's join: timed out")??;
            if ack != br#"["ok"]"# {
                bail!("stalled join answered {}", String::from_utf8_lossy(&ack));
            }
        }
        let stalled_since = Instant::now();
        timed_wait(stall_settle, "stalling", self.common.quiet).await;
        let with = self.measure_ticks(&rec, duration, hz, "with").await;
        with.write(&mut r, "with_");
        self.server_rss(&mut r, "with_");
        if let Some(pid) = pid {
            r.metric(
                "peak_rss_kib",
                procfs::peak_rss_kib(pid).unwrap_or(0) as f64,
            );
        }
        let stalled_secs = stalled_since.elapsed().as_secs_f64();
        // Resume reading: how many ticks stamped before now were still queued for the
        // stalled client (in the server and in both kernels)? Read until caught up.
        let resume_us = client::now_us();
        let mut frames = 0u64;
        let mut caught_up = false;
        let mut closed = false;
        let resume_end = Instant::now() + Duration::from_secs(3);
        while !caught_up && Instant::now() < resume_end {
            match stalled
                .recv_timeout(Duration::from_millis(500), |msg| {
                    if let Some(s) = client::parse_state(msg) {
                        if s.t < resume_us {
                            frames += 1;
                        } else {
                            caught_up = true;
                        }
                    }
                })
                .await
            {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        for t in tasks {
            t.abort();
        }
        r.metric("stalled_secs", stalled_secs);
        r.metric("stalled_frames_after_resume", frames as f64);
        r.metric(
            "stalled_ticks_sent",
            stalled_secs * hz * stalled_rooms as f64,
        );
        r.metric("stalled_disconnected", if closed { 1.0 } else { 0.0 });
        r.metric("errors", errors as f64);
        if base.lat.p99 > 0.0 {
            r.metric("p99_ratio", with.lat.p99 / base.lat.p99);
        }
        r.curves.insert("without".into(), base.curve);
        r.curves.insert("with".into(), with.curve);
        Ok(r)
    }
}

/// How the slow-consumer scenario stalls its one client.
struct Stall {
    settle: f64,
    rcvbuf: u32,
    rooms: usize,
}

/// Do the echoed arguments equal `[payload]`? Byte-equal, or equal as JSON values.
fn echo_matches(args: &[u8], payload: &str) -> bool {
    let inner = args.strip_prefix(b"[").and_then(|a| a.strip_suffix(b"]"));
    if inner == Some(payload.as_bytes()) {
        return true;
    }
    let got: Option<serde_json::Value> = serde_json::from_slice(args).ok();
    let want: Option<serde_json::Value> = serde_json::from_str(payload).ok();
    matches!((got, want), (Some(serde_json::Value::Array(g)), Some(w)) if g.len() == 1 && g[0] == w)
}

/// What the tick readers record during a window.
struct Recorder {
    active: bool,
    room_names: Vec<String>,
    client_room: Vec<usize>,
    lat: Vec<u32>,
    msgs: u64,
    /// Per client: ticks received in the window, and the first and last slot.
    counts: Vec<u64>,
    first: Vec<u64>,
    last: Vec<u64>,
    /// Per room: tick slots seen by any member in the window, with the server's stamp `t`.
    slots: Vec<HashMap<u64, u64>>,
    /// Per message: its room, slot and latency from `t`, for the latency from the slot's
    /// scheduled start once the window's lateness is known.
    per_msg: Vec<(u32, u64, u32)>,
    wrong_room: u64,
    checked: Vec<bool>,
    disconnects: u64,
    /// Both clocks read as the window opened (see [`ClockRate`]).
    opened: Option<ClockRate>,
}

/// The wall clock's rate against the monotonic one over a window. The servers schedule
/// their ticks on the monotonic clock and stamp them with the wall clock, which a VM's
/// time keeping may run faster or slower (this machine's has run 0.5 % fast): a tick's
/// lateness is then read against slots `period × rate` apart on the wall clock, or a
/// 3-s window would show up to 15 ms of lateness that no tick had.
#[derive(Clone, Copy)]
struct ClockRate {
    mono: std::time::Instant,
    wall_us: u64,
}

impl ClockRate {
    fn now() -> ClockRate {
        ClockRate {
            mono: std::time::Instant::now(),
            wall_us: client::now_us(),
        }
    }

    /// Wall-clock µs per monotonic µs since `self` (1 when too short to tell).
    fn rate_since(self) -> f64 {
        let mono = self.mono.elapsed().as_secs_f64() * 1e6;
        let wall = client::now_us().saturating_sub(self.wall_us) as f64;
        if mono < 100_000.0 {
            return 1.0;
        }
        (wall / mono).clamp(0.9, 1.1)
    }
}

/// One window's figures.
struct TickWindow {
    secs: f64,
    lat: stats::Summary,
    /// How late ticks were stamped after their scheduled start.
    late: stats::Summary,
    /// Latency from each tick's scheduled start (lateness + delivery).
    scheduled: stats::Summary,
    /// The wall clock's rate against the monotonic one over the window.
    clock_rate: f64,
    curve: Vec<[f64; 2]>,
    msgs: u64,
    expected: u64,
    missed: u64,
    server_skipped: u64,
    wrong_room: u64,
    disconnects: u64,
    clients: usize,
    cpu: std::collections::BTreeMap<String, f64>,
    notes: Vec<String>,
}

impl TickWindow {
    fn missed_pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            100.0 * self.missed as f64 / self.expected as f64
        }
    }

    fn write(&self, r: &mut RunResult, prefix: &str) {
        let m = |r: &mut RunResult, k: &str, v: f64| r.metric(&format!("{prefix}{k}"), v);
        m(r, "p50_us", self.lat.p50);
        m(r, "p90_us", self.lat.p90);
        m(r, "p99_us", self.lat.p99);
        m(r, "p999_us", self.lat.p999);
        m(r, "max_us", self.lat.max);
        m(r, "late_p50_us", self.late.p50);
        m(r, "late_p99_us", self.late.p99);
        m(r, "late_max_us", self.late.max);
        m(r, "sched_p99_us", self.scheduled.p99);
        m(r, "wall_clock_skew_ppm", (self.clock_rate - 1.0) * 1e6);
        m(r, "msgs_per_s", self.msgs as f64 / self.secs);
        m(r, "missed", self.missed as f64);
        m(r, "missed_pct", self.missed_pct());
        m(r, "server_skipped_slots", self.server_skipped as f64);
        m(r, "wrong_room", self.wrong_room as f64);
        m(r, "disconnects", self.disconnects as f64);
        m(r, "clients", self.clients as f64);
        for (k, v) in &self.cpu {
            m(r, k, *v);
        }
        for n in &self.notes {
            r.notes.push(format!("{prefix}{n}"));
        }
    }
}

impl Recorder {
    fn new(room_names: Vec<String>) -> Recorder {
        let rooms = room_names.len();
        Recorder {
            active: false,
            room_names,
            client_room: Vec::new(),
            lat: Vec::new(),
            msgs: 0,
            counts: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            slots: vec![HashMap::new(); rooms],
            per_msg: Vec::new(),
            wrong_room: 0,
            checked: Vec::new(),
            disconnects: 0,
            opened: None,
        }
    }

    fn add_client(&mut self, idx: usize, room: usize) {
        if self.client_room.len() <= idx {
            self.client_room.resize(idx + 1, usize::MAX);
            self.counts.resize(idx + 1, 0);
            self.first.resize(idx + 1, u64::MAX);
            self.last.resize(idx + 1, 0);
            self.checked.resize(idx + 1, false);
        }
        self.client_room[idx] = room;
    }

    fn record(&mut self, idx: usize, stamp: client::StateStamp, now: u64, msg: &[u8]) {
        if !self.checked[idx] {
            // Sanity, once per client: the tick is for the room it joined.
            self.checked[idx] = true;
            let room = &self.room_names[self.client_room[idx]];
            if client::state_room(msg) != Some(room.as_bytes()) {
                self.wrong_room += 1;
            }
        }
        if !self.active {
            return;
        }
        let latency = now.saturating_sub(stamp.t).min(u64::from(u32::MAX)) as u32;
        self.lat.push(latency);
        self.msgs += 1;
        self.counts[idx] += 1;
        self.first[idx] = self.first[idx].min(stamp.tick);
        self.last[idx] = self.last[idx].max(stamp.tick);
        let room = self.client_room[idx];
        self.slots[room].insert(stamp.tick, stamp.t);
        self.per_msg.push((room as u32, stamp.tick, latency));
    }

    fn begin(&mut self) {
        self.active = true;
        self.lat.clear();
        self.msgs = 0;
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.first.iter_mut().for_each(|c| *c = u64::MAX);
        self.last.iter_mut().for_each(|c| *c = 0);
        self.slots.iter_mut().for_each(HashMap::clear);
        self.per_msg.clear();
        self.disconnects = 0;
        self.opened = Some(ClockRate::now());
    }

    /// Close the window of `secs` seconds at `hz` and compute its figures.
    ///
    /// A client misses a tick when a slot inside its room's range for the window (the slots
    /// any member received) did not reach it. At each edge of the window one slot is
    /// forgiven: a tick that arrives as the window opens or closes may be recorded for some
    /// members of the room and not for others. A room whose range is shorter than the clock
    /// says had ticks skipped (or delayed past the window) by the server.
    fn end(&mut self, secs: f64, hz: f64) -> TickWindow {
        self.active = false;
        let by_time = ((secs * hz).floor() as u64).saturating_sub(1);
        let mut ranges: Vec<Option<(u64, u64)>> = vec![None; self.slots.len()];
        let mut deficit = vec![0u64; self.slots.len()];
        let mut occupied = vec![false; self.slots.len()];
        for &room in self.client_room.iter().filter(|&&r| r != usize::MAX) {
            occupied[room] = true;
        }
        let mut server_skipped = 0;
        for (room, slots) in self.slots.iter().enumerate() {
            if !occupied[room] {
                continue; // no client joined it (yet): nothing to expect
            }
            let range = slots.keys().min().copied().zip(slots.keys().max().copied());
            let span = range.map_or(0, |(lo, hi)| hi - lo + 1);
            deficit[room] = by_time.saturating_sub(span);
            server_skipped += span.saturating_sub(slots.len() as u64) + deficit[room];
            ranges[room] = range;
        }
        let mut expected = 0;
        let mut missed = 0;
        let mut clients = 0;
        for (idx, &room) in self.client_room.iter().enumerate() {
            if room == usize::MAX {
                continue;
            }
            clients += 1;
            let Some((lo, hi)) = ranges[room] else {
                expected += by_time;
                missed += by_time;
                continue;
            };
            expected += hi - lo + 1 + deficit[room];
            let count = self.counts[idx];
            missed += deficit[room];
            if count == 0 {
                missed += hi - lo + 1;
                continue;
            }
            let (first, last) = (self.first[idx], self.last[idx]);
            missed += (last - first + 1).saturating_sub(count);
            missed += (first - lo).saturating_sub(1);
            missed += (hi - last).saturating_sub(1);
        }
        let mut lat = std::mem::take(&mut self.lat);
        let summary = stats::summarize(&mut lat);
        let clock_rate = self.opened.take().map_or(1.0, ClockRate::rate_since);
        let (mut late, late_of) = self.lateness(hz, clock_rate);
        let mut scheduled: Vec<u32> = self
            .per_msg
            .iter()
            .map(|&(room, slot, latency)| {
                let late = late_of.get(&(room, slot)).copied().unwrap_or(0);
                latency.saturating_add(late)
            })
            .collect();
        TickWindow {
            late: stats::summarize(&mut late),
            scheduled: stats::summarize(&mut scheduled),
            clock_rate,
            secs,
            curve: stats::quantile_curve(&lat),
            lat: summary,
            msgs: self.msgs,
            expected,
            missed,
            server_skipped,
            wrong_room: self.wrong_room,
            disconnects: self.disconnects,
            clients,
            cpu: Default::default(),
            notes: Vec::new(),
        }
    }
}

impl Recorder {
    /// Tick lateness: how long after its scheduled start each room's tick was stamped. A
    /// room's slot `n` is due at `start + n / hz`; the start is not on the wire, so it is
    /// taken from the room's earliest tick of the window (lateness is then relative to the
    /// least late tick, never negative). The slots are `rate` times the period apart on the
    /// wall clock the stamps come from (see [`ClockRate`]). Returns every (room, slot)'s
    /// lateness in µs.
    fn lateness(&self, hz: f64, rate: f64) -> (Vec<u32>, HashMap<(u32, u64), u32>) {
        let period = 1e6 / hz * rate;
        let mut all = Vec::new();
        let mut of = HashMap::new();
        for (room, slots) in self.slots.iter().enumerate() {
            let offset = |(&slot, &t): (&u64, &u64)| t as f64 - slot as f64 * period;
            let Some(base) = slots.iter().map(offset).reduce(f64::min) else {
                continue;
            };
            for entry in slots {
                let late = (offset(entry) - base).clamp(0.0, f64::from(u32::MAX)) as u32;
                all.push(late);
                of.insert((room as u32, *entry.0), late);
            }
        }
        (all, of)
    }
}

fn print_result(r: &RunResult) {
    println!(
        "== {} {}",
        r.scenario,
        serde_json::to_string(&r.params).unwrap_or_default()
    );
    for (k, v) in &r.metrics {
        println!("  {k:<32} {v:>14.2}");
    }
    for step in &r.steps {
        let line: Vec<String> = step.iter().map(|(k, v)| format!("{k}={v:.1}")).collect();
        println!("  step: {}", line.join(" "));
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
}

/// The connections that succeeded and how many of `n` failed (the first failure printed).
fn tally<T>(results: impl Iterator<Item = Result<T>>, n: usize, what: &str) -> (Vec<T>, usize) {
    let mut ok = Vec::with_capacity(n);
    let mut errors = 0;
    let mut first_error = None;
    for r in results {
        match r {
            Ok(c) => ok.push(c),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("{errors} of {n} {what} failed; first: {e:#}");
    }
    (ok, errors)
}

/// Connections per step of the rate-against-held curve.
const RATE_STEP: usize = 1000;

/// The connect rate over each `step` of connections, against the connections held when
/// the step began; `done` holds the sorted finishing times.
fn rate_by_held(done: &[Duration], step: usize) -> Vec<BTreeMap<String, f64>> {
    let mut steps = Vec::new();
    let mut start = Duration::ZERO;
    for (i, chunk) in done.chunks(step).enumerate() {
        let (Some(&end), true) = (chunk.last(), chunk.len() == step) else {
            break;
        };
        let secs = (end - start).as_secs_f64().max(1e-6);
        steps.push(BTreeMap::from([
            ("held".to_owned(), (i * step) as f64),
            ("conn_per_s".to_owned(), step as f64 / secs),
        ]));
        start = end;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_is_measured_against_each_rooms_own_schedule() {
        let mut rec = Recorder::new(vec!["a".into(), "b".into()]);
        // 20 Hz: slots 50 ms apart. Room a: slot 10 on time, slot 11 3 ms late, slot 12 on
        // time. Room b runs on its own clock (offset 7 ms), slot 5 1 ms late.
        let t0 = 1_000_000_000u64;
        rec.slots[0].extend([(10, t0 + 500_000), (11, t0 + 553_000), (12, t0 + 600_000)]);
        rec.slots[1].extend([(4, t0 + 207_000), (5, t0 + 258_000)]);
        let (mut all, of) = rec.lateness(20.0, 1.0);
        all.sort_unstable();
        assert_eq!(all, vec![0, 0, 0, 1_000, 3_000]);
        assert_eq!(of[&(0, 11)], 3_000);
        assert_eq!(of[&(1, 5)], 1_000);
        assert_eq!(of[&(1, 4)], 0);
    }

    #[test]
    fn a_wall_clock_running_fast_adds_no_lateness() {
        let mut rec = Recorder::new(vec!["a".into()]);
        // 60 Hz on time for 3 s, stamped by a wall clock 0.5 % fast: 15 ms apart by the end.
        let period = 1e6 / 60.0;
        let t0 = 1_000_000_000u64;
        rec.slots[0].extend((0..180u64).map(|n| (n, t0 + (n as f64 * period * 1.005) as u64)));
        let (mut skewed, _) = rec.lateness(60.0, 1.0);
        skewed.sort_unstable();
        assert!(
            skewed[skewed.len() - 1] > 14_000,
            "the skew reads as lateness"
        );
        let (corrected, _) = rec.lateness(60.0, 1.005);
        assert!(corrected.iter().all(|&late| late <= 1), "{corrected:?}");
    }

    #[test]
    fn the_rate_is_taken_per_step_of_connections_held() {
        // 2 per step: the first pair done by 1 s, the second by 1.5 s, the fifth alone.
        let ms = |m| Duration::from_millis(m);
        let done = [ms(400), ms(1000), ms(1200), ms(1500), ms(1600)];
        let steps = rate_by_held(&done, 2);
        assert_eq!(steps.len(), 2, "a partial last step is left out");
        assert_eq!(steps[0]["held"], 0.0);
        assert_eq!(steps[0]["conn_per_s"], 2.0);
        assert_eq!(steps[1]["held"], 2.0);
        assert!((steps[1]["conn_per_s"] - 4.0).abs() < 1e-9);
    }
}
