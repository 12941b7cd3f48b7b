//! The command line, defined once: `--help`, the error messages for bad
//! arguments and the shell completions in `completions/` all come from here.

use crate::server::defaults;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::builder::FalseyValueParser;
use clap::{Args, Parser, Subcommand};

use crate::protocol::password::Secret;
use crate::tls::Fingerprint;

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
    #[arg(long, default_value_t = defaults::MAX_LINE_BYTES, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub max_line_bytes: u32,

    /// Most connections at once; the next one is told the room is full
    #[arg(long, default_value_t = defaults::MAX_CLIENTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Seconds a new connection has to log in before it is closed
    #[arg(long, value_name = "SECS", default_value_t = defaults::LOGIN_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub login_timeout: u64,

    /// Bytes that may wait to be sent to one client; a client that falls further behind is disconnected
    #[arg(long, value_name = "BYTES", default_value_t = defaults::SEND_QUEUE, value_parser = clap::value_parser!(u32).range(4096..))]
    pub send_queue: u32,

    /// Bytes that may wait to be sent to all clients together; past it, clients already behind are disconnected
    #[arg(long, value_name = "BYTES", default_value_t = defaults::SEND_BUDGET, value_parser = clap::value_parser!(u64).range(65536..))]
    pub send_budget: u64,

    /// Messages per second one client may send (0 = no limit)
    #[arg(long, value_name = "PER_SEC", default_value_t = defaults::RATE)]
    pub rate: u32,

    /// Messages one client may send in a burst above --rate
    #[arg(long, default_value_t = defaults::BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Announce joins and leaves only while at most N people are online (0 = always)
    #[arg(long, value_name = "N", default_value_t = defaults::ANNOUNCE_MAX)]
    pub announce_max: u32,

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

impl ServeArgs {
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout)
    }

    /// The room password, if one is set.
    pub fn password(&self) -> anyhow::Result<Option<Secret>> {
        password(self.password.as_ref(), self.password_file.as_deref())
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
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: u64,

    /// Give up if the server has not accepted a login within SECS seconds
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub login_timeout: u64,

    /// Connect with TLS, verifying the server against this system's CAs (or --tls-ca)
    #[arg(
        long,
        env = "SOCKCHAT_TLS",
        value_parser = FalseyValueParser::new(),
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

impl JoinArgs {
    /// The room password given, if any.
    pub fn password(&self) -> anyhow::Result<Option<Secret>> {
        password(self.password.as_ref(), self.password_file.as_deref())
    }

    /// What to trust for TLS; None for plain TCP.
    pub fn trust(&self) -> Option<crate::tls::Trust> {
        use crate::tls::Trust;
        match (&self.tls_fingerprint, &self.tls_ca) {
            (Some(pin), _) => Some(Trust::Pinned(*pin)),
            (None, Some(ca)) => Some(Trust::CaFile(ca.clone())),
            (None, None) if self.tls => Some(Trust::System),
            (None, None) => None,
        }
    }
}

/// A password from the command line or the environment, not checked yet.
/// Like [`Secret`], its `Debug` hides it.
#[derive(Clone)]
pub struct SecretArg(String);

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
    let Some(SecretArg(text)) = given else {
        return Ok(None);
    };
    let secret =
        Secret::new(text.as_str()).context("cannot use --password (or SOCKCHAT_PASSWORD)")?;
    Ok(Some(secret))
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

    #[test]
    fn serve_defaults_are_the_servers_defaults() {
        let Ok(Cli {
            command: Command::Serve(args),
        }) = Cli::try_parse_from(["sockchat", "serve"])
        else {
            panic!("`sockchat serve` parses");
        };
        let from_flags = format!("{:?}", crate::server::Config::from(&args));
        let built_in = format!("{:?}", crate::server::Config::default());
        assert_eq!(from_flags, built_in);
    }

    fn join_args(args: &[&str]) -> Result<JoinArgs, clap::Error> {
        let argv = ["sockchat", "join"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Join(join) => Ok(join),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_fingerprint_or_a_ca_file_implies_tls() {
        use crate::tls::Trust;
        assert!(join_args(&[]).unwrap().trust().is_none());
        assert!(matches!(
            join_args(&["--tls"]).unwrap().trust(),
            Some(Trust::System)
        ));
        assert!(matches!(
            join_args(&["--tls-ca", "ca.pem"]).unwrap().trust(),
            Some(Trust::CaFile(_))
        ));
        let pin = "ab".repeat(32);
        assert!(matches!(
            join_args(&["--tls-fingerprint", &pin]).unwrap().trust(),
            Some(Trust::Pinned(_))
        ));
        assert!(join_args(&["--tls-fingerprint", "xyz"]).is_err());
        assert!(join_args(&["--tls-fingerprint", &pin, "--tls-ca", "ca.pem"]).is_err());
    }

    #[test]
    fn passwords_stay_out_of_debug_output_and_errors() {
        let args = join_args(&["--password", "hunter2"]).unwrap();
        assert!(!format!("{args:?}").contains("hunter2"));
        assert_eq!(args.password().unwrap().unwrap().expose(), "hunter2");
        let bad = join_args(&["--password", "hunter2\nmore"]).unwrap();
        let error = format!("{:#}", bad.password().unwrap_err());
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("line break"), "{error}");
    }
}
