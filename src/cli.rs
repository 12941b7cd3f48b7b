//! The command line, defined once: `--help`, the error messages for bad
//! arguments, the shell completions in `completions/` and the man pages in
//! `man/` all come from here. Clap only: what the flags mean is for `app`.

use std::fmt;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::protocol::room::RoomName;
use crate::tls::Fingerprint;
use crate::{client, server};

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

impl Cli {
    /// Parses the process's arguments, exiting with clap's message (and
    /// code 2) when they are wrong, as `Cli::parse` does.
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `argv` like `Cli::try_parse_from`, and also notes which
    /// ports were given rather than defaulted.
    pub fn try_parse_args<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Cli::command();
        let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
        let matches = match command.try_get_matches_from_mut(&argv) {
            Ok(matches) => matches,
            Err(e) => return Err(name_the_variable(e, &command, &argv)),
        };
        let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        let sub = matches.subcommand().map(|(_, sub)| sub);
        match (&mut cli.command, sub) {
            (Command::Serve(args), Some(sub)) => {
                args.port_given = given(sub, "port");
                args.from_env = FromEnv::of(sub, &command, "serve");
            }
            (Command::Join(args), Some(sub)) => {
                args.port_given = given(sub, "port");
                args.from_env = FromEnv::of(sub, &command, "join");
            }
            _ => {}
        }
        Ok(cli)
    }
}

/// The flags whose values came from their environment variable, so that an
/// error about such a value names the variable the person set, not a flag
/// they never typed.
#[derive(Debug, Clone, Default)]
pub struct FromEnv(Vec<(String, String)>);

impl FromEnv {
    fn of(matches: &ArgMatches, command: &clap::Command, sub: &str) -> FromEnv {
        let Some(sub) = command.find_subcommand(sub) else {
            return FromEnv::default();
        };
        let from_env = sub
            .get_arguments()
            .filter(|arg| {
                matches.value_source(arg.get_id().as_str()) == Some(ValueSource::EnvVariable)
            })
            .filter_map(|arg| {
                let var = arg.get_env()?.to_string_lossy().into_owned();
                Some((arg.get_id().to_string(), var))
            })
            .collect();
        FromEnv(from_env)
    }

    /// How to name the source of `flag`'s value (`--name`): its variable
    /// (`SOCKCHAT_NAME`) when the value came from there, else the flag.
    pub fn name<'a>(&'a self, flag: &'a str) -> &'a str {
        let id = flag.trim_start_matches('-').replace('-', "_");
        self.0
            .iter()
            .find(|(arg, _)| *arg == id)
            .map_or(flag, |(_, var)| var.as_str())
    }
}

/// A bad value that came from an environment variable, not from the
/// command line, is reported under the variable's name.
fn name_the_variable(
    error: clap::Error,
    command: &clap::Command,
    argv: &[std::ffi::OsString],
) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return error;
    }
    let (Some(ContextValue::String(shown)), Some(ContextValue::String(value))) = (
        error.get(ContextKind::InvalidArg),
        error.get(ContextKind::InvalidValue),
    ) else {
        return error;
    };
    // `--port <PORT>`, `--tls`: the flag is the first word.
    let long = shown.split(' ').next().unwrap_or(shown);
    let typed = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == long || a.starts_with(&format!("{long}="))
    });
    let variable = command
        .get_subcommands()
        .flat_map(|sub| sub.get_arguments())
        .find(|arg| arg.get_long().is_some_and(|l| format!("--{l}") == long))
        .and_then(|arg| arg.get_env())
        .map(|var| var.to_string_lossy().into_owned());
    let Some(variable) = variable.filter(|_| !typed) else {
        return error;
    };
    let why = match std::error::Error::source(&error).map(|s| s.to_string()) {
        Some(source) if source.contains("not a boolean") => {
            ": use true or false (or yes/no, on/off, 1/0)".to_string()
        }
        Some(source) => format!(": {source}"),
        None => String::new(),
    };
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("invalid value '{value}' in the environment variable {variable}{why}\n"),
    )
}

/// Whether `id` came from the command line or the environment.
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a chat room that others join
    Serve(ServeArgs),
    /// Join a chat room from this terminal
    Join(JoinArgs),
    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
    /// Look after a store (`serve --store DIR`) without starting a server
    Store(StoreArgs),
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_subcommand = true)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// Read every line of every file of a store and report damage, without starting a server
    #[command(
        long_about = "Read every line of every file of a store and report damage, without \
            starting a server. A server's start reads only the newest files, as far back as \
            --history needs; this reads them all, checking each line's checksum, its id's \
            place and its fields. It only reads, so it may run beside a running server.",
        after_help = "Exit status: 0 no damage, 1 damage found (each damaged line is named \
            on stdout) or a folder or file other users may read, which `serve` refuses (named \
            with the chmod that mends it), 2 the store or one of its files could not be read."
    )]
    Check(StoreCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StoreCheckArgs {
    /// The store's folder, as given to `serve --store`
    #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (0.0.0.0 = every IPv4 interface, :: = IPv6); ADDR:PORT also sets the port
    #[arg(long, env = "SOCKCHAT_HOST", default_value = server::defaults::HOST)]
    pub host: String,

    /// Port to listen on (0 picks a free one)
    #[arg(short, long, env = "SOCKCHAT_PORT", default_value_t = server::defaults::PORT)]
    pub port: u16,

    /// Whether the port was given (`--port` or `SOCKCHAT_PORT`) rather than
    /// defaulted; set by [`Cli::parse_args`], so that a port written into
    /// `--host` may stand in for it.
    #[arg(skip)]
    pub port_given: bool,

    /// Which values came from the environment; set by [`Cli::parse_args`].
    #[arg(skip)]
    pub from_env: FromEnv,

    /// Longest line a client may send, in bytes; longer lines are dropped with an error
    #[arg(long, default_value_t = server::defaults::MAX_LINE_BYTES, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub max_line_bytes: u32,

    /// Most connections at once; the next one is told the room is full
    #[arg(long, default_value_t = server::defaults::MAX_CLIENTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Seconds a new connection has to log in before it is closed
    #[arg(long, value_name = "SECS", default_value_t = server::defaults::LOGIN_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_timeout: u64,

    /// Bytes that may wait to be sent to one client; a client that falls further behind is disconnected
    #[arg(long, value_name = "BYTES", default_value_t = server::defaults::SEND_QUEUE, value_parser = clap::value_parser!(u32).range(4096..))]
    pub send_queue: u32,

    /// Bytes that may wait to be sent to all clients together; past it, clients already behind are disconnected
    #[arg(long, value_name = "BYTES", default_value_t = server::defaults::SEND_BUDGET, value_parser = clap::value_parser!(u64).range(65536..))]
    pub send_budget: u64,

    /// Messages per second one client may send (0 = no limit)
    #[arg(long, value_name = "PER_SEC", default_value_t = server::defaults::RATE)]
    pub rate: u32,

    /// Messages one client may send in a burst above --rate
    #[arg(long, default_value_t = server::defaults::BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Announce joins and leaves only while at most N people are online (0 = always)
    #[arg(long, value_name = "N", default_value_t = server::defaults::ANNOUNCE_MAX)]
    pub announce_max: u32,

    /// Rooms on the server at once, #main included; past it, a new room takes the place of the unused room quiet the longest, and is refused when every room is in use
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_ROOMS, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Rooms")]
    pub max_rooms: u32,

    /// Threads that run the server's connections and its broker (one task, whatever the count); one is fastest on a small machine, where the threads would contend for the same lines in memory
    #[arg(long, value_name = "N", default_value_t = server::defaults::THREADS, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,

    /// Rooms one person may be in at once, #main included; past it, their /join is refused
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_JOINED, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Rooms")]
    pub max_joined: u32,

    /// Connections one address may hold (an IPv6 /64 counts as one address; 0 = no limit)
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_PER_ADDR, help_heading = "Limits per address")]
    pub max_per_addr: u32,

    /// Connections one address may hold that have not logged in yet (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_PENDING_PER_ADDR, help_heading = "Limits per address")]
    pub max_pending_per_addr: u32,

    /// New connections a second one address may open (0 = no limit)
    #[arg(long, value_name = "PER_SEC", default_value_t = server::defaults::CONNECT_RATE, help_heading = "Limits per address")]
    pub connect_rate: u32,

    /// New connections one address may open in a burst above --connect-rate
    #[arg(long, value_name = "N", default_value_t = server::defaults::CONNECT_BURST, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits per address")]
    pub connect_burst: u32,

    /// Exempt this network (ADDR/PREFIX, repeatable) from the limits per address; giving it replaces the default, `none` trusts nobody
    #[arg(long, value_name = "CIDR", default_values_t = server::defaults::TRUST_ADDR.iter().map(|s| TrustArg::from_str(s).expect("the defaults parse")), value_parser = TrustArg::from_str, help_heading = "Limits per address")]
    pub trust_addr: Vec<TrustArg>,

    /// Seconds a name stays its owner's (for the same address) after a connection drops without /quit (0 = none)
    #[arg(long, value_name = "SECS", default_value_t = server::defaults::NAME_HOLD_SECS, value_parser = clap::value_parser!(u64).range(0..=3600), help_heading = "Limits per address")]
    pub name_hold: u64,

    /// Dropped sessions one address may keep resumable (their names held) within --resume-window; past it its oldest is forgotten (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_KEPT_PER_ADDR, help_heading = "Limits per address")]
    pub max_kept_per_addr: u32,

    /// Longest wait, in seconds, between password attempts from an address that keeps giving wrong ones
    #[arg(long, value_name = "SECS", default_value_t = server::defaults::PASSWORD_DELAY_MAX_SECS, value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Limits per address")]
    pub password_delay_max: u64,

    /// Kernel send buffer of each connection, in bytes (SO_SNDBUF; 0 = the kernel's own, which grows to MiBs for a client that does not read)
    #[arg(long, value_name = "BYTES", default_value_t = server::defaults::SOCKET_SEND_BUFFER)]
    pub socket_send_buffer: u32,

    /// Messages the room remembers in memory, for late joiners, /history and resumed sessions (0 = none)
    #[arg(long, value_name = "N", default_value_t = server::defaults::HISTORY, value_parser = clap::value_parser!(u32).range(0..=1_000_000), help_heading = "History")]
    pub history: u32,
    /// Memory the history of every room together may take, in MiB; past it, the oldest messages of any room are forgotten first (each room also keeps at most --history messages)
    #[arg(long, value_name = "MIB", default_value_t = server::defaults::HISTORY_MEMORY_MIB, value_parser = clap::value_parser!(u32).range(1..=1_048_576), help_heading = "History")]
    pub history_memory: u32,

    /// Messages a late joiner is sent right after logging in (0 = none)
    #[arg(long, value_name = "N", default_value_t = server::defaults::REPLAY, help_heading = "History")]
    pub replay: u32,

    /// Seconds a dropped session of our own client may be resumed, name and place in the room kept
    #[arg(long, value_name = "SECS", default_value_t = server::defaults::RESUME_WINDOW_SECS, value_parser = clap::value_parser!(u64).range(0..=86_400), help_heading = "History")]
    pub resume_window: u64,

    /// Keep a durable transcript in this directory (DIR/main/*.jsonl): every message is synced to disk before anyone sees it, and history survives a restart; without it the room forgets everything when the server stops
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath, help_heading = "History")]
    pub store: Option<std::path::PathBuf>,

    /// Start a new transcript file once the current one reaches this many MiB
    #[arg(long, value_name = "MIB", default_value_t = server::defaults::STORE_SEGMENT_MIB, value_parser = clap::value_parser!(u64).range(1..=1_048_576), help_heading = "History")]
    pub store_segment_mib: u64,

    /// Bytes a second of /who, /history and catch-up output one address may pull, reconnecting or not (each connection of a trusted address pays for itself), after a two-second allowance (0 = no limit)
    #[arg(long, value_name = "BYTES", default_value_t = server::defaults::OUTPUT_RATE)]
    pub output_rate: u32,

    /// Unfinished TLS handshakes at once, in all (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_HANDSHAKES, help_heading = "Private rooms")]
    pub max_handshakes: u32,

    /// Unfinished TLS handshakes at once from one address (0 = no limit)
    #[arg(long, value_name = "N", default_value_t = server::defaults::MAX_HANDSHAKES_PER_ADDR, help_heading = "Private rooms")]
    pub max_handshakes_per_addr: u32,

    /// Serve TLS with this certificate chain (PEM); needs --tls-key
    #[arg(
        long,
        value_name = "FILE",
        env = "SOCKCHAT_TLS_CERT",
        requires = "tls_key",
        help_heading = "Private rooms"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(
        long,
        value_name = "FILE",
        env = "SOCKCHAT_TLS_KEY",
        requires = "tls_cert",
        help_heading = "Private rooms"
    )]
    pub tls_key: Option<PathBuf>,

    /// Serve TLS with a certificate made at start-up; prints its fingerprint and the `join` command that pins it
    #[arg(long, conflicts_with = "tls_cert", help_heading = "Private rooms")]
    pub tls_self_signed: bool,

    /// Room password, asked for before a name (prefer SOCKCHAT_PASSWORD or --password-file: a command line shows in `ps`)
    #[arg(
        long,
        env = "SOCKCHAT_PASSWORD",
        hide_env_values = true,
        value_parser = secret_arg,
        help_heading = "Private rooms"
    )]
    pub password: Option<SecretArg>,

    /// Read the room password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD
    #[arg(long, value_name = "FILE", help_heading = "Private rooms")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// Server to join: a hostname, an IPv4 or an IPv6 address; HOST:PORT also sets the port
    #[arg(long, env = "SOCKCHAT_HOST", default_value = client::defaults::HOST)]
    pub host: String,

    /// Server port
    #[arg(short, long, env = "SOCKCHAT_PORT", default_value_t = client::defaults::PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// Whether the port was given (`--port` or `SOCKCHAT_PORT`) rather than
    /// defaulted; set by [`Cli::parse_args`], so that a port written into
    /// `--host` may stand in for it.
    #[arg(skip)]
    pub port_given: bool,

    /// Which values came from the environment; set by [`Cli::parse_args`].
    #[arg(skip)]
    pub from_env: FromEnv,

    /// Your username (asked for when not given)
    #[arg(short, long, env = "SOCKCHAT_NAME")]
    pub name: Option<String>,

    /// The room to start in (the '#' is optional); everyone starts in #main otherwise
    #[arg(long, value_name = "NAME", env = "SOCKCHAT_ROOM", value_parser = RoomName::parse)]
    pub room: Option<RoomName>,

    /// Keep retrying to connect for up to SECS seconds (while a server starts)
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: u64,

    /// Give up if the server takes longer than SECS seconds to answer a step of the login (greeting, password, name)
    #[arg(long, value_name = "SECS", default_value_t = client::defaults::LOGIN_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub login_timeout: u64,

    /// Show each line's time (HH:MM, local time; the day when it changes); the default on a terminal
    #[arg(
        long,
        env = "SOCKCHAT_TIMESTAMPS",
        num_args = 0,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        overrides_with = "no_timestamps"
    )]
    pub timestamps: Option<bool>,

    /// Show no times (the default when output is not a terminal)
    #[arg(long, overrides_with = "timestamps")]
    pub no_timestamps: bool,

    /// Ring no bell when a line names you or a private message comes (a terminal rings by default)
    #[arg(long, env = "SOCKCHAT_NO_BELL", value_parser = BoolishValueParser::new())]
    pub no_bell: bool,

    /// When the connection drops, connect again and resume (the default on a terminal)
    #[arg(
        long,
        env = "SOCKCHAT_RECONNECT",
        num_args = 0,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        overrides_with = "no_reconnect"
    )]
    pub reconnect: Option<bool>,

    /// Exit (code 1) when the connection drops, also on a terminal
    #[arg(long, overrides_with = "reconnect")]
    pub no_reconnect: bool,

    /// Connect with TLS, verifying the server against this system's CAs (or --tls-ca)
    #[arg(
        long,
        env = "SOCKCHAT_TLS",
        value_parser = BoolishValueParser::new(),
        help_heading = "Private rooms"
    )]
    pub tls: bool,

    /// Trust only the CA certificates in FILE (PEM) to vouch for the server; implies --tls
    #[arg(
        long,
        value_name = "FILE",
        env = "SOCKCHAT_TLS_CA",
        help_heading = "Private rooms"
    )]
    pub tls_ca: Option<PathBuf>,

    /// Accept only the server certificate with this SHA-256 fingerprint (as `serve --tls-self-signed` prints it); implies --tls
    #[arg(
        long,
        value_name = "SHA256",
        env = "SOCKCHAT_TLS_FINGERPRINT",
        conflicts_with = "tls_ca",
        help_heading = "Private rooms"
    )]
    pub tls_fingerprint: Option<Fingerprint>,

    /// The room's password (asked for on a terminal when the room wants one and none is given)
    #[arg(
        long,
        env = "SOCKCHAT_PASSWORD",
        hide_env_values = true,
        value_parser = secret_arg,
        help_heading = "Private rooms"
    )]
    pub password: Option<SecretArg>,

    /// Read the room's password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD
    #[arg(long, value_name = "FILE", help_heading = "Private rooms")]
    pub password_file: Option<PathBuf>,
}

/// One `--trust-addr`: a network, or `none`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustArg {
    Net(server::addrs::Cidr),
    None,
}

impl TrustArg {
    fn from_str(text: &str) -> Result<TrustArg, String> {
        if text.eq_ignore_ascii_case("none") {
            return Ok(TrustArg::None);
        }
        text.parse().map(TrustArg::Net)
    }
}

impl fmt::Display for TrustArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustArg::Net(net) => write!(f, "{net}"),
            TrustArg::None => f.write_str("none"),
        }
    }
}

/// A password from the command line or the environment, not checked yet.
/// Like `protocol::password::Secret`, its `Debug` hides it.
#[derive(Clone)]
pub struct SecretArg(String);

impl SecretArg {
    /// The text as given, to be checked by `Secret::new`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(hidden)")
    }
}

/// Never fails: a bad password is reported later, in words that do not
/// repeat it (clap's own errors would print the value).
fn secret_arg(text: &str) -> Result<SecretArg, std::convert::Infallible> {
    Ok(SecretArg(text.to_string()))
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

/// The command line as tests give it, parsed.
#[cfg(test)]
pub(crate) mod parsed {
    use super::*;

    /// `sockchat serve ARGS…`; panics unless it parses as `serve`.
    pub(crate) fn serve(args: &[&str]) -> ServeArgs {
        let argv = ["sockchat", "serve"].iter().chain(args);
        match Cli::try_parse_args(argv).map(|cli| cli.command) {
            Ok(Command::Serve(serve)) => serve,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// `sockchat join ARGS…`, or clap's refusal.
    pub(crate) fn join(args: &[&str]) -> Result<JoinArgs, clap::Error> {
        let argv = ["sockchat", "join"].iter().chain(args);
        match Cli::try_parse_args(argv)?.command {
            Command::Join(join) => Ok(join),
            other => panic!("parsed as {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parsed::join as join_args;
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_output_rate_is_told_as_the_addresss_not_one_clients() {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let arg = serve
            .get_arguments()
            .find(|a| a.get_id() == "output_rate")
            .expect("--output-rate");
        let help = arg.get_help().expect("its help").to_string();
        assert!(help.contains("one address may pull"), "{help}");
        assert!(!help.contains("one client"), "{help}");
    }

    #[test]
    fn a_fingerprint_is_checked_and_excludes_a_ca_file() {
        let pin = "ab".repeat(32);
        assert!(join_args(&["--tls-fingerprint", &pin]).is_ok());
        assert!(join_args(&["--tls-fingerprint", "xyz"]).is_err());
        assert!(join_args(&["--tls-fingerprint", &pin, "--tls-ca", "ca.pem"]).is_err());
    }

    #[test]
    fn on_and_off_flags_are_unset_until_given_and_the_last_one_wins() {
        let pair = |args: &[&str]| {
            let args = join_args(args).unwrap();
            (args.timestamps, args.no_timestamps)
        };
        if std::env::var_os("SOCKCHAT_TIMESTAMPS").is_none() {
            assert_eq!(pair(&[]), (None, false));
            assert_eq!(
                pair(&["--no-timestamps", "--timestamps"]),
                (Some(true), false)
            );
        }
        assert!(pair(&["--timestamps", "--no-timestamps"]).1);
        let args = join_args(&["--reconnect"]).unwrap();
        assert_eq!((args.reconnect, args.no_reconnect), (Some(true), false));
        assert!(
            join_args(&["--timestamps=yes"]).is_err(),
            "a flag takes no value"
        );
    }

    #[test]
    fn a_port_is_known_to_be_given_or_defaulted() {
        assert!(join_args(&["--port", "3000"]).unwrap().port_given);
        assert!(join_args(&["-p", "4000"]).unwrap().port_given);
        assert!(parsed::serve(&["--port", "0"]).port_given);
        // SOCKCHAT_PORT in the caller's environment would count as given.
        if std::env::var_os("SOCKCHAT_PORT").is_none() {
            assert!(!join_args(&[]).unwrap().port_given);
            assert!(!parsed::serve(&[]).port_given);
        }
    }

    #[test]
    fn a_bad_value_from_the_environment_names_its_variable() {
        let mut command = Cli::command();
        let argv: Vec<std::ffi::OsString> = ["sockchat", "join", "--port", "x"]
            .iter()
            .map(Into::into)
            .collect();
        let typed = command.try_get_matches_from_mut(&argv).unwrap_err();
        let typed = name_the_variable(typed, &command, &argv).to_string();
        assert!(typed.contains("--port"), "{typed}");
    }

    #[test]
    fn a_room_is_taken_with_or_without_its_sign_and_checked() {
        for typed in ["ops", "#ops", "#OPS"] {
            let room = join_args(&["--room", typed]).unwrap().room;
            assert_eq!(room.as_ref().map(|r| r.key()), Some("ops"), "{typed}");
        }
        assert_eq!(
            join_args(&["--room", "OPS"])
                .unwrap()
                .room
                .map(|r| r.to_string()),
            Some("#OPS".to_string())
        );
        let why = join_args(&["--room", "a b"]).unwrap_err().to_string();
        assert!(why.contains("a room name cannot contain spaces"), "{why}");
    }

    #[test]
    fn room_limits_default_to_1000_rooms_and_50_joined() {
        let args = parsed::serve(&[]);
        assert_eq!((args.max_rooms, args.max_joined), (1000, 50));
        let args = parsed::serve(&["--max-rooms", "3", "--max-joined", "2"]);
        assert_eq!((args.max_rooms, args.max_joined), (3, 2));
        let refused = |args: &[&str]| {
            let argv = ["sockchat", "serve"].iter().chain(args);
            Cli::try_parse_args(argv).is_err()
        };
        assert!(refused(&["--max-rooms", "0"]));
        assert!(refused(&["--max-joined", "0"]));
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let args = join_args(&["--password", "hunter2"]).unwrap();
        assert!(!format!("{args:?}").contains("hunter2"));
        assert_eq!(
            args.password.map(|p| p.expose().to_string()).as_deref(),
            Some("hunter2")
        );
    }
}
