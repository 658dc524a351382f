//! The bus's floor on this machine, measured during a `cluster-match` run: a bare Redis
//! pub/sub hop from a thread of the generator's process (on the generator's core, but not
//! waiting for its players' tasks) through the run's Redis back to that thread, on two plain
//! sockets with no client library. Each probe is the time from writing its `PUBLISH` to
//! reading its message on the subscription. A remote seat crosses Redis twice (its input
//! to the host, the snapshot back), each time waking Redis and then a node: this shows what
//! such a hop costs on these cores under this load, whatever runs above it.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tickwire_benches::client::now_us;

const CHANNEL: &str = "bench:hop-floor";

/// Probe one hop every `every`, on a thread of its own, until `stop` is sent or dropped;
/// the thread returns the hops in µs.
pub(crate) fn start(
    port: u16,
    every: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<Result<Vec<u32>>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(probe(port, every, async move {
            let _ = stop.await;
        }))
    })
}

async fn probe(
    port: u16,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Vec<u32>> {
    let mut sub = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("connecting the hop probe's subscriber")?;
    sub.set_nodelay(true)?;
    sub.write_all(&command(&["SUBSCRIBE", CHANNEL])).await?;
    let mut lines = Lines::default();
    // The confirmation: `*3`, `$9`, `subscribe`, the channel's length and name, `:1`.
    while lines.next(&mut sub).await? != ":1" {}
    let mut publisher = TcpStream::connect(("127.0.0.1", port))
        .await
        .context("connecting the hop probe's publisher")?;
    publisher.set_nodelay(true)?;
    let mut hops = Vec::new();
    let mut ticker = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(hops),
            _ = ticker.tick() => {}
        }
        let sent = now_us();
        publisher
            .write_all(&command(&["PUBLISH", CHANNEL, &sent.to_string()]))
            .await?;
        let payload = message(&mut lines, &mut sub).await?;
        let received = now_us();
        if payload != sent.to_string() {
            bail!("the hop probe read {payload:?}, not its own {sent}");
        }
        hops.push(received.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
        // The publisher's reply (`:1`), read after the hop so as not to delay it.
        let mut reply = [0u8; 64];
        let _ = publisher.read(&mut reply).await?;
    }
}

/// A command in RESP: an array of bulk strings.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// The payload of the next `message` push: `*3`, `$7`, `message`, `$n`, the channel,
/// `$n`, the payload (the probes' payloads are digits, so no line holds a `\r\n`).
async fn message(lines: &mut Lines, sub: &mut TcpStream) -> Result<String> {
    while lines.next(sub).await? != "message" {}
    for _ in 0..3 {
        lines.next(sub).await?;
    }
    lines.next(sub).await
}

/// The lines of a socket, `\r\n` apart.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    async fn next(&mut self, socket: &mut TcpStream) -> Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                bail!("Redis closed the hop probe's connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        assert_eq!(
            command(&["PUBLISH", "c", "42"]),
            b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\n42\r\n"
        );
    }
}
