//! The documentation tells the truth about the program it ships with: every
//! `sockchat` command in a shell example of the README and `docs/` parses
//! with today's command line, and the layout in `docs/design.md` lists
//! exactly the files in `src/`. Both read the files as they are in the
//! tree, so a renamed flag or a new module fails here instead of in a
//! newcomer's terminal.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sockchat::cli::Cli;

/// The Markdown files whose examples a person copies.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("docs/ lists").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of every fenced block marked `sh`, with where each stands.
fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut in_shell = false;
    let mut in_other = false;
    for (number, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            if in_shell || in_other {
                (in_shell, in_other) = (false, false);
            } else if info.trim() == "sh" {
                in_shell = true;
            } else {
                in_other = true;
            }
        } else if in_shell {
            // A line ending in `\` goes on in the next one.
            match lines.last_mut() {
                Some((_, last)) if last.ends_with('\\') => {
                    last.pop();
                    last.push_str(line);
                }
                _ => lines.push((number + 1, line.to_string())),
            }
        }
    }
    lines
}

/// Words that end the arguments of a command in a shell line.
fn ends_command(word: &str) -> bool {
    matches!(word, "|" | "||" | "&&" | ";" | "&")
        || word.starts_with('#')
        || word.starts_with('>')
        || word.starts_with('<')
        || word.starts_with("2>")
}

/// Every `sockchat …` command in one shell line, as its argument vectors.
/// Environment assignments in front (`SOCKCHAT_PORT=0 sockchat serve`) and
/// what follows a pipe, a redirect or a comment are not arguments. A
/// line shlex cannot split (a quote left open) is reported as such.
fn commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    // `$ ` marks a prompt in a transcript-like example.
    let line = line.trim_start().trim_start_matches("$ ");
    // Pipes and the like may touch their neighbours (`a|b` is rare in
    // these docs, but `(…)` groups are common): space them out first.
    let spaced = line
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('|', " | ");
    let words = shlex::split(&spaced).ok_or("a quote is left open")?;
    let mut found = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut at_start = true;
    for word in words {
        if ends_command(&word) || word == "(" || word == ")" {
            found.extend(current.take());
            at_start = true;
            if word.starts_with('#') {
                break;
            }
            continue;
        }
        if let Some(args) = current.as_mut() {
            args.push(word);
        } else if at_start && word == "sockchat" {
            current = Some(vec![word]);
        } else if at_start && word.contains('=') && !word.starts_with('-') {
            // An environment assignment: the command is still to come.
        } else {
            at_start = false;
        }
    }
    found.extend(current);
    Ok(found)
}

/// An elided value (`3F:9A:…:C2`) stands for a real one: put in a value of
/// the right form, so that the flag itself is what is checked.
fn fill_elided(args: &mut [String]) {
    for i in 1..args.len() {
        if args[i].contains('…') && args[i - 1] == "--tls-fingerprint" {
            args[i] = "AB".repeat(32);
        }
    }
}

#[test]
fn every_sockchat_command_in_the_docs_parses_with_todays_command_line() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).expect("the document is readable");
        let name = path.file_name().expect("a file").to_string_lossy();
        for (number, line) in shell_lines(&text) {
            let found = match commands(&line) {
                Ok(found) => found,
                Err(why) => {
                    wrong.push(format!("{name}:{number}: {why}: {line}"));
                    continue;
                }
            };
            for mut args in found {
                fill_elided(&mut args);
                checked += 1;
                if let Err(e) = Cli::try_parse_args(&args) {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    wrong.push(format!("{name}:{number}: `{}`: {first}", args.join(" ")));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "examples that no longer parse:\n{}",
        wrong.join("\n")
    );
    // The README alone has a dozen; far fewer means the reader broke.
    assert!(checked >= 30, "only {checked} commands were found");
}

#[test]
fn a_renamed_flag_in_an_example_is_caught() {
    // The checker itself: a wrong flag, a missing subcommand, and what a
    // pipe or a comment hides from it.
    let wrong = commands("sockchat join --hots chat.lan | tee log # --bogus").expect("splits");
    assert_eq!(wrong, [vec!["sockchat", "join", "--hots", "chat.lan"]]);
    assert!(Cli::try_parse_args(&wrong[0]).is_err());
    let env = commands("SOCKCHAT_PORT=0 sockchat serve > log").expect("splits");
    assert_eq!(env, [vec!["sockchat", "serve"]]);
    assert!(commands("cd DIR && ls sockchat-*.jsonl")
        .expect("splits")
        .is_empty());
    let piped = commands("printf 'bot\\nhi\\n' | sockchat join --host h").expect("splits");
    assert_eq!(piped, [vec!["sockchat", "join", "--host", "h"]]);
}

/// The files the layout in `docs/design.md` lists under `src/`.
fn listed_files(design: &str) -> Vec<String> {
    let section = design
        .split("\n## Layout\n")
        .nth(1)
        .expect("docs/design.md has a Layout section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layout section starts with a fenced tree");
    // Each entry is indented two spaces a level; a directory ends in `/`
    // and holds the entries indented under it.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut files = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        let entry = line.split_whitespace().next().unwrap_or_default();
        while stack.last().is_some_and(|(level, _)| *level >= indent) {
            stack.pop();
        }
        let parent: String = stack.iter().map(|(_, dir)| dir.as_str()).collect();
        if entry.ends_with('/') {
            stack.push((indent, entry.to_string()));
        } else {
            files.push(format!("{parent}{entry}"));
        }
    }
    files
        .into_iter()
        .filter(|file| file.starts_with("src/"))
        .collect()
}

/// Every Rust file under `dir`, as a path from the crate's root.
fn source_files(root: &Path, dir: &Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("src/ lists").path();
        if path.is_dir() {
            source_files(root, &path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under the root");
            into.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn the_layout_in_the_design_notes_lists_exactly_the_files_in_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).expect("readable");
    let listed: BTreeSet<String> = listed_files(&design).into_iter().collect();
    let mut present = Vec::new();
    source_files(root, &root.join("src"), &mut present);
    let present: BTreeSet<String> = present.into_iter().collect();
    let missing: Vec<_> = present.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&present).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/design.md's layout is out of date:\n  not listed: {missing:?}\n  listed but gone: {stale:?}"
    );
}

#[test]
fn the_layout_reader_follows_the_indentation() {
    let design = "x\n## Layout\n\n```\nsrc/\n  a.rs  one\n  b/\n    c.rs  two\n  d.rs  three\ntests/\n  e.rs\n```\n";
    assert_eq!(listed_files(design), ["src/a.rs", "src/b/c.rs", "src/d.rs"]);
}
