//! The benchmark runner: every scenario against every contract server, interleaved
//! (A B C D, A B C D, … for each repetition), the server pinned to core 0 and the load
//! generator to core 1. Prints medians with min–max and each peer's ratio to tickwire, and
//! writes `results.json`, `summary.md` and SVG latency plots to the output directory.
//!
//! Run through `benches/run.sh`, which builds everything first. Each server is started
//! fresh for each run and killed by its PID afterwards.
//!
//! `--cluster` runs the cluster scenarios instead (results in `<out>/cluster/`): per run a
//! fresh `redis-server` on a free port and two nodes of one server kind on it — tickwire on
//! the pub/sub bus (`tickwire`, like for like with the peers' pub/sub adapters), tickwire on
//! the streams bus (`tickwire-streams`), Node with `@socket.io/redis-adapter` and
//! socketioxide with `socketioxide-redis` — driven by `loadgen cluster-broadcast`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use serde::Serialize;
use tickwire_benches::procfs;
use tickwire_benches::report::RunResult;

#[derive(Parser)]
#[command(about = "run every benchmark scenario against every contract server")]
struct Args {
    /// Repetitions (each repetition runs every server once per scenario).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Servers, in interleaving order (`tickwire-plain` runs idle-memory only, `floor-rooms`
    /// the tick fan-out scenarios only). Default: tickwire, tickwire-plain, node,
    /// socketioxide, floor, floor-rooms; with `--cluster`: tickwire, tickwire-streams, node,
    /// socketioxide.
    #[arg(long, value_delimiter = ',')]
    servers: Vec<String>,
    /// Run the cluster scenarios (two nodes of each server on a Redis of the run's own)
    /// instead of the single-server ones; results go to `<out>/cluster/`.
    #[arg(long)]
    cluster: bool,
    /// Only these scenarios (keys as printed, e.g. `echo-ack,fanout-10x100@60`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Tiny sizes and one repetition: checks the pipeline in seconds.
    #[arg(long)]
    quick: bool,
    /// Also run the other two tick-fanout shapes (10×100 @ 20 Hz, 100×10 @ 60 Hz).
    #[arg(long)]
    all_shapes: bool,
    /// Output directory.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// The benches directory (peers live under `peers/`).
    #[arg(long, default_value = env!("CARGO_MANIFEST_DIR"))]
    benches_dir: PathBuf,
    /// After the runs, profile tickwire with `perf` during tick fan-out 10×100 @ 60 Hz and
    /// say where its time goes.
    #[arg(long)]
    perf: bool,
    /// Another build of tickwire's bench-server, run as server `tickwire-baseline` beside
    /// the current one (to compare two versions in one interleaved run).
    #[arg(long)]
    baseline: Option<PathBuf>,
}

/// One scenario configuration: a loadgen subcommand, its flags and the server's TICK_HZ.
#[derive(Debug, Clone, Serialize)]
struct Spec {
    key: String,
    scenario: String,
    tick_hz: Option<u32>,
    args: Vec<String>,
    /// Longest the loadgen may take before it is killed.
    timeout_s: u64,
    /// Nodes on a Redis of the run's own; 0: one contract server.
    nodes: usize,
    /// The nodes form a game cluster (`GAME_CLUSTER=1`, tickwire only); otherwise they are
    /// contract servers with `REDIS_URL` (every server kind).
    game: bool,
    /// Pin the processes to cores (the default); `false` lets the scheduler place them.
    pin: bool,
}

fn spec(key: &str, scenario: &str, tick_hz: Option<u32>, args: &str, timeout_s: u64) -> Spec {
    Spec {
        key: key.to_owned(),
        scenario: scenario.to_owned(),
        tick_hz,
        args: args.split_whitespace().map(str::to_owned).collect(),
        timeout_s,
        nodes: 0,
        game: false,
        pin: true,
    }
}

/// Matches across `nodes` nodes of a game cluster: `matches` × `per` players at `hz`.
fn cluster_spec(matches: usize, per: usize, hz: u32, nodes: usize, quick: bool) -> Spec {
    let key = if nodes == 1 {
        format!("one-node-{matches}x{per}@{hz}")
    } else {
        format!("cluster-{matches}x{per}@{hz}")
    };
    let (warmup, duration) = if quick { (0.5, 1.0) } else { (1.0, 10.0) };
    Spec {
        nodes,
        game: true,
        ..spec(
            &key,
            "cluster-match",
            Some(hz),
            &format!(
                "--matches {matches} --per-match {per} --hz {hz} --warmup {warmup} --duration {duration}"
            ),
            120,
        )
    }
}

/// [`cluster_spec`] with nothing pinned: key `free-…`. Run on its own (`--only`), to tell
/// what one overcommitted core does to the pinned shape from what the bus costs.
fn unpinned(spec: Spec) -> Spec {
    Spec {
        key: format!("free-{}", spec.key),
        pin: false,
        ..spec
    }
}

/// Broadcasts across two contract servers on one Redis (`loadgen cluster-broadcast`).
fn broadcast_spec(key: &str, args: &str) -> Spec {
    Spec {
        nodes: 2,
        ..spec(key, "cluster-broadcast", None, args, 120)
    }
}

/// The cluster scenarios (`--cluster`; documented in README): cross-node latency at 1,000
/// and 10,000 broadcasts/s (publisher on node A, 4 receivers on node B) and fan-out to
/// 1,000 sockets per node.
fn cluster_specs(quick: bool) -> Vec<Spec> {
    let (window, fanout) = if quick {
        ("--warmup 0.5 --duration 1 --drain 2", 200)
    } else {
        ("--warmup 1 --duration 3 --drain 3", 1000)
    };
    vec![
        broadcast_spec(
            "cluster-bcast@1k",
            &format!("--rate 1000 --batch-ms 1 --receivers-a 0 --receivers-b 4 {window}"),
        ),
        broadcast_spec(
            "cluster-bcast@10k",
            &format!("--rate 10000 --batch-ms 1 --receivers-a 0 --receivers-b 4 {window}"),
        ),
        broadcast_spec(
            "cluster-fanout-2x1000@20",
            &format!(
                "--rate 20 --batch-ms 1 --receivers-a {} --receivers-b {fanout} {window}",
                fanout - 1
            ),
        ),
    ]
}

/// The sizes of a full run (documented in README) and of `--quick`.
fn specs(quick: bool, all_shapes: bool) -> Vec<Spec> {
    if quick {
        return vec![
            spec(
                "connect",
                "connect",
                None,
                "--conns 200 --concurrency 20",
                30,
            ),
            spec(
                "idle-memory",
                "idle-memory",
                None,
                "--conns 300 --settle 0.3",
                30,
            ),
            spec(
                "echo-ack",
                "echo-ack",
                None,
                "--clients 10 --warmup 0.2 --duration 1",
                30,
            ),
            spec(
                "polling-connect",
                "polling-connect",
                None,
                "--conns 100 --concurrency 10",
                30,
            ),
            spec(
                "polling-echo",
                "polling-echo",
                None,
                "--clients 5 --warmup 0.2 --duration 1",
                30,
            ),
            spec(
                "fanout-10x100@60",
                "tick-fanout",
                Some(60),
                "--rooms 4 --per-room 25 --hz 60 --warmup 0.5 --duration 1",
                30,
            ),
            spec(
                "capacity@20",
                "capacity",
                Some(20),
                "--per-room 10 --hz 20 --steps 100,200 --warmup 0.5 --duration 1",
                60,
            ),
            spec(
                "slow-consumer",
                "slow-consumer",
                Some(60),
                "--rooms 2 --normal 49 --hz 60 --warmup 0.5 --duration 1 --stall-settle 0.5",
                60,
            ),
            cluster_spec(4, 4, 30, 2, true),
        ];
    }
    let fanout = |rooms: usize, per: usize, hz: u32| {
        spec(
            &format!("fanout-{rooms}x{per}@{hz}"),
            "tick-fanout",
            Some(hz),
            &format!("--rooms {rooms} --per-room {per} --hz {hz} --warmup 0.5 --duration 3"),
            90,
        )
    };
    let mut v = vec![
        spec(
            "connect",
            "connect",
            None,
            "--conns 1000 --concurrency 50",
            90,
        ),
        // Connection storms: every client held to the end, so the largest also draws the
        // rate against connections held, up to the 20,000 files a process may open here.
        spec(
            "storm-5000@c100",
            "connect",
            None,
            "--conns 5000 --concurrency 100",
            120,
        ),
        spec(
            "storm-15000@c200",
            "connect",
            None,
            "--conns 15000 --concurrency 200",
            180,
        ),
        spec(
            "storm-19000@c200",
            "connect",
            None,
            "--conns 19000 --concurrency 200",
            180,
        ),
        spec(
            "idle-memory",
            "idle-memory",
            None,
            "--conns 15000 --concurrency 200 --settle 1",
            180,
        ),
        // Long-polling, the fallback a proxy that refuses websockets forces.
        spec(
            "polling-connect",
            "polling-connect",
            None,
            "--conns 2000 --concurrency 50",
            120,
        ),
        spec(
            "polling-echo",
            "polling-echo",
            None,
            "--clients 50 --warmup 0.5 --duration 3",
            90,
        ),
        spec(
            "echo-ack",
            "echo-ack",
            None,
            "--clients 50 --warmup 0.5 --duration 3",
            90,
        ),
        fanout(10, 100, 60),
        fanout(100, 10, 20),
    ];
    if all_shapes {
        v.push(fanout(10, 100, 20));
        v.push(fanout(100, 10, 60));
    }
    v.push(spec(
        "capacity@20",
        "capacity",
        Some(20),
        "--per-room 10 --hz 20 --steps 2000,3000,4000,5000,6000,8000 --warmup 0.5 --duration 1.5",
        180,
    ));
    v.push(spec(
        "slow-consumer",
        "slow-consumer",
        Some(60),
        "--rooms 10 --normal 999 --hz 60 --warmup 0.5 --duration 2 --stall-settle 1.5",
        90,
    ));
    // Matches across nodes: the issue's shape, half of it (which this machine holds with
    // the generator beside it), and the same load on one node (no bus) for comparison.
    v.push(cluster_spec(100, 10, 30, 2, false));
    v.push(cluster_spec(50, 10, 30, 2, false));
    v.push(cluster_spec(100, 10, 30, 1, false));
    v
}

/// Scenarios that run only when `--only` names them.
fn optional_specs() -> Vec<Spec> {
    vec![unpinned(cluster_spec(100, 10, 30, 2, false))]
}

/// How to start one contract server.
struct ServerCmd {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn server_cmd(
    name: &str,
    bins: &Path,
    benches: &Path,
    baseline: Option<&Path>,
) -> Result<ServerCmd> {
    let mut env = Vec::new();
    let (program, args) = match name {
        "tickwire" => (bins.join("bench-server"), vec![]),
        // On the streams bus (the cluster scenarios; elsewhere the same as `tickwire`).
        "tickwire-streams" => {
            env.push(("REDIS_BUS".to_owned(), "streams".to_owned()));
            (bins.join("bench-server"), vec![])
        }
        "tickwire-baseline" => match baseline {
            Some(path) => (path.to_path_buf(), vec![]),
            None => bail!("tickwire-baseline needs --baseline <path to a bench-server>"),
        },
        // The same server mounted in a plain `actix_web::HttpServer`.
        "tickwire-plain" => (bins.join("bench-server"), vec!["--plain".to_owned()]),
        "floor" => (bins.join("floor-server"), vec![]),
        "floor-rooms" => {
            // The floor with one clock per room, like tickwire's match rooms.
            env.push(("FLOOR_ROOM_CLOCKS".to_owned(), "1".to_owned()));
            (bins.join("floor-server"), vec![])
        }
        "socketioxide" => (
            benches.join("peers/socketioxide/target/release/socketioxide-peer"),
            vec![],
        ),
        "node" => (
            PathBuf::from("node"),
            vec![benches
                .join("peers/node-socketio/server.js")
                .display()
                .to_string()],
        ),
        other => {
            bail!(
                "unknown server {other:?} \
                 (tickwire, tickwire-baseline, tickwire-plain, tickwire-streams, node, \
                 socketioxide, floor, floor-rooms)"
            )
        }
    };
    if program.components().count() > 1 && !program.exists() {
        bail!(
            "{} not built: run benches/run.sh (it builds every server)",
            program.display()
        );
    }
    Ok(ServerCmd {
        name: name.to_owned(),
        program,
        args,
        env,
    })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Prefix `cmd` with `taskset -c CORE` when the machine has that core.
fn pinned(core: usize, program: &Path, pin: bool) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(core.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A server we started; killed (by its PID) when dropped.
struct Server {
    child: Child,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(cmd: &ServerCmd, spec: &Spec, port: u16, log: &Path, pin: bool) -> Result<Server> {
    start_server_on(cmd, spec, port, log, pin, 0)
}

fn start_server_on(
    cmd: &ServerCmd,
    spec: &Spec,
    port: u16,
    log: &Path,
    pin: bool,
    core: usize,
) -> Result<Server> {
    let mut c = pinned(core, &cmd.program, pin);
    c.args(&cmd.args).arg("--port").arg(port.to_string());
    c.envs(cmd.env.iter().map(|(k, v)| (k, v)));
    match spec.tick_hz {
        Some(hz) => c.env("TICK_HZ", hz.to_string()),
        None => c.env_remove("TICK_HZ"),
    };
    let out = std::fs::File::create(log)?;
    c.stdout(out.try_clone()?).stderr(out).stdin(Stdio::null());
    let child = c
        .spawn()
        .with_context(|| format!("starting {}", cmd.program.display()))?;
    let mut server = Server { child };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!(
                "{} exited at start ({status}); see {}",
                cmd.name,
                log.display()
            );
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not listen within 20 s; see {}",
                cmd.name,
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the runtime settle (Node compiles lazily) before the baseline is taken.
    std::thread::sleep(Duration::from_millis(200));
    Ok(server)
}

struct Ctx {
    bins: PathBuf,
    out: PathBuf,
    pin: bool,
}

/// One scenario against one server, on a fresh server process.
fn run_one(ctx: &Ctx, cmd: &ServerCmd, spec: &Spec, rep: usize) -> Result<RunResult> {
    if spec.nodes > 0 {
        return run_cluster(ctx, cmd, spec, rep);
    }
    let port = free_port()?;
    let tag = format!("{}-{}-{rep}", cmd.name, spec.key.replace('@', "_"));
    let logs = ctx.out.join("logs");
    let server = start_server(
        cmd,
        spec,
        port,
        &logs.join(format!("{tag}.server.log")),
        ctx.pin,
    )?;
    let json = logs.join(format!("{tag}.json"));
    let _ = std::fs::remove_file(&json);
    let mut lg = pinned(1, &ctx.bins.join("loadgen"), ctx.pin);
    lg.arg(&spec.scenario)
        .args(&spec.args)
        .args(["--port", &port.to_string()])
        .args(["--server-pid", &server.pid().to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--quiet");
    let log = std::fs::File::create(logs.join(format!("{tag}.loadgen.log")))?;
    lg.stdout(log.try_clone()?).stderr(log).stdin(Stdio::null());
    let status = wait_loadgen(lg.spawn().context("starting loadgen")?, spec.timeout_s)?;
    let peak = procfs::peak_rss_kib(server.pid()).ok();
    drop(server);
    if !status.success() {
        bail!("loadgen failed ({status}); see logs/{tag}.loadgen.log");
    }
    let mut r: RunResult = serde_json::from_slice(&std::fs::read(&json)?)?;
    if let Some(peak) = peak {
        r.metric("server_peak_rss_kib", peak as f64);
    }
    Ok(r)
}

/// A `redis-server` of a run's own, on a free port (killed by its PID when dropped).
fn start_redis(log: &Path, pin: bool) -> Result<(Server, u16)> {
    let port = free_port()?;
    let mut c = pinned(0, Path::new("redis-server"), pin);
    c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    let out = std::fs::File::create(log)?;
    c.stdout(out.try_clone()?).stderr(out).stdin(Stdio::null());
    let child = c
        .spawn()
        .context("starting redis-server (Debian's redis-server package)")?;
    let mut redis = Server { child };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if redis.child.try_wait()?.is_some() || Instant::now() > deadline {
            bail!("redis-server did not start; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((redis, port))
}

/// A cluster scenario: a Redis and `spec.nodes` nodes of one server kind (node k on core
/// k mod 2, Redis on core 0, the generator on core 1), all fresh. A game cluster is
/// tickwire's bench-server with `GAME_CLUSTER=1`; otherwise the nodes are contract servers
/// with `REDIS_URL`, tickwire on the pub/sub bus unless the command names another.
fn run_cluster(ctx: &Ctx, cmd: &ServerCmd, spec: &Spec, rep: usize) -> Result<RunResult> {
    let tag = format!("{}-{}-{rep}", cmd.name, spec.key.replace('@', "_"));
    let logs = ctx.out.join("logs");
    let pin = ctx.pin && spec.pin;
    let (redis, redis_port) = start_redis(&logs.join(format!("{tag}.redis.log")), pin)?;
    let mut node_cmd = ServerCmd {
        name: cmd.name.clone(),
        program: cmd.program.clone(),
        args: cmd.args.clone(),
        env: cmd.env.clone(),
    };
    node_cmd.env.push((
        "REDIS_URL".into(),
        format!("redis://127.0.0.1:{redis_port}/"),
    ));
    if spec.game {
        node_cmd.env.push(("GAME_CLUSTER".into(), "1".into()));
    } else if !node_cmd.env.iter().any(|(k, _)| k == "REDIS_BUS") {
        // Like for like with the peers' pub/sub adapters (peers ignore it).
        node_cmd.env.push(("REDIS_BUS".into(), "pubsub".into()));
    }
    let mut nodes = Vec::new();
    let mut ports = Vec::new();
    for k in 0..spec.nodes {
        let port = free_port()?;
        let log = logs.join(format!("{tag}.node{k}.log"));
        nodes.push(start_server_on(&node_cmd, spec, port, &log, pin, k % 2)?);
        ports.push(port.to_string());
    }
    let pids: Vec<String> = nodes.iter().map(|n| n.pid().to_string()).collect();
    let json = logs.join(format!("{tag}.json"));
    let _ = std::fs::remove_file(&json);
    let mut lg = pinned(1, &ctx.bins.join("loadgen"), pin);
    lg.arg(&spec.scenario)
        .args(&spec.args)
        .args(["--ports", &ports.join(",")])
        .args(["--server-pids", &pids.join(",")])
        .args(["--redis-pid", &redis.pid().to_string()]);
    if spec.game {
        lg.args(["--redis-port", &redis_port.to_string()]);
    }
    lg.arg("--json").arg(&json).arg("--quiet");
    let log = std::fs::File::create(logs.join(format!("{tag}.loadgen.log")))?;
    lg.stdout(log.try_clone()?).stderr(log).stdin(Stdio::null());
    let status = wait_loadgen(lg.spawn().context("starting loadgen")?, spec.timeout_s)?;
    drop(nodes);
    drop(redis);
    if !status.success() {
        bail!("loadgen failed ({status}); see logs/{tag}.loadgen.log");
    }
    Ok(serde_json::from_slice(&std::fs::read(&json)?)?)
}

/// Wait for the load generator, killing it after `timeout_s`.
fn wait_loadgen(mut child: Child, timeout_s: u64) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("loadgen timed out after {timeout_s} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A row of the table: a metric of a scenario, how to show it, and which way is better.
struct Row {
    key: &'static str,
    metric: &'static str,
    label: &'static str,
    scale: f64,
    higher_is_better: bool,
}

const fn row(
    key: &'static str,
    metric: &'static str,
    label: &'static str,
    scale: f64,
    higher_is_better: bool,
) -> Row {
    Row {
        key,
        metric,
        label,
        scale,
        higher_is_better,
    }
}

/// The connection-storm scenarios; the last one draws the rate against connections held.
const STORMS: [&str; 3] = ["storm-5000@c100", "storm-15000@c200", "storm-19000@c200"];

const MS: f64 = 1e-3;
const MIB: f64 = 1.0 / 1024.0;

fn rows() -> Vec<Row> {
    let mut v = vec![
        row("connect", "conn_per_s", "connect: conn/s", 1.0, true),
        row("connect", "latency_p50_us", "connect: p50 ms", MS, false),
        row("connect", "latency_p99_us", "connect: p99 ms", MS, false),
        row(
            "connect",
            "server_cpu_pct",
            "connect: server CPU %",
            1.0,
            false,
        ),
        row("idle-memory", "kib_per_conn", "idle: KiB/conn", 1.0, false),
        row(
            "idle-memory",
            "rss_holding_kib",
            "idle: RSS holding MiB",
            MIB,
            false,
        ),
        row(
            "echo-ack",
            "cpu_us_per_ack",
            "echo: server CPU µs/ack",
            1.0,
            false,
        ),
        row("echo-ack", "acks_per_s", "echo: acks/s", 1.0, true),
        row("echo-ack", "rtt_p50_us", "echo: RTT p50 ms", MS, false),
        row("echo-ack", "rtt_p99_us", "echo: RTT p99 ms", MS, false),
        row("echo-ack", "rtt_p999_us", "echo: RTT p99.9 ms", MS, false),
        row(
            "echo-ack",
            "server_cpu_pct",
            "echo: server CPU %",
            1.0,
            false,
        ),
        row(
            "echo-ack",
            "gen_cpu_pct",
            "echo: generator CPU %",
            1.0,
            false,
        ),
    ];
    v.extend([
        row(
            "polling-connect",
            "conn_per_s",
            "polling connect: conn/s",
            1.0,
            true,
        ),
        row(
            "polling-connect",
            "server_cpu_us_per_conn",
            "polling connect: server CPU µs/conn",
            1.0,
            false,
        ),
        row(
            "polling-connect",
            "latency_p99_us",
            "polling connect: p99 ms",
            MS,
            false,
        ),
        row(
            "polling-echo",
            "acks_per_s",
            "polling echo: acks/s",
            1.0,
            true,
        ),
        row(
            "polling-echo",
            "cpu_us_per_ack",
            "polling echo: server CPU µs/ack",
            1.0,
            false,
        ),
        row(
            "polling-echo",
            "rtt_p50_us",
            "polling echo: RTT p50 ms",
            MS,
            false,
        ),
        row(
            "polling-echo",
            "rtt_p99_us",
            "polling echo: RTT p99 ms",
            MS,
            false,
        ),
    ]);
    for key in STORMS {
        v.extend([
            row(key, "conn_per_s", "conn/s", 1.0, true),
            row(
                key,
                "server_cpu_us_per_conn",
                "server CPU µs/conn",
                1.0,
                false,
            ),
            row(key, "latency_p99_us", "p99 ms", MS, false),
            row(key, "errors", "failed connects", 1.0, false),
            row(key, "gen_cpu_pct", "generator CPU %", 1.0, false),
        ]);
    }
    for key in [
        "fanout-10x100@60",
        "fanout-100x10@20",
        "fanout-10x100@20",
        "fanout-100x10@60",
    ] {
        v.extend([
            row(key, "p50_us", "p50 ms", MS, false),
            row(key, "p99_us", "p99 ms", MS, false),
            row(key, "p999_us", "p99.9 ms", MS, false),
            row(key, "max_us", "max ms", MS, false),
            row(
                key,
                "sched_p99_us",
                "p99 from scheduled start ms",
                MS,
                false,
            ),
            row(key, "late_p99_us", "tick lateness p99 ms", MS, false),
            row(key, "late_max_us", "tick lateness max ms", MS, false),
            row(
                key,
                "wall_clock_skew_ppm",
                "wall clock's rate − monotonic's, ppm",
                1.0,
                false,
            ),
            row(key, "missed_pct", "missed ticks %", 1.0, false),
            row(key, "msgs_per_s", "msgs/s", 1.0, true),
            row(key, "server_cpu_pct", "server CPU %", 1.0, false),
            row(key, "gen_cpu_pct", "generator CPU %", 1.0, false),
        ]);
    }
    v.extend([
        row(
            "capacity@20",
            "players_held",
            "capacity: players",
            1.0,
            true,
        ),
        row(
            "slow-consumer",
            "without_p99_us",
            "slow: p99 without ms",
            MS,
            false,
        ),
        row(
            "slow-consumer",
            "with_p99_us",
            "slow: p99 with ms",
            MS,
            false,
        ),
        row(
            "slow-consumer",
            "p99_ratio",
            "slow: p99 with/without",
            1.0,
            false,
        ),
        row(
            "slow-consumer",
            "with_missed_pct",
            "slow: missed % (with)",
            1.0,
            false,
        ),
        row(
            "slow-consumer",
            "peak_rss_kib",
            "slow: peak RSS MiB",
            MIB,
            false,
        ),
        row(
            "slow-consumer",
            "stalled_frames_after_resume",
            "slow: frames kept for stalled",
            1.0,
            false,
        ),
    ]);
    for key in CLUSTER_KEYS {
        v.extend([
            row(
                key,
                "local_p50_us",
                "local seat input→ack p50 ms",
                MS,
                false,
            ),
            row(
                key,
                "local_p99_us",
                "local seat input→ack p99 ms",
                MS,
                false,
            ),
            row(
                key,
                "remote_p50_us",
                "remote seat input→ack p50 ms",
                MS,
                false,
            ),
            row(
                key,
                "remote_p99_us",
                "remote seat input→ack p99 ms",
                MS,
                false,
            ),
            row(
                key,
                "remote_extra_p99_us",
                "remote − local p99 ms",
                MS,
                false,
            ),
            row(
                key,
                "local_snapshot_lag_p99_us",
                "local seat tick→snapshot p99 ms",
                MS,
                false,
            ),
            row(
                key,
                "remote_snapshot_lag_p99_us",
                "remote seat tick→snapshot p99 ms",
                MS,
                false,
            ),
            row(
                key,
                "bare_hop_p50_us",
                "bare Redis hop (the bus's floor) p50 ms",
                MS,
                false,
            ),
            row(
                key,
                "bare_hop_p99_us",
                "bare Redis hop (the bus's floor) p99 ms",
                MS,
                false,
            ),
            row(key, "bus_msgs_per_s", "bus messages/s", 1.0, false),
            row(key, "bus_publishes_per_s", "Redis PUBLISH/s", 1.0, false),
            row(key, "redis_cpu_pct", "Redis CPU %", 1.0, false),
            row(key, "server_cpu_pct", "nodes' CPU % (sum)", 1.0, false),
            row(key, "gen_cpu_pct", "generator CPU %", 1.0, false),
        ]);
    }
    for key in BROADCAST_KEYS {
        v.extend([
            row(key, "remote_p50_us", "node B (remote) p50 ms", MS, false),
            row(key, "remote_p99_us", "node B (remote) p99 ms", MS, false),
            row(key, "remote_p999_us", "node B (remote) p99.9 ms", MS, false),
            row(key, "local_p50_us", "node A (local) p50 ms", MS, false),
            row(key, "local_p99_us", "node A (local) p99 ms", MS, false),
            row(key, "broadcasts_per_s", "broadcasts/s sent", 1.0, true),
            row(key, "delivered_per_s", "messages delivered/s", 1.0, true),
            row(key, "missing_pct", "missing %", 1.0, false),
            row(key, "out_of_order", "out of order", 1.0, false),
            row(
                key,
                "node_a_cpu_us_per_msg",
                "node A CPU µs/msg",
                1.0,
                false,
            ),
            row(
                key,
                "node_b_cpu_us_per_msg",
                "node B CPU µs/msg",
                1.0,
                false,
            ),
            row(key, "redis_cpu_us_per_msg", "Redis CPU µs/msg", 1.0, false),
            row(
                key,
                "cpu_us_per_msg",
                "all CPU µs/msg (A+B+Redis)",
                1.0,
                false,
            ),
            row(key, "node_a_cpu_pct", "node A CPU %", 1.0, false),
            row(key, "node_b_cpu_pct", "node B CPU %", 1.0, false),
            row(key, "redis_cpu_pct", "Redis CPU %", 1.0, false),
            row(key, "gen_cpu_pct", "generator CPU %", 1.0, false),
        ]);
    }
    v
}

/// The keys of the broadcast-across-nodes scenarios (`--cluster`).
const BROADCAST_KEYS: [&str; 3] = [
    "cluster-bcast@1k",
    "cluster-bcast@10k",
    "cluster-fanout-2x1000@20",
];

/// The keys of the matches-across-nodes scenarios.
const CLUSTER_KEYS: [&str; 5] = [
    "cluster-4x4@30",
    "cluster-100x10@30",
    "free-cluster-100x10@30",
    "cluster-50x10@30",
    "one-node-100x10@30",
];

/// Median, min and max of one metric over the repetitions.
#[derive(Debug, Clone, Copy, Serialize)]
struct Agg {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn aggregate(values: &[f64]) -> Option<Agg> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Agg {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        let s = format!("{x:.0}");
        // thousands separators
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

type Results = BTreeMap<String, BTreeMap<String, Vec<RunResult>>>;

fn values(results: &Results, key: &str, server: &str, metric: &str) -> Vec<f64> {
    results
        .get(key)
        .and_then(|m| m.get(server))
        .map(|runs| runs.iter().filter_map(|r| r.get(metric)).collect())
        .unwrap_or_default()
}

fn agg(results: &Results, key: &str, server: &str, metric: &str) -> Option<Agg> {
    aggregate(&values(results, key, server, metric))
}

fn table(results: &Results, servers: &[String]) -> String {
    let mut out = String::new();
    let mut header = "| metric |".to_owned();
    let mut rule = "|---|".to_owned();
    for s in servers {
        if s == "tickwire" {
            let _ = write!(header, " {s} |");
            rule.push_str("---|");
        } else {
            let _ = write!(header, " {s} | ×tw |");
            rule.push_str("---|---|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for r in rows() {
        if !results.contains_key(r.key) {
            continue;
        }
        let label = if r.label.contains(':') {
            r.label.to_owned()
        } else {
            format!("{}: {}", r.key, r.label)
        };
        let tw = agg(results, r.key, "tickwire", r.metric);
        let mut line = format!("| {label} |");
        let mut any = false;
        for s in servers {
            let a = agg(results, r.key, s, r.metric);
            match a {
                Some(a) => {
                    any = true;
                    let spread = if a.n > 1 && a.min != a.max {
                        format!(
                            " ({}–{})",
                            fmt_num(a.min * r.scale),
                            fmt_num(a.max * r.scale)
                        )
                    } else {
                        String::new()
                    };
                    let _ = write!(line, " {}{spread} |", fmt_num(a.median * r.scale));
                }
                None => line.push_str(" – |"),
            }
            if s != "tickwire" {
                match (a, tw) {
                    (Some(a), Some(t)) if t.median != 0.0 => {
                        let _ = write!(line, " {:.2} |", a.median / t.median);
                    }
                    _ => line.push_str(" – |"),
                }
            }
        }
        let _ = r.higher_is_better;
        if any {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// The issue's targets, checked against the medians of this run.
fn targets(results: &Results) -> Vec<(String, Option<bool>, String)> {
    let m =
        |key: &str, server: &str, metric: &str| agg(results, key, server, metric).map(|a| a.median);
    let mut v = Vec::new();
    let mut check = |what: &str, ok: Option<bool>, detail: String| {
        v.push((what.to_owned(), ok, detail));
    };
    // A target is checked only when its scenario ran (`--only` runs a few).
    let ran = |key: &str| results.contains_key(key);
    if ran("idle-memory") {
        let idle = m("idle-memory", "tickwire", "kib_per_conn");
        check(
            "idle memory ≤ 3 KiB/conn (15,000 held)",
            idle.map(|x| x <= 3.0),
            format!("{:.2} KiB/conn", idle.unwrap_or(f64::NAN)),
        );
    }
    let ratio = |key: &str, a: &str, b: &str, metric: &str| {
        m(key, a, metric).zip(m(key, b, metric)).map(|(x, y)| x / y)
    };
    for key in ["connect", STORMS[0], STORMS[1]] {
        if !results.contains_key(key) {
            continue;
        }
        let rate = ratio(key, "tickwire", "socketioxide", "conn_per_s");
        check(
            &format!("{key}: conn/s ≥ 1.5× socketioxide"),
            rate.map(|x| x >= 1.5),
            format!("{:.2}×", rate.unwrap_or(f64::NAN)),
        );
        if key != "connect" {
            let cpu = ratio(key, "tickwire", "floor", "server_cpu_us_per_conn");
            check(
                &format!("{key}: server CPU/conn ≤ 1.5× floor"),
                cpu.map(|x| x <= 1.5),
                format!("{:.2}×", cpu.unwrap_or(f64::NAN)),
            );
        }
    }
    if let Some(fall) = rate_fall(results, STORMS[2], "tickwire") {
        check(
            &format!(
                "{}: the rate does not fall as connections are held",
                STORMS[2]
            ),
            Some(fall >= 0.9),
            format!("last 3,000 held vs first 3,000: {fall:.2}×"),
        );
    }
    for (key, metric, higher, what) in [
        ("polling-connect", "conn_per_s", true, "conn/s"),
        ("polling-echo", "acks_per_s", true, "acks/s"),
        ("polling-echo", "cpu_us_per_ack", false, "server CPU/ack"),
        ("polling-echo", "rtt_p99_us", false, "RTT p99"),
    ] {
        if !results.contains_key(key) {
            continue;
        }
        let tw = m(key, "tickwire", metric);
        let peers: Vec<f64> = ["node", "socketioxide"]
            .iter()
            .filter_map(|s| m(key, s, metric))
            .collect();
        let best = if higher {
            peers.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        } else {
            peers.iter().copied().fold(f64::INFINITY, f64::min)
        };
        let ahead = tw
            .filter(|_| !peers.is_empty())
            .map(|t| if higher { t > best } else { t < best });
        check(
            &format!("{key}: {what} ahead of both peers"),
            ahead,
            format!("{:.2}× the best peer", tw.unwrap_or(f64::NAN) / best),
        );
    }
    if ran("echo-ack") {
        let echo = ratio("echo-ack", "tickwire", "floor", "cpu_us_per_ack");
        check(
            "echo CPU/ack ≤ 1.1× floor",
            echo.map(|x| x <= 1.1),
            format!("{:.2}×", echo.unwrap_or(f64::NAN)),
        );
        let rtt = |s: &str| m("echo-ack", s, "rtt_p99_us");
        let peers_rtt = rtt("node")
            .into_iter()
            .chain(rtt("socketioxide"))
            .fold(f64::INFINITY, f64::min);
        check(
            "echo p99 RTT < both peers",
            rtt("tickwire").map(|t| t < peers_rtt),
            format!(
                "{:.2} ms vs best peer {:.2} ms",
                rtt("tickwire").unwrap_or(f64::NAN) / 1e3,
                peers_rtt / 1e3
            ),
        );
    }
    for key in [
        "fanout-10x100@60",
        "fanout-100x10@20",
        "fanout-10x100@20",
        "fanout-100x10@60",
    ] {
        if !results.contains_key(key) {
            continue;
        }
        let p99 = ratio(key, "tickwire", "floor-rooms", "p99_us");
        check(
            &format!("{key}: p99 ≤ 1.25× floor-rooms (per-room clocks, like for like)"),
            p99.map(|x| x <= 1.25),
            format!("{:.2}×", p99.unwrap_or(f64::NAN)),
        );
        let cpu = ratio(key, "tickwire", "floor-rooms", "server_cpu_pct");
        check(
            &format!("{key}: CPU ≤ 1.2× floor-rooms"),
            cpu.map(|x| x <= 1.2),
            format!("{:.2}×", cpu.unwrap_or(f64::NAN)),
        );
        let missed = m(key, "tickwire", "missed");
        check(
            &format!("{key}: no missed tick"),
            missed.map(|x| x == 0.0),
            format!("{} missed (median)", missed.unwrap_or(f64::NAN)),
        );
    }
    if ran("capacity@20") {
        let cap = m("capacity@20", "tickwire", "players_held");
        check(
            "capacity ≥ 4,000 players/core @ 20 Hz",
            cap.map(|x| x >= 4000.0),
            format!("{} players", cap.unwrap_or(f64::NAN)),
        );
    }
    for key in [
        "cluster-100x10@30",
        "free-cluster-100x10@30",
        "cluster-50x10@30",
    ] {
        if !results.contains_key(key) {
            continue;
        }
        let extra = m(key, "tickwire", "remote_extra_p99_us");
        let floor = m(key, "tickwire", "bare_hop_p99_us");
        check(
            &format!("{key}: a remote seat adds ≤ 1 ms p99 over a local one"),
            extra.map(|x| x <= 1000.0),
            format!(
                "{:.2} ms (it crosses Redis twice; one bare Redis hop here: {:.2} ms p99)",
                extra.unwrap_or(f64::NAN) / 1e3,
                floor.unwrap_or(f64::NAN) / 1e3
            ),
        );
    }
    if ran("slow-consumer") {
        let ratio = m("slow-consumer", "tickwire", "p99_ratio");
        check(
            "slow consumer: p99 with/without ≤ 1.10",
            ratio.map(|x| x <= 1.10),
            format!("{:.2}", ratio.unwrap_or(f64::NAN)),
        );
    }
    v
}

/// The mean rate over the last three steps of the rate-against-held curve, over the
/// first three's, in the repetition with the median rate.
fn rate_fall(results: &Results, key: &str, server: &str) -> Option<f64> {
    let runs = median_run(results.get(key)?.get(server)?, "conn_per_s")?;
    let rates: Vec<f64> = runs
        .steps
        .iter()
        .filter_map(|st| st.get("conn_per_s").copied())
        .collect();
    if rates.len() < 6 {
        return None;
    }
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    Some(mean(&rates[rates.len() - 3..]) / mean(&rates[..3]))
}

/// The repetition whose `metric` is the median one.
fn median_run<'a>(runs: &'a [RunResult], metric: &str) -> Option<&'a RunResult> {
    let mut runs: Vec<&RunResult> = runs.iter().collect();
    runs.sort_by(|a, b| {
        a.get(metric)
            .unwrap_or(0.0)
            .total_cmp(&b.get(metric).unwrap_or(0.0))
    });
    runs.get(runs.len() / 2).copied()
}

fn nines(p: f64) -> f64 {
    if p >= 100.0 {
        4.3
    } else {
        (-(1.0 - p / 100.0).log10()).min(4.0)
    }
}

const COLORS: [RGBColor; 5] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(90, 90, 90),
    RGBColor(160, 160, 160),
];

/// The curve of the repetition whose p99 is the median one.
fn median_curve(runs: &[RunResult], curve: &str) -> Option<Vec<[f64; 2]>> {
    let mut with: Vec<(f64, &Vec<[f64; 2]>)> = runs
        .iter()
        .filter_map(|r| {
            let c = r.curves.get(curve)?;
            let p99 = c.iter().find(|p| p[0] >= 99.0).map_or(0.0, |p| p[1]);
            (!c.is_empty()).then_some((p99, c))
        })
        .collect();
    with.sort_by(|a, b| a.0.total_cmp(&b.0));
    with.get(with.len() / 2).map(|(_, c)| (*c).clone())
}

fn plot_latency(path: &Path, title: &str, lines: &[(String, Vec<[f64; 2]>)]) -> Result<()> {
    let max = lines
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p[1]))
        .fold(1.0f64, f64::max)
        / 1e3;
    let min = lines
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p[1]))
        .fold(f64::INFINITY, f64::min)
        .max(1.0)
        / 1e3;
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..4.4f64, ((min * 0.8)..(max * 1.25)).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms, log)")
        .x_labels(6)
        .x_label_formatter(&|x| match x.round() as i64 {
            0 => "p0".into(),
            1 => "p90".into(),
            2 => "p99".into(),
            3 => "p99.9".into(),
            4 => "p99.99".into(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| fmt_num(*y))
        .draw()?;
    for (i, (name, curve)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                curve.iter().map(|p| (nines(p[0]), (p[1] / 1e3).max(min))),
                color.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One stepped figure: `y` against `x` over a scenario's steps, a line per server.
struct StepPlot {
    key: &'static str,
    /// The metric whose median repetition is drawn.
    median_of: &'static str,
    x: (&'static str, &'static str),
    y: (&'static str, &'static str, f64),
    title: &'static str,
    /// A horizontal line (the capacity's 50 ms budget).
    rule: Option<f64>,
}

const CAPACITY_PLOT: StepPlot = StepPlot {
    key: "capacity@20",
    median_of: "players_held",
    x: ("players", "players"),
    y: ("p99_us", "tick latency p99 (ms)", MS),
    title: "capacity: tick p99 vs players (20 Hz, 10-player rooms, one core)",
    rule: Some(50.0),
};

const STORM_PLOT: StepPlot = StepPlot {
    key: STORMS[2],
    median_of: "conn_per_s",
    x: ("held", "connections held"),
    y: ("conn_per_s", "connect rate (conn/s, per 1,000)", 1.0),
    title: "connection storm: conn/s vs connections held (concurrency 200)",
    rule: None,
};

fn plot_steps(path: &Path, plot: &StepPlot, results: &Results, servers: &[String]) -> Result<()> {
    let mut lines = Vec::new();
    for s in servers {
        let Some(runs) = results.get(plot.key).and_then(|m| m.get(s)) else {
            continue;
        };
        if let Some(r) = median_run(runs, plot.median_of) {
            let pts: Vec<(f64, f64)> = r
                .steps
                .iter()
                .filter_map(|st| Some((*st.get(plot.x.0)?, st.get(plot.y.0)? * plot.y.2)))
                .collect();
            lines.push((s.clone(), pts));
        }
    }
    let max_x = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.0))
        .fold(1000.0f64, f64::max);
    let max_y = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(plot.rule.unwrap_or(1.0), f64::max);
    let min_y = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .fold(max_y, f64::min)
        .max(max_y / 1e4);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x * 1.05, (min_y * 0.7..max_y * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(plot.x.1)
        .y_desc(format!("{} (log)", plot.y.1))
        .x_label_formatter(&|x| fmt_num(*x))
        .y_label_formatter(&|y| fmt_num(*y))
        .draw()?;
    if let Some(rule) = plot.rule {
        chart.draw_series(LineSeries::new(
            [(0.0, rule), (max_x * 1.05, rule)],
            BLACK.mix(0.4).stroke_width(1),
        ))?;
    }
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

fn plots(out: &Path, results: &Results, servers: &[String]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (key, by_server) in results {
        let mut curve_names: Vec<String> = by_server
            .values()
            .flat_map(|runs| runs.iter().flat_map(|r| r.curves.keys().cloned()))
            .collect();
        curve_names.sort();
        curve_names.dedup();
        for curve in curve_names {
            let lines: Vec<(String, Vec<[f64; 2]>)> = servers
                .iter()
                .filter_map(|s| Some((s.clone(), median_curve(by_server.get(s)?, &curve)?)))
                .collect();
            if lines.is_empty() {
                continue;
            }
            let file = out.join(format!("{}-{curve}.svg", key.replace('@', "_")));
            plot_latency(&file, &format!("{key}: {curve} distribution"), &lines)?;
            written.push(file);
        }
    }
    for plot in [CAPACITY_PLOT, STORM_PLOT] {
        if results.contains_key(plot.key) {
            let file = out.join(format!("{}-steps.svg", plot.key.replace('@', "_")));
            plot_steps(&file, &plot, results, servers)?;
            written.push(file);
        }
    }
    Ok(written)
}

/// Where tickwire's time goes during tick fan-out: `perf record` with DWARF call graphs on
/// the server, then the share of samples under each stage of the path a tick takes.
fn profile(ctx: &Ctx, benches: &Path) -> Result<String> {
    let cmd = server_cmd("tickwire", &ctx.bins, benches, None)?;
    let spec = spec(
        "fanout-10x100@60",
        "tick-fanout",
        Some(60),
        "--rooms 10 --per-room 100 --hz 60 --warmup 1 --duration 6",
        90,
    );
    let port = free_port()?;
    let logs = ctx.out.join("logs");
    let server = start_server(&cmd, &spec, port, &logs.join("perf.server.log"), ctx.pin)?;
    let mut lg = pinned(1, &ctx.bins.join("loadgen"), ctx.pin);
    lg.arg("tick-fanout")
        .args(&spec.args)
        .args(["--port", &port.to_string(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = lg.spawn()?;
    // Clients connect and warm up for ~2 s; record 3 s of the steady state.
    std::thread::sleep(Duration::from_secs(3));
    let data = std::env::temp_dir().join(format!("tickwire-perf-{}.data", std::process::id()));
    let status = Command::new("perf")
        .args(["record", "--call-graph", "dwarf,16384", "-F", "499", "-o"])
        .arg(&data)
        .args(["-p", &server.pid().to_string(), "--", "sleep", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running perf (is it installed?)")?;
    let _ = child.wait();
    drop(server);
    if !status.success() {
        bail!("perf record failed ({status})");
    }
    let children = Command::new("perf")
        .args([
            "report",
            "--children",
            "--stdio",
            "--sort",
            "sym",
            "-g",
            "none",
            "-i",
        ])
        .arg(&data)
        .output()?;
    let own = Command::new("perf")
        .args([
            "report",
            "--no-children",
            "--stdio",
            "--sort",
            "sym",
            "-g",
            "none",
            "-i",
        ])
        .arg(&data)
        .output()?;
    let _ = std::fs::remove_file(&data);
    let inclusive = perf_lines(&String::from_utf8_lossy(&children.stdout));
    let share = |patterns: &[&str]| {
        inclusive
            .iter()
            .filter(|(_, sym)| patterns.iter().any(|p| sym.contains(p)))
            .map(|(pct, _)| *pct)
            .fold(0.0f64, f64::max)
    };
    let stages: [(&str, &[&str]); 7] = [
        (
            "tick total (MatchActor::on_tick)",
            &["MatchActor<M>::on_tick"],
        ),
        (
            "  serialize once per room (serde_json)",
            &["serde_json::ser::", "codec::json_event"],
        ),
        (
            "  fan-out (Socket::send_latest → Outbox::push_latest → send while the socket is lent)",
            &["Socket::send_latest"],
        ),
        (
            "websockets' own turns (reads, and frames a blocked socket left to them; syscalls included)",
            &["::RawWs<"],
        ),
        (
            "socket writes: writev/sendto/write syscalls (loopback delivery included)",
            &[
                "__x64_sys_writev",
                "do_writev",
                "__x64_sys_sendto",
                "__sys_sendto",
                "__x64_sys_write",
                "ksys_write",
            ],
        ),
        (
            "  of which the receiver's side, run inside the send (softirq)",
            &["net_rx_action"],
        ),
        (
            "epoll wait and reads",
            &[
                "__x64_sys_epoll_wait",
                "__x64_sys_recvfrom",
                "__x64_sys_read",
            ],
        ),
    ];
    let mut out = String::from(
        "Where tickwire's server time goes during tick fan-out 10×100 @ 60 Hz\n\
         (perf, DWARF call graphs; share of the server's samples under each frame, stages nest):\n",
    );
    for (label, patterns) in stages {
        let _ = writeln!(out, "  {:5.1}%  {label}", share(patterns));
    }
    out.push_str("Top symbols by own time:\n");
    for (pct, sym) in perf_lines(&String::from_utf8_lossy(&own.stdout))
        .iter()
        .take(15)
    {
        let _ = writeln!(out, "  {pct:5.2}%  {sym}");
    }
    Ok(out)
}

/// `(percent, symbol)` of each line of a `perf report --stdio` table (first column).
fn perf_lines(text: &str) -> Vec<(f64, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (pct, rest) = line.split_once('%')?;
            let pct: f64 = pct.trim().parse().ok()?;
            // `--children` has a second percentage column.
            let rest = match rest.trim_start().split_once('%') {
                Some((p, r)) if p.trim().parse::<f64>().is_ok() => r,
                _ => rest,
            };
            let sym = rest
                .trim()
                .trim_start_matches("[.]")
                .trim_start_matches("[k]")
                .trim();
            Some((pct, sym.to_owned()))
        })
        .collect()
}

#[derive(Serialize)]
struct Output<'a> {
    started_unix: u64,
    wall_s: f64,
    machine: BTreeMap<String, String>,
    reps: usize,
    servers: &'a [String],
    specs: &'a [Spec],
    summary: BTreeMap<String, BTreeMap<String, BTreeMap<String, Agg>>>,
    targets: Vec<(String, Option<bool>, String)>,
    failures: &'a [String],
    runs: Vec<serde_json::Value>,
}

fn machine() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    m.insert("cpu".into(), cpu);
    m.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map_or(0, |n| n.get())
            .to_string(),
    );
    if let Ok(o) = Command::new("uname").arg("-r").output() {
        m.insert(
            "kernel".into(),
            String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    }
    if let Ok(o) = Command::new("node").arg("--version").output() {
        m.insert(
            "node".into(),
            String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        );
    }
    m
}

/// Each run's share of the machine's CPU time taken by the hypervisor (`/proc/stat` steal).
const STEAL_METRIC: &str = "machine_steal_pct";

/// Above this share of stolen CPU a run is listed: its figures are the VM's as much as the
/// server's.
const STEAL_NOTABLE_PCT: f64 = 2.0;

/// What the hypervisor took during the runs: the median and worst run, and each run above
/// [`STEAL_NOTABLE_PCT`].
fn steal_summary(results: &Results) -> String {
    let mut all = Vec::new();
    for (key, by_server) in results {
        for (server, runs) in by_server {
            for (rep, r) in runs.iter().enumerate() {
                if let Some(pct) = r.get(STEAL_METRIC) {
                    all.push((pct, format!("{server} {key} rep {}", rep + 1)));
                }
            }
        }
    }
    let Some(median) = aggregate(&all.iter().map(|(p, _)| *p).collect::<Vec<_>>()) else {
        return String::new();
    };
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let Some((worst, which)) = all.first() else {
        return String::new();
    };
    let mut out = format!(
        "\nCPU stolen by the hypervisor (`/proc/stat`, both cores) during a run: median {:.2} %, \
         worst {:.2} % ({}).\n",
        median.median, worst, which
    );
    let notable: Vec<String> = all
        .iter()
        .filter(|(p, _)| *p > STEAL_NOTABLE_PCT)
        .map(|(p, what)| format!("{what} {p:.1} %"))
        .collect();
    if !notable.is_empty() {
        let _ = writeln!(
            out,
            "Runs above {STEAL_NOTABLE_PCT} %: {}.",
            notable.join(", ")
        );
    }
    out
}

/// Whether `server` takes part in `spec`.
fn runs_on(server: &str, spec: &Spec) -> bool {
    match server {
        // The floor with per-room clocks only matters where rooms tick.
        "floor-rooms" => spec.key.starts_with("fanout-"),
        // Serving through HttpServer changes what an idle websocket holds; the other
        // scenarios measure tickwire::Server only.
        "tickwire-plain" => spec.key == "idle-memory",
        // The streams bus only matters across nodes.
        "tickwire-streams" => spec.nodes > 0 && !spec.game,
        // Matches across nodes: tickwire's game cluster only (the peers have none), and
        // the baseline build of it when one is given.
        _ if spec.game => server == "tickwire" || server == "tickwire-baseline",
        // The floor speaks the websocket transport only.
        _ if spec.key.starts_with("polling-") => !server.starts_with("floor"),
        // Broadcasts across nodes: every server with a Redis adapter (not the floor).
        _ if spec.nodes > 0 => !server.starts_with("floor"),
        _ => true,
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let bins = std::env::current_exe()?
        .parent()
        .context("runner has no directory")?
        .to_path_buf();
    let out = if args.cluster {
        args.out.join("cluster")
    } else {
        args.out.clone()
    };
    std::fs::create_dir_all(out.join("logs"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = cores >= 2 && Command::new("taskset").arg("-V").output().is_ok();
    if !pin {
        eprintln!("warning: not pinning (needs 2 cores and taskset)");
    }
    let ctx = Ctx {
        bins: bins.clone(),
        out: out.clone(),
        pin,
    };
    let mut specs = if args.cluster {
        cluster_specs(args.quick)
    } else {
        specs(args.quick, args.all_shapes)
    };
    if !args.only.is_empty() {
        if !args.cluster {
            specs.extend(optional_specs());
        }
        specs.retain(|s| args.only.contains(&s.key));
    }
    let reps = if args.quick { 1 } else { args.reps };
    let default_servers = if args.cluster {
        "tickwire,tickwire-streams,node,socketioxide"
    } else {
        "tickwire,tickwire-plain,node,socketioxide,floor,floor-rooms"
    };
    let server_names: Vec<String> = if args.servers.is_empty() {
        default_servers.split(',').map(str::to_owned).collect()
    } else {
        args.servers.clone()
    };
    let servers: Vec<ServerCmd> = server_names
        .iter()
        .map(|s| server_cmd(s, &bins, &args.benches_dir, args.baseline.as_deref()))
        .collect::<Result<_>>()?;
    let total = (reps * specs.len() * servers.len()) as u64;
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let mut results: Results = BTreeMap::new();
    let mut failures = Vec::new();
    let mut runs_json = Vec::new();
    for rep in 0..reps {
        for spec in &specs {
            for server in &servers {
                if !runs_on(&server.name, spec) {
                    pb.inc(1);
                    continue;
                }
                pb.set_message(format!("rep {} {} {}", rep + 1, spec.key, server.name));
                let steal = procfs::StealMeter::start();
                let run = run_one(&ctx, server, spec, rep).map(|mut r| {
                    r.metric(STEAL_METRIC, steal.percent());
                    r
                });
                match run {
                    Ok(r) => {
                        for n in &r.notes {
                            pb.println(format!(
                                "  {} {} rep {}: {n}",
                                server.name,
                                spec.key,
                                rep + 1
                            ));
                        }
                        let mut j = serde_json::to_value(&r)?;
                        if let Some(o) = j.as_object_mut() {
                            o.insert("server".into(), server.name.clone().into());
                            o.insert("key".into(), spec.key.clone().into());
                            o.insert("rep".into(), rep.into());
                        }
                        runs_json.push(j);
                        results
                            .entry(spec.key.clone())
                            .or_default()
                            .entry(server.name.clone())
                            .or_default()
                            .push(r);
                    }
                    Err(e) => {
                        let msg = format!("{} {} rep {}: {e:#}", server.name, spec.key, rep + 1);
                        pb.println(format!("  FAILED {msg}"));
                        failures.push(msg);
                    }
                }
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();
    let names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    let table = table(&results, &names);
    let targets = if args.cluster {
        Vec::new()
    } else {
        targets(&results)
    };
    let pinning = if args.cluster {
        "Per run: a fresh redis-server and two nodes of one server kind on it; node A (the \
         publisher's) and Redis pinned to core 0, node B and the load generator to core 1. \
         tickwire = the pub/sub bus (REDIS_BUS=pubsub, like for like with the peers' pub/sub \
         adapters), tickwire-streams = the streams bus."
    } else if specs.iter().any(|s| s.game) {
        "Server pinned to core 0, load generator to core 1. Matches across nodes: node A and \
         Redis on core 0, node B and the generator on core 1; free-…: nothing pinned."
    } else {
        "Server pinned to core 0, load generator to core 1."
    };
    let mut summary_md = format!(
        "Medians of {reps} interleaved repetitions (min–max); ×tw = peer median / tickwire median.\n\
         {pinning}\n\n{table}\n"
    );
    if !targets.is_empty() {
        summary_md.push_str("Targets (benches/README.md):\n\n");
    }
    for (what, ok, detail) in &targets {
        let mark = match ok {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let _ = writeln!(summary_md, "- {mark}: {what} — {detail}");
    }
    summary_md.push_str(&steal_summary(&results));
    if !failures.is_empty() {
        summary_md.push_str("\nFailed runs:\n\n");
        for f in &failures {
            let _ = writeln!(summary_md, "- {f}");
        }
    }
    let plots = plots(&out, &results, &names)?;
    if args.perf {
        match profile(&ctx, &args.benches_dir) {
            Ok(p) => {
                let _ = write!(summary_md, "\n```\n{p}```\n");
            }
            Err(e) => eprintln!("profile skipped: {e:#}"),
        }
    }
    let mut summary: BTreeMap<String, BTreeMap<String, BTreeMap<String, Agg>>> = BTreeMap::new();
    for (key, by_server) in &results {
        for (server, runs) in by_server {
            let mut metrics: Vec<String> = runs
                .iter()
                .flat_map(|r| r.metrics.keys().cloned())
                .collect();
            metrics.sort();
            metrics.dedup();
            for metric in metrics {
                if let Some(a) = agg(&results, key, server, &metric) {
                    summary
                        .entry(key.clone())
                        .or_default()
                        .entry(server.clone())
                        .or_default()
                        .insert(metric, a);
                }
            }
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let output = Output {
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(wall_s as u64),
        wall_s,
        machine: machine(),
        reps,
        servers: &names,
        specs: &specs,
        summary,
        targets,
        failures: &failures,
        runs: runs_json,
    };
    std::fs::write(
        out.join("results.json"),
        serde_json::to_vec_pretty(&output)?,
    )?;
    std::fs::write(out.join("summary.md"), &summary_md)?;
    println!("{summary_md}");
    println!(
        "wrote {} and {} plots to {} in {:.0} s",
        out.join("results.json").display(),
        plots.len(),
        out.display(),
        wall_s
    );
    Ok(())
}
