//! The application: what `main` runs for each subcommand ([`serve()`],
//! [`join()`], [`completions()`], [`store()`]). It turns the
//! command line into the core's own configuration ([`mod@serve`] →
//! `server::Config`, [`mod@join`] → `client::Options`), reads the files the
//! flags name (passwords, certificates), decides the terminal facts once
//! (colour, whether stdin and stdout are terminals) and hands them down as
//! `bool`s. `server`, `client`, `protocol` and `tls` know nothing of clap
//! or of this module (a test in `tests/it/cli.rs` checks it).

pub mod banner;
pub mod join;
pub mod serve;
pub mod store;

pub use join::join;
pub use serve::serve;
pub use store::store;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::address::Port;
use crate::cli::{self, Cli, CompletionsArgs, SecretArg};
use crate::protocol::password::Secret;

/// How a panic ends the process. The release build aborts rather than
/// unwind, so no guard's `Drop` runs: first the terminal is put back as it
/// was at start (a panic while echo is off for a password would leave it
/// off; `client::terminal` owns its settings and does it), then the usual
/// message, then exit status 101, as a panic that unwinds gives. Not
/// SIGABRT: its core dump could hold a password or a session token.
pub fn end_panics_cleanly() {
    let message = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        message(info);
        // SAFETY: _exit ends the process at once, which is what a panic
        // here is to do; nothing after it runs.
        unsafe { libc::_exit(101) }
    }));
    // Installed after, so it runs first.
    crate::client::terminal::restore_on_panic();
}

/// `sockchat completions SHELL`: the script on stdout.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match cli::write_completions(args.shell, &mut Cli::command(), &mut stdout) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // The reader stopped early (`| head`): its choice, not our failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write the completion script")),
    }
}

/// `--port`'s value, and whether it was given or is the default.
fn port(port: u16, given: bool) -> Port {
    match given {
        true => Port::Given(port),
        false => Port::Default(port),
    }
}

/// `error`, about one of `flags`, with each flag that was really set by
/// its environment variable named as that variable.
fn named(error: impl std::fmt::Display, from_env: &cli::FromEnv, flags: &[&str]) -> anyhow::Error {
    let mut text = error.to_string();
    for flag in flags {
        let source = from_env.name(flag);
        if source != *flag {
            text = text.replace(flag, source);
        }
    }
    anyhow::anyhow!(text)
}

/// Whether output to `stream` may be coloured: it is a terminal and the
/// user has not set `NO_COLOR` (<https://no-color.org>: any non-empty value).
pub fn color_allowed(stream: impl std::io::IsTerminal) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    stream.is_terminal() && !no_color
}

/// The password from `--password-file`, else from `--password` (or
/// `SOCKCHAT_PASSWORD`): a file named on the command line is the more
/// deliberate choice than a variable left in the environment. An error says
/// what is wrong without showing the password.
fn password(given: Option<&SecretArg>, file: Option<&Path>) -> anyhow::Result<Option<Secret>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?;
        let secret = Secret::from_file_text(&text)
            .with_context(|| format!("cannot use the password file {}", path.display()))?;
        return Ok(Some(secret));
    }
    let Some(given) = given else {
        return Ok(None);
    };
    let secret =
        Secret::new(given.expose()).context("cannot use --password (or SOCKCHAT_PASSWORD)")?;
    Ok(Some(secret))
}
