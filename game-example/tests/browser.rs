//! A real browser: starts the game binary on a free port (`--match-size 2 --fill-after 0`),
//! runs `tests/browser/two_players.mjs` (two headless Chromium pages join one match, one
//! moves, the other sees it; screenshot in `tests/browser/artifacts/game.png`), then stops
//! the server with SIGINT and checks it shut down cleanly.
//!
//! Needs `node`, Debian's `chromium` (or `CHROMIUM=/path`) and `npm ci` in `tests/browser`
//! (`.ci/setup` installs them). The build script checks them: when one is missing the test
//! is reported as ignored, with the reason, unless `CI` is set, in which case it runs and
//! fails saying what to install. `TICKWIRE_SKIP_BROWSER=1` (without `CI`) ignores it on
//! purpose.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

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

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

#[test]
#[cfg_attr(
    game_example_missing_browser,
    ignore = "needs node, chromium and npm ci in game-example/tests/browser (run .ci/setup), \
              or TICKWIRE_SKIP_BROWSER is set"
)]
fn two_browser_pages_share_a_match_and_see_each_other_move() {
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
    // The script saves a fresh screenshot: one left by an earlier run must not count.
    let screenshot = dir.join("artifacts/game.png");
    match std::fs::remove_file(&screenshot) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("removing the old {}: {e}", screenshot.display()),
    }

    let child = Command::new(env!("CARGO_BIN_EXE_game-example"))
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--match-size",
            "2",
            "--fill-after",
            "0",
            "--workers",
            "2",
        ])
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

    // The server prints its URL, then "bye" when it has shut down.
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[server] {line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the server printed no URL within 30 s ({e})"));
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };

    // two_players.mjs bounds itself (a global timeout that exits with a failure).
    let status = Command::new("node")
        .arg("two_players.mjs")
        .current_dir(&dir)
        .env("GAME_URL", &url)
        .env("CHROMIUM", &chromium)
        .status()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run .ci/setup (Node.js)"));
    assert!(
        status.success(),
        "the browser test failed ({status}, see its output above)"
    );
    let shot = std::fs::metadata(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot saved at {}: {e}", screenshot.display()));
    assert!(
        shot.len() > 0,
        "the screenshot {} is empty",
        screenshot.display()
    );

    // Graceful stop on SIGINT (what Ctrl-C sends), sent to the PID of the server started above.
    let pid = guard.0.as_ref().map(Child::id).expect("server child");
    let killed = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -INT {pid}: {killed}");
    // Its output ends with "bye" once the shutdown completed; its stdout closes when it exits.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut said_bye = false;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => said_bye |= line.trim() == "bye",
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the server did not stop within 15 s of SIGINT")
            }
        }
    }
    let mut child = guard.0.take().expect("server child");
    let exit = child.wait().expect("wait for the server");
    assert!(exit.success(), "the server exited with {exit}");
    assert!(said_bye, "the server did not finish its shutdown");
}
