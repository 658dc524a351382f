//! A `redis-server` of a test's own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` of this test's own, on a free port of 127.0.0.1; killed (by its PID) on
/// drop.
///
/// A test that starts one carries `#[cfg_attr(tickwire_missing_redis, ignore = "...")]`:
/// `runtime/build.rs` sets that cfg when `redis-server` is not on PATH (never with `CI` set).
pub(crate) struct Redis {
    child: Child,
    pub(crate) port: u16,
}

impl Redis {
    pub(crate) fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Redis::start_on(port)
    }

    pub(crate) fn start_on(port: u16) -> Redis {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "notice"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run .ci/setup (Debian's redis-server)")
            });
        // Ready when it says so on stdout (its log): read it on a thread, up to a limit.
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Nobody listens once the server is ready: keep reading anyway, so that
                // redis-server never blocks on a full pipe.
                line_tx.send(line).ok();
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut log = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains("Ready to accept connections") => break,
                Ok(line) => log.push(line),
                Err(e) => {
                    let stopped = child.kill().and_then(|()| child.wait());
                    panic!(
                        "redis-server on port {port} did not become ready ({e}; stopped: \
                         {stopped:?}); its log:\n{}",
                        log.join("\n")
                    );
                }
            }
        }
        Redis { child, port }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Run one command (a short one: it blocks the calling thread) and return its reply as
    /// text (integers and strings as such, arrays one item per line).
    pub(crate) fn command(&self, args: &[&str]) -> String {
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let mut conn = client
            .get_connection()
            .expect("a connection to the test's Redis");
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let reply: redis::Value = cmd.query(&mut conn).expect("the command ran");
        text(reply)
    }

    /// Kills the server and reaps it. `Child::kill` is `Ok` for a child that has already
    /// exited or been reaped (a second `stop`, or the drop after one), so both results count.
    pub(crate) fn stop(&mut self) {
        if let Err(e) = self.child.kill().and_then(|()| self.child.wait()) {
            if std::thread::panicking() {
                eprintln!("stopping redis-server on port {} failed: {e}", self.port);
            } else {
                panic!("stopping redis-server on port {} failed: {e}", self.port);
            }
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn text(value: redis::Value) -> String {
    match value {
        redis::Value::Int(n) => n.to_string(),
        redis::Value::Array(items) => items.into_iter().map(text).collect::<Vec<_>>().join("\n"),
        other => redis::from_redis_value::<String>(other).unwrap_or_default(),
    }
}
