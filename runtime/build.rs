//! Tells the tests which of the outside programs they drive this machine has.
//!
//! The interop and cluster tests run real programs: `node` with the npm modules of
//! `tests/interop/js`, the Python venv of `tests/interop/python` and `redis-server`
//! (`.ci/setup` installs them all). For each one missing this emits a `cfg` that the tests
//! turn into `#[ignore = "..."]`, so `cargo test` reports them as ignored, with the reason,
//! and prints a build warning naming what is missing:
//!
//! - `tickwire_missing_interop_js`: `node` is not on `PATH`, or a dependency of
//!   `tests/interop/js/package.json` is not in its `node_modules` (`npm ci` there);
//! - `tickwire_missing_interop_python`: the venv `tests/interop/python/.venv` is missing, or
//!   lacks a package of `requirements.txt` at its pinned version;
//! - `tickwire_missing_redis`: `redis-server` is not on `PATH`;
//! - `tickwire_missing_haproxy` / `tickwire_missing_nginx`: Debian's `haproxy` / `nginx` is
//!   neither on `PATH` nor in `/usr/sbin` (the balancer tests of `tests/sticky_free.rs`).
//!
//! `TICKWIRE_SKIP_INTEROP` (any non-empty value) ignores the node and Python tests on purpose.
//!
//! With `CI` set (any non-empty value) it emits none of them, whatever is missing: in CI the
//! tests run and fail, saying what to install. `CI` with `TICKWIRE_SKIP_INTEROP` fails the
//! build.
//!
//! The script reruns when `CI`, `TICKWIRE_SKIP_INTEROP` or `PATH` change, when a program it
//! found changes or goes away, when a directory of `PATH` changes while a program is missing
//! (an install), and when the manifests or the installed packages change.

use std::path::{Path, PathBuf};

const CFGS: [&str; 5] = [
    "tickwire_missing_interop_js",
    "tickwire_missing_interop_python",
    "tickwire_missing_redis",
    "tickwire_missing_haproxy",
    "tickwire_missing_nginx",
];

fn main() {
    for cfg in CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=TICKWIRE_SKIP_INTEROP");
    let skip = env_set("TICKWIRE_SKIP_INTEROP").then_some("TICKWIRE_SKIP_INTEROP");
    if env_set("CI") {
        // Under CI nothing may be skipped: refuse rather than let a test pass without running
        // (the runtime's Node script helper still reads TICKWIRE_SKIP_INTEROP itself).
        assert!(
            skip.is_none(),
            "CI is set together with TICKWIRE_SKIP_INTEROP: unset one \
             (the interop tests must run under CI)"
        );
        return;
    }
    println!("cargo::rerun-if-env-changed=PATH");
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");

    let mut js = Vec::new();
    if !on_path("node") {
        js.push("`node` is not on PATH".to_owned());
    }
    js.extend(missing_npm_modules(&tests.join("js")));
    report(
        "tickwire_missing_interop_js",
        "the node interop tests",
        &js,
        skip,
    );

    let python = missing_python_packages(&tests.join("python"));
    report(
        "tickwire_missing_interop_python",
        "the Python interop tests",
        &python,
        skip,
    );

    let redis: Vec<String> = (!on_path("redis-server"))
        .then(|| "`redis-server` is not on PATH".to_owned())
        .into_iter()
        .collect();
    report("tickwire_missing_redis", "the cluster tests", &redis, None);

    for balancer in ["haproxy", "nginx"] {
        let found = on_path(balancer) || executable(&Path::new("/usr/sbin").join(balancer));
        let missing: Vec<String> = (!found)
            .then(|| format!("`{balancer}` is not on PATH nor in /usr/sbin"))
            .into_iter()
            .collect();
        report(
            &format!("tickwire_missing_{balancer}"),
            &format!("the {balancer} balancer tests"),
            &missing,
            None,
        );
    }
}

/// Emits `cfg` and a warning when something is `missing`, or when `forced_by` (the name of
/// an opt-out variable that is set) says so.
fn report(cfg: &str, tests: &str, missing: &[String], forced_by: Option<&str>) {
    let why = if !missing.is_empty() {
        format!(
            "{} (run .ci/setup; with CI set they fail)",
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

/// The dependencies of `dir/package.json` that `dir/node_modules` lacks (or why the list
/// cannot be read).
fn missing_npm_modules(dir: &Path) -> Vec<String> {
    let manifest = dir.join("package.json");
    watch(&manifest);
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return vec![format!("cannot read {}", manifest.display())];
    };
    let mut missing = Vec::new();
    for name in npm_dependencies(&text) {
        let installed = dir.join("node_modules").join(&name).join("package.json");
        watch(&installed);
        if !installed.is_file() {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "the npm modules {} are not installed (npm ci in {})",
        missing.join(", "),
        dir.display()
    )]
}

/// The keys of the `"dependencies"` object of a `package.json` (a flat object of strings).
fn npm_dependencies(manifest: &str) -> Vec<String> {
    let Some(start) = manifest.find("\"dependencies\"") else {
        return Vec::new();
    };
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else {
        return Vec::new();
    };
    rest.get(open + 1..close)
        .unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let key = entry.split(':').next()?.trim().trim_matches('"');
            (!key.is_empty()).then(|| key.to_owned())
        })
        .collect()
}

/// The packages of `dir/requirements.txt` (pinned `name==version`) that the venv `dir/.venv`
/// lacks at that version, or that the venv is missing.
fn missing_python_packages(dir: &Path) -> Vec<String> {
    let venv = dir.join(".venv");
    let python = venv.join("bin").join("python");
    watch(&python);
    if !executable(&python) {
        return vec![format!("there is no venv at {}", venv.display())];
    }
    let requirements = dir.join("requirements.txt");
    watch(&requirements);
    let Ok(text) = std::fs::read_to_string(&requirements) else {
        return vec![format!("cannot read {}", requirements.display())];
    };
    // `lib/python3.X/site-packages`: pip records each install as `<name>-<version>.dist-info`.
    let site_packages: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    let installed: Vec<(String, PathBuf)> = site_packages
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((normalize(name.strip_suffix(".dist-info")?), e.path()))
        })
        .collect();
    let mut missing = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let Some((name, version)) = line.split_once("==") else {
            continue;
        };
        let name = name.split('[').next().unwrap_or_default().trim();
        let version = version.trim();
        let wanted = normalize(&format!("{name}-{version}"));
        match installed.iter().find(|(n, _)| *n == wanted) {
            // pip rewrites RECORD when it reinstalls the package and removes it with it.
            Some((_, dist_info)) => watch(&dist_info.join("RECORD")),
            None => missing.push(format!("{name}=={version}")),
        }
    }
    if missing.is_empty() {
        return missing;
    }
    // Rerun when pip installs what is missing.
    for d in &site_packages {
        watch(d);
    }
    let more = match missing.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    vec![format!(
        "{}{more} of {} is not in the venv {}",
        missing[0],
        requirements.display(),
        venv.display()
    )]
}

/// A distribution's `name-version` as pip spells its `.dist-info` directory: lower case,
/// runs of `-`, `_` and `.` in the name as one `_`.
fn normalize(name_version: &str) -> String {
    let (name, version) = name_version.rsplit_once('-').unwrap_or((name_version, ""));
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.extend(c.to_lowercase());
        }
    }
    format!("{out}-{}", version.to_lowercase())
}
