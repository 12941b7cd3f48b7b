//! Asks the linker to put the functions a server runs side by side, in the
//! order `layout/serve-symbols.txt` lists them (written by
//! `benches/hot_symbols.py`). Every 64 KiB of the binary that holds one
//! function a server runs is mapped, so scattered, the server's code took
//! 2.4 MiB of its memory; side by side, 1.3 MiB (see docs/performance.md,
//! "Code layout"). The order changes where code is, never what it does.
//!
//! Only where the linker is LLD (`--symbol-ordering-file` is its option):
//! x86_64 Linux with glibc from Rust 1.90 on, unless a linker is chosen
//! (Cargo's `linker =`, `-C link-arg=-fuse-ld=…`, rustc's linker flags).
//! Only the release profile: the names listed are that profile's. A name
//! the binary lacks (the list is stale) is skipped quietly, and then the
//! layout is as without the list.

use std::env;
use std::path::Path;
use std::process::Command;

const LIST: &str = "layout/serve-symbols.txt";

fn main() {
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let list = Path::new(&dir).join(LIST);
    if list.is_file() && linker_is_lld() && env::var("PROFILE").as_deref() == Ok("release") {
        let list = list.display();
        println!("cargo:rustc-link-arg-bin=sockchat=-Wl,--symbol-ordering-file={list}");
        println!("cargo:rustc-link-arg-bin=sockchat=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links this target with its own LLD: the default for
/// x86_64-unknown-linux-gnu since Rust 1.90.
fn linker_is_lld() -> bool {
    // A linker of one's own (Cargo's `linker =`, which reaches us as
    // RUSTC_LINKER, or its variable) or flags that pick one (`-fuse-ld=`,
    // rustc's linker options) may not be LLD, which would refuse the list.
    const CHOSEN: [&str; 2] = [
        "RUSTC_LINKER",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
    ];
    for name in CHOSEN.iter().chain(&["CARGO_ENCODED_RUSTFLAGS"]) {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let picks_linker = ["fuse-ld", "linker", "link-self-contained"]
        .iter()
        .any(|flag| flags.contains(flag));
    target == "x86_64-unknown-linux-gnu"
        && !picks_linker
        && CHOSEN.iter().all(|name| env::var_os(name).is_none())
        && rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the rustc that builds this (1.MINOR.x).
fn rustc_minor() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let release = text.lines().find_map(|l| l.strip_prefix("release: "))?;
    release.split('.').nth(1)?.parse().ok()
}
