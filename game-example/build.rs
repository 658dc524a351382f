//! Embeds the compact codec's browser module when the protocol crate ships it.
//!
//! The page prefers the compact codec when `/tickwire-compact.js` loads and works; without
//! the file the binary serves an empty module and the page speaks JSON.

use std::path::Path;

fn main() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/js/tickwire-compact.js");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=../protocol/js");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("tickwire-compact.js");
    let text = std::fs::read_to_string(&source).unwrap_or_default();
    std::fs::write(&out, text).expect("OUT_DIR is writable");
}
