//! Tells the smoke tests whether this machine has `redis-server` (the matches-across-nodes
//! scenario runs its nodes on one): when it is missing, emits `benches_missing_redis`, which
//! the test turns into `#[ignore = "..."]`, and a build warning. With `CI` set (any
//! non-empty value) it emits nothing: in CI the test runs and fails, saying what to install.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(benches_missing_redis)");
    println!("cargo::rerun-if-env-changed=CI");
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        return;
    }
    println!("cargo::rerun-if-env-changed=PATH");
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
    });
    if !found {
        println!("cargo::rustc-cfg=benches_missing_redis");
        println!(
            "cargo::warning=the matches-across-nodes smoke test is ignored: `redis-server` is \
             not on PATH (Debian: apt install redis-server; .ci/setup does it)"
        );
    }
}
