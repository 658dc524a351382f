//! Embeds the compact codec's browser module when the protocol crate ships it.
//!
//! The page prefers the compact codec when `/tickwire-compact.js` loads and works; without
//! the file the binary serves an empty module and the page speaks JSON.
//!
//! It also tells the tests which of the outside programs they drive this machine has
//! (`.ci/setup` installs them). For each one missing it emits a `cfg` the tests turn into
//! `#[ignore = "..."]`, and a build warning naming what is missing:
//!
//! - `game_example_missing_node`: `node` is not on `PATH` (`tests/compact_schemas.rs`);
//! - `game_example_missing_browser`: `node`, Chromium (`$CHROMIUM`, else `/usr/bin/chromium`)
//!   or `tests/browser/node_modules/playwright-core` (`npm ci` there) is missing, or
//!   `TICKWIRE_SKIP_BROWSER` is set (`tests/browser.rs`);
//! - `game_example_missing_redis`: `redis-server` is not on `PATH` (`tests/cluster_flow.rs`,
//!   and the two-node test of `tests/browser.rs`).
//!
//! With `CI` set (any non-empty value) it emits none of them: in CI the tests run and fail,
//! saying what to install. `CI` with `TICKWIRE_SKIP_BROWSER` fails the build.

use std::path::{Path, PathBuf};

fn main() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/js/tickwire-compact.js");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=../protocol/js");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("tickwire-compact.js");
    let text = std::fs::read_to_string(&source).unwrap_or_default();
    std::fs::write(&out, text).expect("OUT_DIR is writable");

    detect_test_programs();
}

fn detect_test_programs() {
    println!("cargo::rustc-check-cfg=cfg(game_example_missing_node)");
    println!("cargo::rustc-check-cfg=cfg(game_example_missing_browser)");
    println!("cargo::rustc-check-cfg=cfg(game_example_missing_redis)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=TICKWIRE_SKIP_BROWSER");
    let skip = env_set("TICKWIRE_SKIP_BROWSER").then_some("TICKWIRE_SKIP_BROWSER");
    if env_set("CI") {
        // Under CI nothing may be skipped.
        assert!(
            skip.is_none(),
            "CI is set together with TICKWIRE_SKIP_BROWSER: unset one \
             (the browser test must run under CI)"
        );
        return;
    }
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CHROMIUM");

    let node = on_path("node");
    let node_missing: Vec<String> = (!node)
        .then(|| "`node` is not on PATH".to_owned())
        .into_iter()
        .collect();
    report(
        "game_example_missing_node",
        "the compact schema test",
        &node_missing,
        None,
    );

    let redis: Vec<String> = (!on_path("redis-server"))
        .then(|| "`redis-server` is not on PATH".to_owned())
        .into_iter()
        .collect();
    report(
        "game_example_missing_redis",
        "the cluster tests",
        &redis,
        None,
    );

    let mut browser = node_missing;
    // The same default as tests/browser.rs.
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if executable(&chromium) {
        println!("cargo::rerun-if-changed={}", chromium.display());
    } else {
        browser.push(format!(
            "no Chromium at {} (set CHROMIUM to its path)",
            chromium.display()
        ));
        // An install there: watch its directory, unless that is `/` or missing.
        if let Some(dir) = chromium
            .parent()
            .filter(|d| d.parent().is_some() && d.is_dir())
        {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let playwright = browser_dir.join("node_modules/playwright-core/package.json");
    watch(&playwright);
    if !playwright.is_file() {
        browser.push(format!(
            "playwright-core is not installed (npm ci in {})",
            browser_dir.display()
        ));
    }
    report(
        "game_example_missing_browser",
        "the browser test",
        &browser,
        skip,
    );
}

/// Emits `cfg` and a warning when something is `missing`, or when `forced_by` (the name of
/// an opt-out variable that is set) says so.
fn report(cfg: &str, tests: &str, missing: &[String], forced_by: Option<&str>) {
    let why = if !missing.is_empty() {
        format!(
            "{} (run .ci/setup; with CI set it fails)",
            missing.join("; ")
        )
    } else if let Some(var) = forced_by {
        format!("{var} is set")
    } else {
        return;
    };
    println!("cargo::rustc-cfg={cfg}");
    println!("cargo::warning={tests} will be ignored: {why}");
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// Whether an executable `name` is in a directory of `PATH`. Watches what it finds (so an
/// uninstall reruns this script) or, when nothing, every directory of `PATH` (an install).
fn on_path(name: &str) -> bool {
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| d.is_absolute()).collect();
    if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| executable(p)) {
        println!("cargo::rerun-if-changed={}", found.display());
        return true;
    }
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    false
}

fn executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Reruns this script when `path` (in this package) changes or, while it does not exist,
/// when its nearest existing ancestor in this package does (a directory: cargo watches
/// everything under it).
fn watch(path: &Path) {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(existing) = path
        .ancestors()
        .take_while(|p| p.starts_with(package))
        .find(|p| p.exists())
    {
        println!("cargo::rerun-if-changed={}", existing.display());
    }
}
