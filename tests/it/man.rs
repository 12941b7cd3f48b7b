//! The committed man pages in `man/` match what the one CLI definition
//! (`sockchat::cli`) renders, so a change to a flag cannot ship with a
//! stale page. `man/refresh.sh` rewrites them through this same code.

use std::path::Path;

use clap::CommandFactory;
use sockchat::cli::Cli;

/// The command that regenerates every file in `man/`.
const REFRESH: &str = "man/refresh.sh";

/// Set by `man/refresh.sh`: write the pages instead of comparing them.
const WRITE: &str = "SOCKCHAT_WRITE_MAN";

/// Every page: `sockchat.1`, then one per subcommand (`sockchat-serve.1`…),
/// as `clap_mangen::generate_to` names them, rendered in memory.
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        pending.extend(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        );
        let man = clap_mangen::Man::new(command);
        let mut page = Vec::new();
        man.render(&mut page).expect("render a man page in memory");
        pages.push((man.get_filename(), page));
    }
    pages
}

#[test]
fn committed_man_pages_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = pages();
    if std::env::var_os(WRITE).is_some() {
        for (file, page) in &pages {
            std::fs::write(dir.join(file), page).expect("write a man page");
        }
    }
    let mut stale: Vec<String> = pages
        .iter()
        .filter(|(file, page)| std::fs::read(dir.join(file)).ok().as_ref() != Some(page))
        .map(|(file, _)| format!("man/{file} (differs or is missing)"))
        .collect();
    // A page for a subcommand that no longer exists is stale too.
    let committed = std::fs::read_dir(&dir).expect("read man/");
    for entry in committed {
        let file = entry.expect("a man/ entry").file_name();
        let file = file.to_string_lossy();
        if file.ends_with(".1") && !pages.iter().any(|(name, _)| *name == file) {
            stale.push(format!("man/{file} (no such command)"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages: {}\nrefresh them from the repository root with:\n    {REFRESH}",
        stale.join(", ")
    );
}

#[test]
fn every_subcommand_has_a_page_naming_its_flags() {
    let pages = pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for wanted in ["sockchat.1", "sockchat-serve.1", "sockchat-join.1"] {
        assert!(names.contains(&wanted), "no {wanted} in {names:?}");
    }
    let (_, serve) = pages
        .iter()
        .find(|(name, _)| name == "sockchat-serve.1")
        .expect("a page for serve");
    let serve = String::from_utf8_lossy(serve);
    // roff escapes each `-` of a flag as `\-`.
    assert!(serve.contains(r"\-\-send\-budget"), "{serve}");
    assert!(serve.contains("SOCKCHAT_PORT"), "{serve}");
}
