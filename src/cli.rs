//! The command line, defined once: `--help`, the error messages for bad
//! arguments and the shell completions in `completions/` all come from here.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sockchat",
    version,
    about = "A real-time chat for the terminal, over TCP",
    long_about = "A real-time chat for the terminal, over TCP.\n\n\
        `sockchat serve` runs a room; `sockchat join` joins it. The protocol is \
        plain UTF-8 lines, so `nc HOST PORT` works as a client too.",
    after_help = "Examples:\n  sockchat serve --port 3000\n  sockchat join --host 127.0.0.1 --name Max"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a chat room that others join
    Serve(ServeArgs),
    /// Join a chat room from this terminal
    Join(JoinArgs),
    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0 = every IPv4 interface, :: = IPv6)
    #[arg(long, env = "SOCKCHAT_HOST", default_value = "0.0.0.0")]
    pub host: String,

    /// Port to listen on (0 picks a free one)
    #[arg(short, long, env = "SOCKCHAT_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Longest line a client may send, in bytes; longer lines are dropped with an error
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub max_line_bytes: u32,

    /// Most connections at once; the next one is told the room is full
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Seconds a new connection has to log in before it is closed
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_timeout: u64,

    /// Bytes that may wait to be sent to one client; a client that falls further behind is disconnected
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(4096..))]
    pub send_queue: u32,

    /// Messages per second one client may send (0 = no limit)
    #[arg(long, value_name = "PER_SEC", default_value_t = 20)]
    pub rate: u32,

    /// Messages one client may send in a burst above --rate
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Announce joins and leaves only while at most N people are online (0 = always)
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub announce_max: u32,
}

impl ServeArgs {
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout)
    }
}

#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// Server to join: a hostname, an IPv4 or an IPv6 address
    #[arg(long, env = "SOCKCHAT_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Server port
    #[arg(short, long, env = "SOCKCHAT_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Your username (asked for when not given)
    #[arg(short, long, env = "SOCKCHAT_NAME")]
    pub name: Option<String>,

    /// Keep retrying to connect for up to SECS seconds (while a server starts)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait: u64,

    /// Give up if the server has not accepted a login within SECS seconds
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub login_timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to generate the script for
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `shell`, as committed in `completions/`.
///
/// The script is built in memory first: `clap_complete` panics when its
/// writer fails, and a closed pipe (`| head`) is an error to report, not a
/// crash.
pub fn write_completions(
    shell: clap_complete::Shell,
    command: &mut clap::Command,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, command, "sockchat", &mut script);
    out.write_all(&script)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
