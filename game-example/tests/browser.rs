//! A real browser: starts the game binary on a free port (`--match-size 2 --fill-after 0`),
//! runs `tests/browser/two_players.mjs` (two headless Chromium pages join one match, one
//! moves, the other sees it; screenshot in `tests/browser/artifacts/game.png`), then stops
//! the server with SIGINT and checks it shut down cleanly.
//!
//! Needs Debian's `chromium` (or `CHROMIUM=/path`) and `npm ci` in `tests/browser`.
//! `TICKWIRE_SKIP_BROWSER=1` skips it with a note.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the server if the test fails before stopping it.
struct ServerGuard(Option<Child>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

#[test]
fn two_browser_pages_share_a_match_and_see_each_other_move() {
    if std::env::var("TICKWIRE_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("browser test skipped: TICKWIRE_SKIP_BROWSER=1");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = chromium_path();
    assert!(
        chromium.exists(),
        "chromium not found at {}: install it (apt-get install -y chromium), set CHROMIUM=/path, \
         or set TICKWIRE_SKIP_BROWSER=1 to skip this test",
        chromium.display()
    );
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed: run `npm ci` in {} (or set TICKWIRE_SKIP_BROWSER=1)",
        dir.display()
    );
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        node_ok,
        "node is not on PATH (or set TICKWIRE_SKIP_BROWSER=1)"
    );

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
            .expect("the server printed its URL within 30 s");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_owned();
        }
    };

    let status = Command::new("node")
        .arg("two_players.mjs")
        .current_dir(&dir)
        .env("GAME_URL", &url)
        .env("CHROMIUM", &chromium)
        .status()
        .expect("run node");
    assert!(
        status.success(),
        "the browser test failed (see its output above)"
    );
    assert!(
        dir.join("artifacts/game.png").exists(),
        "no screenshot saved"
    );

    // Graceful stop on SIGINT (what Ctrl-C sends).
    let pid = guard.0.as_ref().map(Child::id).expect("server child");
    let killed = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let started = std::time::Instant::now();
    let exit = loop {
        let child = guard.0.as_mut().expect("server child");
        if let Some(exit) = child.try_wait().expect("wait for the server") {
            guard.0 = None;
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the server did not stop within 15 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "the server exited with {exit}");
    // Its output ends with "bye" once the shutdown completed.
    let mut said_bye = false;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        said_bye |= line.trim() == "bye";
    }
    assert!(said_bye, "the server did not finish its shutdown");
}
