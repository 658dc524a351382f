//! A real browser against the game binary, two ways:
//!
//! - one node: starts the binary on a free port (`--match-size 2 --fill-after 0`), runs
//!   `tests/browser/two_players.mjs` (two headless Chromium pages join one match, one moves,
//!   the other sees it; screenshot in `tests/browser/artifacts/game.png`), then stops the
//!   server with SIGINT and checks it shut down cleanly;
//! - two nodes: starts a `redis-server` of its own and two game binaries with `--redis` on
//!   it, runs `tests/browser/two_nodes.mjs` (a page on each node: both land in one match with
//!   the same cluster match id, each sees the other move and both shoot; a third page
//!   watches from the node that does not host the match; screenshot in
//!   `tests/browser/artifacts/two_nodes.png`), then stops both nodes with SIGINT (they drain)
//!   and checks they shut down cleanly.
//!
//! Needs `node`, Debian's `chromium` (or `CHROMIUM=/path`) and `npm ci` in `tests/browser`
//! (`.ci/setup` installs them), and `redis-server` for the two-node test. The build script
//! checks them: when one is missing the test is reported as ignored, with the reason, unless
//! `CI` is set, in which case it runs and fails saying what to install.
//! `TICKWIRE_SKIP_BROWSER=1` (without `CI`) ignores both on purpose. The two tests take turns
//! (one Chromium at a time).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One browser test at a time: each runs its own Chromium and game servers.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Kills the server if the test fails before stopping it.
struct ServerGuard(Option<Child>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            // `kill` is `Ok` also when the server has already exited, so an error is real;
            // report it without a second panic while the test is already failing.
            if let Err(e) = child.kill().and_then(|()| child.wait()) {
                if std::thread::panicking() {
                    eprintln!("stopping the game server failed: {e}");
                } else {
                    panic!("stopping the game server failed: {e}");
                }
            }
        }
    }
}

/// A game binary this test started, with its stdout read line by line.
struct GameServer {
    name: String,
    guard: ServerGuard,
    lines: Receiver<String>,
    /// The page's URL, as printed.
    url: String,
    /// Its node id in a cluster (16 hex digits), as printed.
    node: Option<String>,
}

impl GameServer {
    /// Start the game binary with `args` (its port: any free one) and wait for its URL.
    fn start(name: &str, args: &[&str]) -> GameServer {
        let child = Command::new(env!("CARGO_BIN_EXE_game-example"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the game binary");
        let mut guard = ServerGuard(Some(child));
        let stdout = guard
            .0
            .as_mut()
            .and_then(|c| c.stdout.take())
            .expect("server stdout");
        // The server prints its URL (and, in a cluster, its node), then "bye" when it has
        // shut down.
        let (lines_tx, lines) = mpsc::channel::<String>();
        let label = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[{label}] {line}");
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = GameServer {
            name: name.to_owned(),
            guard,
            lines,
            url: String::new(),
            node: None,
        };
        let clustered = args.contains(&"--redis");
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.url.is_empty() || (clustered && server.node.is_none()) {
            let line = server
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| panic!("{name} printed no URL (or node) within 30 s ({e})"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                server.url = rest.trim().to_owned();
            }
            if let Some(rest) = line.split("cluster: node ").nth(1) {
                let node = rest.split(';').next().unwrap_or_default().trim();
                server.node = Some(node.to_owned());
            }
        }
        server
    }

    /// Send SIGINT (what Ctrl-C sends) to the PID of the server started above.
    fn interrupt(&self) {
        let pid = self.guard.0.as_ref().map(Child::id).expect("server child");
        let killed = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -INT {pid}: {killed}");
    }

    /// After [`GameServer::interrupt`]: its output ends with "bye" once the shutdown has
    /// completed, and its stdout closes when it exits, successfully, before `deadline`.
    fn wait_stopped(mut self, deadline: Instant) {
        let name = self.name.clone();
        let mut said_bye = false;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => said_bye |= line.trim() == "bye",
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{name} did not stop in time after SIGINT")
                }
            }
        }
        let mut child = self.guard.0.take().expect("server child");
        let exit = child.wait().expect("wait for the server");
        assert!(exit.success(), "{name} exited with {exit}");
        assert!(said_bye, "{name} did not finish its shutdown");
    }
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The browser scripts' directory and Chromium, after checking what the tests need.
fn prerequisites() -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = chromium_path();
    assert!(
        chromium.is_file(),
        "chromium not found at {}: run .ci/setup (Debian's chromium) or set CHROMIUM=/path",
        chromium.display()
    );
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is not installed: run .ci/setup (or `npm ci` in {})",
        dir.display()
    );
    match Command::new("node").arg("--version").output() {
        Ok(out) => assert!(out.status.success(), "`node --version` failed: {out:?}"),
        Err(e) => panic!("cannot run node ({e}): run .ci/setup (Node.js)"),
    }
    (dir, chromium)
}

/// The script saves a fresh screenshot at `path`: one left by an earlier run must not count.
fn remove_old(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("removing the old {}: {e}", path.display()),
    }
}

fn assert_saved(path: &Path) {
    let shot = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("no screenshot saved at {}: {e}", path.display()));
    assert!(shot.len() > 0, "the screenshot {} is empty", path.display());
}

/// Run `node script` in `dir` with `env`; it bounds itself (a global timeout that exits with
/// a failure).
fn run_script(dir: &Path, script: &str, env: &[(&str, &str)]) {
    let status = Command::new("node")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup (Node.js)"));
    assert!(
        status.success(),
        "the browser test {script} failed ({status}, see its output above)"
    );
}

#[test]
#[cfg_attr(
    game_example_missing_browser,
    ignore = "needs node, chromium and npm ci in game-example/tests/browser (run .ci/setup), \
              or TICKWIRE_SKIP_BROWSER is set"
)]
fn two_browser_pages_share_a_match_and_see_each_other_move() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, chromium) = prerequisites();
    let screenshot = dir.join("artifacts/game.png");
    remove_old(&screenshot);

    let server = GameServer::start(
        "server",
        // Short guest tokens: the pages renew them over their sockets while they play.
        &[
            "--match-size",
            "2",
            "--fill-after",
            "0",
            "--workers",
            "2",
            "--token-lifetime",
            "3",
        ],
    );
    run_script(
        &dir,
        "two_players.mjs",
        &[
            ("GAME_URL", &server.url),
            ("CHROMIUM", chromium.to_str().expect("a UTF-8 path")),
        ],
    );
    assert_saved(&screenshot);

    server.interrupt();
    server.wait_stopped(Instant::now() + Duration::from_secs(15));
}

#[test]
#[cfg_attr(
    any(game_example_missing_browser, game_example_missing_redis),
    ignore = "needs node, chromium and npm ci in game-example/tests/browser, and redis-server \
              (run .ci/setup), or TICKWIRE_SKIP_BROWSER is set"
)]
fn two_browser_pages_on_two_nodes_play_one_match() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, chromium) = prerequisites();
    let screenshot = dir.join("artifacts/two_nodes.png");
    remove_old(&screenshot);

    let redis = support::redis::Redis::start();
    let url = redis.url();
    // A short grace: once the pages are gone their seats wait out the reconnect window,
    // which the test does not need to see.
    let args = [
        "--match-size",
        "2",
        "--fill-after",
        "0",
        "--workers",
        "2",
        "--redis",
        &url,
        "--drain-grace",
        "3",
    ];
    let nodes = [
        GameServer::start("node A", &args),
        GameServer::start("node B", &args),
    ];
    let node_ids = |i: usize| nodes[i].node.clone().expect("a node id");
    assert_ne!(node_ids(0), node_ids(1), "two nodes");
    run_script(
        &dir,
        "two_nodes.mjs",
        &[
            ("GAME_URL_A", &nodes[0].url),
            ("GAME_URL_B", &nodes[1].url),
            ("GAME_NODE_A", &node_ids(0)),
            ("GAME_NODE_B", &node_ids(1)),
            ("CHROMIUM", chromium.to_str().expect("a UTF-8 path")),
        ],
    );
    assert_saved(&screenshot);

    // Both drain (3 s at most) and stop.
    for node in &nodes {
        node.interrupt();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    for node in nodes {
        node.wait_stopped(deadline);
    }
}
