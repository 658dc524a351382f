//! The runtime's layers depend on each other one way only, and the protocol crate stays
//! sans-IO. Reads the sources; fails naming the file and the offending path.
//!
//! | layer (folder of `runtime/src`) | may use |
//! |---|---|
//! | `config.rs` (the shared limits) | nothing above it |
//! | `engine/` | `config` |
//! | `socketio/` | `engine`, `config` |
//! | `link/` (the buses' shared plumbing) | `engine`, `config` |
//! | `cluster/` | `socketio`, `link`, `config` |
//! | `game/` (its cluster part) | `socketio`, `link`, `config` |
//! | `auth/` (session tokens) | `socketio`, `link`, `config` |
//!
//! The crate root (`lib.rs`, and the benchmarks' hooks) may use every layer. Doc comments and
//! comments are not code: a doc link to another layer is fine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LAYERS: [&str; 7] = [
    "config", "engine", "link", "socketio", "game", "cluster", "auth",
];

/// The layers `layer` may use besides itself.
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "config" => &[],
        "engine" => &["config"],
        "socketio" => &["engine", "config"],
        "link" => &["engine", "config"],
        "game" => &["socketio", "link", "config"],
        "cluster" => &["socketio", "link", "config"],
        "auth" => &["socketio", "link", "config"],
        _ => &LAYERS,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string literals (so that only code is searched).
fn code_of(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            // A quote as a char literal opens no string.
            '\'' if chars.peek() == Some(&'"') => {
                out.push(c);
                out.push('"');
                chars.next();
            }
            '"' => in_str = true,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The layers of this crate a file's code names (`crate::<layer>`).
fn layers_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if LAYERS.contains(&name.as_str()) {
            used.insert(name);
        }
    }
    used
}

fn layer_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 40, "the runtime's sources were found");
    let mut violations = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file);
        if !LAYERS.contains(&layer.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("source file");
        for used in layers_used(&code_of(&source)) {
            if used != layer && !allowed(&layer).contains(&used.as_str()) {
                violations.push(format!(
                    "{} ({layer}) uses crate::{used}",
                    file.strip_prefix(&src).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports from a layer above or beside:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_protocol_crate_stays_sans_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty(), "the protocol's sources were found");
    let mut violations = Vec::new();
    for file in &files {
        let code = code_of(&std::fs::read_to_string(file).expect("source file"));
        for banned in [
            "actix",
            "tokio",
            "Instant::now",
            "SystemTime::now",
            "std::net",
            "std::fs",
            "rand::",
        ] {
            if code.contains(banned) {
                violations.push(format!("{}: {banned}", file.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "I/O, a runtime or a clock in the protocol crate:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_should() {
    let code = code_of("use crate::game::Match; // crate::cluster\nlet s = \"crate::engine\";");
    assert_eq!(layers_used(&code), BTreeSet::from(["game".to_owned()]));
    assert!(!allowed("engine").contains(&"socketio"));
    assert!(allowed("game").contains(&"socketio"));
}
