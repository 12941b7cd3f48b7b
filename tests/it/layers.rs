//! The layers point one way: `main` → `app` → `cli` and the core
//! (`server`, `client`, which use `protocol`, `tls`, `address`, `runtime`).
//! The core never names the command line (`cli`, clap) or the application
//! (`app`), so tests, benchmarks and a future cluster node can drive it
//! without clap; `cli` may read the core's defaults but never uses `app`.
//! Checked by reading the source: every path that starts at `crate` or
//! `super` is looked at, and any mention of a clap crate.

use std::path::{Path, PathBuf};

/// The core: files and directories under `src/` that must stay free of
/// the command line.
const CORE: &[&str] = &[
    "server",
    "client",
    "protocol",
    "tls.rs",
    "address.rs",
    "runtime.rs",
];

/// Crate modules the core must not use.
const ABOVE_CORE: &[&str] = &["cli", "app"];

#[test]
fn the_core_knows_neither_the_command_line_nor_the_app() {
    let found = scan(CORE, ABOVE_CORE, true);
    assert!(
        found.is_empty(),
        "the core uses a layer above it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_command_line_does_not_use_the_app() {
    let found = scan(&["cli.rs"], &["app"], false);
    assert!(found.is_empty(), "a circle:\n{}", found.join("\n"));
}

/// Each use of a module in `above` (or of clap, when `no_clap`) in the
/// files and directories `under` src/.
fn scan(under: &[&str], above: &[&str], no_clap: bool) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in under {
        rust_files(&src.join(entry), &mut files);
    }
    assert!(files.len() >= under.len(), "found only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let name = file.strip_prefix(&src).unwrap_or(file).display();
        for why in upward_uses(&code_of(&text), above, no_clap) {
            found.push(format!("src/{name}: {why}"));
        }
    }
    found
}

#[test]
fn the_scan_sees_every_way_of_naming_them() {
    for code in [
        "use crate::cli::ServeArgs;",
        "use crate::{cli, protocol};",
        "use crate::{protocol::name::Name, app::serve};",
        "use crate::{\n    protocol::{line, name},\n    cli::JoinArgs,\n};",
        "fn f() { let x = crate::app::color_allowed(s); }",
        "use super::super::cli::JoinArgs;",
        "use clap::Parser;",
        "clap_complete::generate(shell, cmd, name, out);",
    ] {
        assert!(
            !upward_uses(code, ABOVE_CORE, true).is_empty(),
            "missed: {code}"
        );
    }
    for code in [
        "use crate::protocol::name::Name;",
        "use crate::{protocol::{app, cli}, server};",
        "use super::connect::{Reader, Writer};",
        "let client = 1; // crate::cli",
        "fn f(cli: u8) { format!(\"{cli}\") }",
        "let application = applied;",
    ] {
        let uses = upward_uses(&code_of(code), ABOVE_CORE, true);
        assert!(uses.is_empty(), "false alarm on {code}: {uses:?}");
    }
}

/// `text` without its `//` comments (doc comments may mention the layers).
fn code_of(text: &str) -> String {
    let lines = text.lines().map(|line| match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// How `code` reaches up, if it does: a clap crate named (when `no_clap`),
/// or a path whose first segment after `crate` or `super` is in `above`.
fn upward_uses(code: &str, above: &[&str], no_clap: bool) -> Vec<String> {
    let mut uses = Vec::new();
    // Whether the next name is a path's first segment below the root.
    let mut first = false;
    // For each open `{`: whether its members are such first segments
    // (`crate::{cli, app}`) or not (a block, `protocol::{line, name}`).
    let mut groups: Vec<bool> = Vec::new();
    for word in words(code) {
        match word {
            "crate" | "super" => first = true,
            "::" => {}
            "{" => groups.push(first),
            "}" => {
                groups.pop();
            }
            "," => first = groups.last().copied().unwrap_or(false),
            name if no_clap && name.starts_with("clap") => uses.push(format!("names `{name}`")),
            name if first && above.contains(&name) => uses.push(format!("uses `{name}`")),
            _ => first = false,
        }
    }
    uses
}

/// Identifiers and the punctuation that joins paths, in order.
fn words(code: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = code;
    while let Some(c) = rest.chars().next() {
        let len = if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else if rest.starts_with("::") {
            2
        } else {
            c.len_utf8()
        };
        let (word, tail) = rest.split_at(len);
        if !word.trim().is_empty() {
            words.push(word);
        }
        rest = tail;
    }
    words
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).expect("read a source directory");
        for entry in entries {
            rust_files(&entry.expect("a directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}
