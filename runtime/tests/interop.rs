//! Interop: the official clients against the conformance example server.
//!
//! Each test starts `target/<profile>/examples/conformance --port P` on a free port, waits for
//! its `listening on ...` line, and runs one client script against it with one transport mode:
//!
//! - `tests/interop/js/interop.mjs`: `socket.io-client` (npm), run with `node`;
//! - `tests/interop/python/interop.py`: `python-socketio` (PyPI), run with the venv's python;
//!
//! each over `websocket`, `polling` and `upgrade` (polling first, then the upgrade to
//! websocket, which the scripts check actually happens). The server runs on
//! `tickwire::Server`; the `*_plain_*` cases run the upgrade against the same app served by
//! a plain actix-web `HttpServer` (`--plain`).
//!
//! Prerequisites (`.ci/setup` installs them): `node` and `npm ci` in `tests/interop/js`, and a
//! venv at `tests/interop/python/.venv` with `requirements.txt`. The build script
//! (`runtime/build.rs`) checks them: when one is missing the tests that need it are reported
//! as ignored, with the reason, unless `CI` is set, in which case they run and fail saying
//! what to install. `TICKWIRE_SKIP_INTEROP=1` (without `CI`) ignores them all on purpose.
//!
//! `cargo test` builds the example before running tests; `cargo test --test interop` alone does
//! not, so build it first (`cargo build -p tickwire --example conformance`).
//! `TICKWIRE_CONFORMANCE_BIN=/path/to/server` runs the scripts against another server binary
//! with the same command-line contract.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the server may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Hard limit for one client script; the scripts have their own, shorter global timeout so
/// they normally report first, with a better message.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_SELF_TIMEOUT_SECS: u64 = 50;
/// How long to wait for a finished child's output pipes to drain.
const PIPE_DRAIN: Duration = Duration::from_secs(2);
/// Attempts at starting the server (a free port can be taken between probing and binding).
const START_ATTEMPTS: usize = 3;

/// One client script at a time: the server's heartbeat is 300 ms + 200 ms, so two clients
/// fighting for two cores next to the rest of the suite would only make timing flakier.
static SERIAL: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug)]
enum Client {
    Js,
    Python,
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

/// `target/<profile>/deps/interop-<hash>` → `target/<profile>/examples/conformance`.
fn conformance_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TICKWIRE_CONFORMANCE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is expected under target/<profile>/deps/");
    profile_dir
        .join("examples")
        .join(format!("conformance{}", std::env::consts::EXE_SUFFIX))
}

/// Collects everything a child writes to one pipe, on a thread.
struct Capture {
    text: Arc<Mutex<String>>,
    /// Disconnected (its sender dropped) when the thread ends, at the end of the pipe.
    closed: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn spawn<R: Read + Send + 'static>(
        pipe: R,
        mut on_line: impl FnMut(&str) + Send + 'static,
    ) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&text);
        let (closed_tx, closed) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            let _closed_tx = closed_tx;
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        on_line(line.trim_end());
                        lock(&sink).push_str(&line);
                    }
                    Err(e) => {
                        lock(&sink).push_str(&format!("[reading the pipe failed: {e}]\n"));
                        break;
                    }
                }
            }
        });
        Capture {
            text,
            closed,
            thread: Some(thread),
        }
    }

    /// Waits until the pipe closes (the child and whatever inherited it are gone) or
    /// `deadline` passes; `true` if it closed.
    fn wait_closed(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        matches!(
            self.closed.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Disconnected)
        )
    }

    /// Everything captured so far.
    fn snapshot(&self) -> String {
        lock(&self.text).clone()
    }

    /// Waits (at most `PIPE_DRAIN`) for the pipe to close, then returns everything captured.
    /// Bounded because a grandchild could keep the pipe open after the child is gone.
    fn finish(mut self) -> String {
        if self.wait_closed(Instant::now() + PIPE_DRAIN) {
            if let Some(t) = self.thread.take() {
                if t.join().is_err() {
                    panic!("the thread reading a child's output panicked");
                }
            }
        }
        self.snapshot()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last `max` lines of `text`, for failure messages.
fn tail(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max);
    let mut out = String::new();
    if start > 0 {
        out.push_str(&format!("[... {start} earlier lines ...]\n"));
    }
    for l in &lines[start..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// How the conformance server serves: `tickwire::Server`, or a plain actix-web
/// `HttpServer` (websockets inside its HTTP dispatcher).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Tickwire,
    Plain,
}

/// The running conformance server; killed (by its handle) when dropped, also on panic.
struct Server {
    child: Child,
    url: String,
    stdout: Option<Capture>,
    stderr: Option<Capture>,
}

impl Server {
    fn start(binary: &Path, front: Front) -> Server {
        let mut last_error = String::new();
        for attempt in 1..=START_ATTEMPTS {
            match Server::try_start(binary, front) {
                Ok(server) => return server,
                Err(e) => {
                    last_error = format!("attempt {attempt}: {e}");
                    eprintln!("interop: starting the conformance server failed, {last_error}");
                }
            }
        }
        panic!(
            "could not start the conformance server {}: {last_error}",
            binary.display()
        );
    }

    fn try_start(binary: &Path, front: Front) -> Result<Server, String> {
        let port = {
            let probe =
                TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
            probe.local_addr().map_err(|e| e.to_string())?.port()
        };
        let mut command = Command::new(binary);
        if front == Front::Plain {
            command.arg("--plain");
        }
        let mut child = command
            .arg("--port")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let (tx, rx) = mpsc::channel::<String>();
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
        let stderr: ChildStderr = child.stderr.take().expect("piped stderr");
        let mut tx = Some(tx);
        let stdout = Capture::spawn(stdout, move |line| {
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                if let Some(tx) = tx.take() {
                    // Fails only once `try_start` gave up waiting (and reports that instead).
                    tx.send(addr.trim().to_string()).ok();
                }
            }
        });
        let stderr = Capture::spawn(stderr, |_| {});
        let mut server = Server {
            child,
            url: String::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => {
                server.url = if addr.is_empty() {
                    format!("http://127.0.0.1:{port}")
                } else {
                    format!("http://{addr}")
                };
                Ok(server)
            }
            // The stdout reader ended without the line: the server closed stdout, it is exiting.
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!(
                "the server closed stdout without printing `listening on`\n{}",
                server.kill_and_logs()
            )),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "no `listening on` line within {STARTUP_TIMEOUT:?}\n{}",
                server.kill_and_logs()
            )),
        }
    }

    /// Kills the server (if still running), waits for its pipes to close and returns its exit
    /// status and all it printed, for failure messages.
    fn kill_and_logs(&mut self) -> String {
        let status = match stop(&mut self.child) {
            Ok(status) => format!("server exit status: {status}"),
            Err(e) => format!("stopping the server failed: {e}"),
        };
        let out = self.stdout.take().map(Capture::finish).unwrap_or_default();
        let err = self.stderr.take().map(Capture::finish).unwrap_or_default();
        format!("{status}\n{}", format_logs(&out, &err))
    }

    /// `Some(status)` if the server is no longer running.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("checking whether the server is running: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(e) = stop(&mut self.child) {
            if thread::panicking() {
                eprintln!("interop: stopping the conformance server failed: {e}");
            } else {
                panic!("stopping the conformance server failed: {e}");
            }
        }
    }
}

/// Kills `child` and reaps it. `Child::kill` returns `Ok` for a child that has already exited
/// (or been reaped), so an error from either call is a real failure, never ignored.
fn stop(child: &mut Child) -> io::Result<ExitStatus> {
    child.kill()?;
    child.wait()
}

/// A failed spawn, with what to install when the program itself is missing.
fn spawn_error(cmd: &Command, e: &io::Error) -> String {
    let program = cmd.get_program().to_string_lossy();
    if e.kind() == io::ErrorKind::NotFound {
        format!("`{program}` is not installed (not found): run .ci/setup ({e})")
    } else {
        format!("spawn {cmd:?}: {e}")
    }
}

fn format_logs(out: &str, err: &str) -> String {
    format!(
        "--- server stdout (tail) ---\n{}--- server stderr (tail) ---\n{}",
        tail(out, 40),
        tail(err, 80)
    )
}

/// Runs `cmd` to completion or until `timeout`, killing it (by its handle) on timeout.
/// Returns the exit status (`None` on timeout) and the merged stdout + stderr.
///
/// It waits for the child's pipes to close (it exited) rather than polling its status.
fn run_bounded(
    mut cmd: Command,
    timeout: Duration,
) -> Result<(Option<ExitStatus>, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(&cmd, &e))?;
    let out = Capture::spawn(child.stdout.take().expect("piped stdout"), |_| {});
    let err = Capture::spawn(child.stderr.take().expect("piped stderr"), |_| {});
    let deadline = Instant::now() + timeout;
    let closed = out.wait_closed(deadline) && err.wait_closed(deadline);
    let status = match child.try_wait() {
        Ok(Some(status)) => Some(status),
        // Both pipes closed: the child is exiting, reap it.
        Ok(None) if closed => Some(
            child
                .wait()
                .map_err(|e| format!("waiting for {cmd:?}: {e}"))?,
        ),
        Ok(None) => {
            stop(&mut child).map_err(|e| format!("killing {cmd:?} after {timeout:?}: {e}"))?;
            None
        }
        Err(e) => {
            let stopped = stop(&mut child);
            return Err(format!(
                "waiting for {cmd:?}: {e} (then stopping it: {stopped:?})"
            ));
        }
    };
    let mut text = out.finish();
    let err = err.finish();
    if !err.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&err);
    }
    Ok((status, text))
}

/// The command that runs `client`'s script, or why it cannot run.
fn client_command(client: Client) -> Result<Command, String> {
    let dir = interop_dir();
    match client {
        Client::Js => {
            let js = dir.join("js");
            if !js.join("node_modules").join("socket.io-client").is_dir() {
                return Err(format!(
                    "{} is missing: run .ci/setup (or `npm ci` in {})",
                    js.join("node_modules/socket.io-client").display(),
                    js.display()
                ));
            }
            let mut cmd = Command::new("node");
            cmd.arg("interop.mjs").current_dir(&js).env(
                "TICKWIRE_INTEROP_TIMEOUT_MS",
                (SCRIPT_SELF_TIMEOUT_SECS * 1000).to_string(),
            );
            Ok(cmd)
        }
        Client::Python => {
            let py = dir.join("python");
            let python = py.join(".venv").join("bin").join("python");
            if !python.exists() {
                return Err(format!(
                    "{} is missing: run .ci/setup (or create the venv with `python3 -m venv {}` \
                     and `{} -m pip install -r {}`)",
                    python.display(),
                    py.join(".venv").display(),
                    python.display(),
                    py.join("requirements.txt").display()
                ));
            }
            let mut cmd = Command::new(python);
            cmd.arg("interop.py")
                .current_dir(&py)
                .env(
                    "TICKWIRE_INTEROP_TIMEOUT",
                    SCRIPT_SELF_TIMEOUT_SECS.to_string(),
                )
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            Ok(cmd)
        }
    }
}

fn run_case(client: Client, mode: &str) {
    run_case_on(client, mode, Front::Tickwire);
}

fn run_case_on(client: Client, mode: &str, front: Front) {
    let mut cmd = client_command(client)
        .unwrap_or_else(|why| panic!("{client:?} interop client not installed: {why}"));
    let binary = conformance_binary();
    assert!(
        binary.is_file(),
        "conformance server not found at {}: `cargo test -p tickwire` builds it (examples are \
         built before tests), or run `cargo build -p tickwire --example conformance`; \
         TICKWIRE_CONFORMANCE_BIN overrides the path",
        binary.display()
    );

    let _serial = lock(&SERIAL);
    let mut server = Server::start(&binary, front);
    cmd.env("TICKWIRE_URL", &server.url)
        .env("TICKWIRE_TRANSPORTS", mode);
    println!(
        "{client:?} client, {mode}, against {} ({front:?}) at {}",
        binary.display(),
        server.url
    );
    let started = Instant::now();
    let (status, output) =
        run_bounded(cmd, SCRIPT_TIMEOUT).unwrap_or_else(|e| panic!("{client:?} client: {e}"));
    // Everything the script printed (shown by the harness on failure or with --nocapture).
    println!("{}", output.trim_end());

    let server_exit = server.exited();
    let ok = status.is_some_and(|s| s.success()) && server_exit.is_none();
    if !ok {
        let what = match status {
            None => format!("timed out after {SCRIPT_TIMEOUT:?} and was killed"),
            Some(s) if !s.success() => format!("failed ({s})"),
            Some(_) => "passed, but the server did not survive the run".to_string(),
        };
        let server_note = match server_exit {
            Some(s) => format!("the server exited during the run: {s}\n"),
            None => String::new(),
        };
        panic!(
            "{client:?} interop ({mode}) {what} after {:.1?} (client output above)\n{server_note}{}",
            started.elapsed(),
            server.kill_and_logs()
        );
    }
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn js_websocket() {
    run_case(Client::Js, "websocket");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn js_polling() {
    run_case(Client::Js, "polling");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn js_upgrade() {
    run_case(Client::Js, "upgrade");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_python,
    ignore = "needs the venv runtime/tests/interop/python/.venv (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn python_websocket() {
    run_case(Client::Python, "websocket");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_python,
    ignore = "needs the venv runtime/tests/interop/python/.venv (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn python_polling() {
    run_case(Client::Python, "polling");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_python,
    ignore = "needs the venv runtime/tests/interop/python/.venv (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn python_upgrade() {
    run_case(Client::Python, "upgrade");
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_js,
    ignore = "needs node and npm ci in runtime/tests/interop/js (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn js_upgrade_from_a_plain_actix_web_server() {
    run_case_on(Client::Js, "upgrade", Front::Plain);
}

#[test]
#[cfg_attr(
    tickwire_missing_interop_python,
    ignore = "needs the venv runtime/tests/interop/python/.venv (run .ci/setup), \
              or TICKWIRE_SKIP_INTEROP is set"
)]
fn python_upgrade_from_a_plain_actix_web_server() {
    run_case_on(Client::Python, "upgrade", Front::Plain);
}
