//! `polling-connect` and `polling-echo`: the connect and echo scenarios over Engine.IO
//! long-polling (two keep-alive HTTP connections per client, as a browser holds them), the
//! transport a proxy that refuses websockets leaves.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures_util::stream::{self, StreamExt};
use tickwire_benches::polling::PollingClient;
use tickwire_benches::report::RunResult;
use tickwire_benches::stats;

use super::{bar, echo_matches, tally, timed_wait, Common, Window, CONNECT_TIMEOUT};

/// Connect `n` clients, `concurrency` at a time: each with the time from its first TCP
/// connect to `/` joined. Failed or stuck connects are counted.
async fn connect_many(
    addr: SocketAddr,
    n: usize,
    concurrency: usize,
    quiet: bool,
) -> (Vec<(PollingClient, u32)>, usize) {
    let pb = bar(n, "connect", quiet);
    let results: Vec<Result<(PollingClient, u32)>> = stream::iter(0..n)
        .map(|_| async move {
            let t0 = Instant::now();
            match tokio::time::timeout(CONNECT_TIMEOUT, PollingClient::connect(addr)).await {
                Ok(Ok(c)) => Ok((c, t0.elapsed().as_micros() as u32)),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Err(anyhow::anyhow!("connect took over {CONNECT_TIMEOUT:?}")),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .inspect(|_| pb.inc(1))
        .collect()
        .await;
    pb.finish_and_clear();
    tally(results.into_iter(), n, "polling connections")
}

pub(crate) async fn connect(
    common: &Common,
    addr: SocketAddr,
    conns: usize,
    concurrency: usize,
) -> Result<RunResult> {
    let mut r = RunResult::new("polling-connect");
    r.param("conns", conns);
    r.param("concurrency", concurrency);
    let window = Window::start(common.server_pid);
    let t0 = Instant::now();
    let (clients, errors) = connect_many(addr, conns, concurrency, common.quiet).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (server_cpu_s, _) = window.finish(&mut r, "");
    let mut lat: Vec<u32> = clients.iter().map(|(_, us)| *us).collect();
    let s = stats::summarize(&mut lat);
    r.metric("conn_per_s", clients.len() as f64 / elapsed);
    r.metric("connected", clients.len() as f64);
    r.metric("errors", errors as f64);
    r.metric("latency_p50_us", s.p50);
    r.metric("latency_p99_us", s.p99);
    r.metric("latency_max_us", s.max);
    if common.server_pid.is_some() && !clients.is_empty() {
        r.metric(
            "server_cpu_us_per_conn",
            server_cpu_s * 1e6 / clients.len() as f64,
        );
    }
    r.curves
        .insert("connect_latency".into(), stats::quantile_curve(&lat));
    if clients.is_empty() {
        bail!("no connection succeeded");
    }
    Ok(r)
}

#[derive(Default)]
struct Echo {
    active: bool,
    rtts: Vec<u32>,
    acks: u64,
    mismatches: u64,
    failures: u64,
}

pub(crate) async fn echo(
    common: &Common,
    addr: SocketAddr,
    clients: usize,
    warmup: f64,
    duration: f64,
) -> Result<RunResult> {
    let mut r = RunResult::new("polling-echo");
    r.param("clients", clients);
    r.param("duration_s", duration);
    let (conns, errors) = connect_many(addr, clients, clients, common.quiet).await;
    if conns.is_empty() {
        bail!("no connection succeeded");
    }
    let shared = Rc::new(RefCell::new(Echo::default()));
    let mut tasks = Vec::new();
    for (i, (mut client, _)) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        tasks.push(tokio::task::spawn_local(async move {
            for seq in 1u64.. {
                let payload = format!(r#"{{"a":{i},"b":{seq},"pad":"0123456789abcdef"}}"#);
                let t0 = Instant::now();
                let call = client.call("ping", &payload);
                let answer = tokio::time::timeout(Duration::from_secs(2), call).await;
                let rtt = t0.elapsed().as_micros() as u32;
                let mut s = shared.borrow_mut();
                match answer {
                    Ok(Ok(args)) => {
                        if s.active {
                            s.rtts.push(rtt);
                            s.acks += 1;
                            if !echo_matches(&args, &payload) {
                                s.mismatches += 1;
                            }
                        }
                    }
                    _ => {
                        s.failures += 1;
                        return;
                    }
                }
            }
        }));
    }
    timed_wait(warmup, "warmup", common.quiet).await;
    shared.borrow_mut().active = true;
    let window = Window::start(common.server_pid);
    timed_wait(duration, "polling-echo", common.quiet).await;
    let mut s = std::mem::take(&mut *shared.borrow_mut());
    let (cpu, wall) = window.finish(&mut r, "");
    for t in tasks {
        t.abort();
    }
    let sum = stats::summarize(&mut s.rtts);
    r.metric("acks_per_s", s.acks as f64 / wall);
    r.metric("rtt_p50_us", sum.p50);
    r.metric("rtt_p99_us", sum.p99);
    r.metric("rtt_max_us", sum.max);
    if common.server_pid.is_some() && s.acks > 0 {
        r.metric("cpu_us_per_ack", cpu * 1e6 / s.acks as f64);
    }
    r.metric("echo_mismatches", s.mismatches as f64);
    r.metric("failures", s.failures as f64);
    r.metric("errors", errors as f64);
    r.curves
        .insert("rtt".into(), stats::quantile_curve(&s.rtts));
    if s.mismatches > 0 {
        r.notes
            .push(format!("{} acks did not echo the payload", s.mismatches));
    }
    if s.failures > 0 {
        r.notes.push(format!(
            "{} clients failed (an error or no ack within 2 s)",
            s.failures
        ));
    }
    if s.acks == 0 {
        bail!("no ack received");
    }
    Ok(r)
}
