//! `sockchat store check DIR`: the report of [`crate::stream::check`] on
//! stdout, one line a finding and one a folder (`main/`, each room's
//! `#KEY/`, `private/`; a folder that is none of these is named as
//! skipped), and an exit status a script can test: 0 no damage, 1 damage
//! found or modes `serve` refuses in any folder (either way `serve` would
//! not start), 2 the store (or a file of it) could not be read.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{StoreArgs, StoreCommand};
use crate::protocol::sanitize::sanitize;
use crate::stream::check;

/// Damage was found, or modes `serve` refuses.
const DAMAGED: u8 = 1;
/// The store, or a file of it, could not be read.
const UNREADABLE: u8 = 2;

/// `sockchat store …`.
pub fn store(args: StoreArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Check(args) => Ok(check_store(&args.dir)),
    }
}

fn check_store(dir: &std::path::Path) -> ExitCode {
    let report = match check::check(dir) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("sockchat: {}", sanitize(&err.to_string()));
            return ExitCode::from(UNREADABLE);
        }
    };
    let mut text = String::new();
    for dir in &report.skipped {
        let line = format!(
            "{}: not a room's folder (`serve` does not read it): skipped",
            dir.display()
        );
        text.push_str(&sanitize(&line));
        text.push('\n');
    }
    for room in &report.rooms {
        let findings = (room.refused.iter())
            .chain(&room.damage)
            .chain(&room.unreadable);
        let lines = findings.map(ToString::to_string).chain(room.notes.clone());
        for line in lines.chain([room.to_string()]) {
            // Paths and the causes serde words can quote the files: never
            // let them drive the terminal.
            text.push_str(&sanitize(&line));
            text.push('\n');
        }
    }
    let written = std::io::stdout().lock().write_all(text.as_bytes());
    if report.unreadable() || written.is_err() {
        ExitCode::from(UNREADABLE)
    } else if report.damaged() || report.refused() {
        ExitCode::from(DAMAGED)
    } else {
        ExitCode::SUCCESS
    }
}
