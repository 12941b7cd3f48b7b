//! `sockchat join`: the flags become `client::Options` (the name checked,
//! the password and CA files read before connecting, so a typo fails at
//! once), the terminal facts are decided here, and the client runs.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;

use crate::address::Address;
use crate::cli::JoinArgs;
use crate::client::render::Colors;
use crate::client::{self, Options, Tty};
use crate::protocol::name::Name;
use crate::tls::{self, Trust};

/// `sockchat join`.
// Not inlined into `main`: its frame (large, as whole-program
// optimisation makes it) would be touched at every start, whichever
// subcommand runs, and a touched stack page stays resident.
#[inline(never)]
pub fn join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let tty = Tty {
        stdin: std::io::stdin().is_terminal(),
        stdout: std::io::stdout().is_terminal(),
        colors: match super::color_allowed(std::io::stdout()) {
            false => Colors::Off,
            true => terminal_colors(|name| std::env::var(name).ok()),
        },
    };
    client::join(options(args)?, tty)
}

/// The colours the terminal shows, as its `COLORTERM` (truecolor, 24bit)
/// or `TERM` (xterm-256color, tmux-256color…) says; `var` reads one. A
/// terminal that takes no escape codes (`TERM=dumb` or none) shows none.
fn terminal_colors(var: impl Fn(&str) -> Option<String>) -> Colors {
    let var = |name| var(name).unwrap_or_default();
    if !client::editor::can_drive(Some(&var("TERM"))) {
        Colors::Off
    } else if matches!(var("COLORTERM").as_str(), "truecolor" | "24bit") {
        Colors::True
    } else if var("TERM").contains("256color") {
        Colors::Extended
    } else {
        Colors::Basic
    }
}

/// What the flags ask for, with the files they name read.
fn options(args: JoinArgs) -> anyhow::Result<Options> {
    let address = Address::parse(&args.host, super::port(args.port, args.port_given))
        .map_err(|e| super::named(e, &args.from_env, &["--host", "--port"]))?;
    let name = match &args.name {
        Some(raw) => Some(Name::parse(raw).map_err(|why| {
            let given = args.from_env.name("--name");
            anyhow!("invalid {given} '{raw}': {why}")
        })?),
        None => None,
    };
    let password = super::password(args.password.as_ref(), args.password_file.as_deref())?;
    let tls = match trust(&args) {
        Some(trust) => {
            let config = tls::client_config(&trust)?;
            Some(client::Tls { trust, config })
        }
        None => None,
    };
    Ok(Options {
        address,
        wait: Duration::from_secs(args.wait),
        login_timeout: Duration::from_secs(args.login_timeout),
        name,
        room: args.room,
        password,
        tls,
        timestamps: on_off(args.timestamps, args.no_timestamps),
        reconnect: on_off(args.reconnect, args.no_reconnect),
        bell: !args.no_bell,
    })
}

/// A `--x` / `--no-x` pair (the last given wins, as clap saw it): None
/// when neither was given, for the client's default.
fn on_off(on: Option<bool>, off: bool) -> Option<bool> {
    match off {
        true => Some(false),
        false => on,
    }
}

/// What to trust for TLS; None for plain TCP. A fingerprint or a CA file
/// implies `--tls`.
fn trust(args: &JoinArgs) -> Option<Trust> {
    match (&args.tls_fingerprint, &args.tls_ca) {
        (Some(pin), _) => Some(Trust::Pinned(*pin)),
        (None, Some(ca)) => Some(Trust::CaFile(ca.clone())),
        (None, None) if args.tls => Some(Trust::System),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_args(args: &[&str]) -> JoinArgs {
        crate::cli::parsed::join(args).unwrap()
    }

    #[test]
    fn the_room_to_start_in_reaches_the_options() {
        let room = |args: &[&str]| options(join_args(args)).unwrap().room;
        if std::env::var_os("SOCKCHAT_ROOM").is_none() {
            assert_eq!(room(&[]), None);
        }
        assert_eq!(
            room(&["--room", "ops"]).map(|r| r.to_string()),
            Some("#ops".to_string())
        );
    }

    #[test]
    fn a_fingerprint_or_a_ca_file_implies_tls() {
        assert!(trust(&join_args(&[])).is_none());
        assert!(matches!(trust(&join_args(&["--tls"])), Some(Trust::System)));
        assert!(matches!(
            trust(&join_args(&["--tls-ca", "ca.pem"])),
            Some(Trust::CaFile(_))
        ));
        let pin = "ab".repeat(32);
        assert!(matches!(
            trust(&join_args(&["--tls-fingerprint", &pin])),
            Some(Trust::Pinned(_))
        ));
    }

    #[test]
    fn colorterm_says_24_bit_and_term_says_256_colours() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                let found = pairs.iter().find(|(k, _)| *k == name);
                found.map(|(_, v)| v.to_string())
            }
        };
        let truecolor = &[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")];
        assert_eq!(terminal_colors(env(truecolor)), Colors::True);
        let colorterm = &[("TERM", "xterm"), ("COLORTERM", "24bit")];
        assert_eq!(terminal_colors(env(colorterm)), Colors::True);
        let extended = &[("TERM", "tmux-256color")];
        assert_eq!(terminal_colors(env(extended)), Colors::Extended);
        assert_eq!(terminal_colors(env(&[("TERM", "xterm")])), Colors::Basic);
        // No escape codes at all for a dumb terminal, whatever else is set.
        let dumb = &[("TERM", "dumb"), ("COLORTERM", "truecolor")];
        assert_eq!(terminal_colors(env(dumb)), Colors::Off);
        assert_eq!(terminal_colors(env(&[])), Colors::Off);
    }

    #[test]
    fn join_defaults_are_the_clients_defaults() {
        let options = options(join_args(&[])).unwrap();
        let patience = Duration::from_secs(client::defaults::LOGIN_TIMEOUT_SECS);
        assert_eq!(options.login_timeout, patience);
        assert!(options.name.is_none() && options.password.is_none() && options.tls.is_none());
    }

    #[test]
    fn a_bad_password_is_refused_without_repeating_it() {
        let options = options(join_args(&["--password", "hunter2"])).unwrap();
        let given = options.password.map(|p| p.expose().to_string());
        assert_eq!(given.as_deref(), Some("hunter2"));
        let error = format!(
            "{:#}",
            options_error(join_args(&["--password", "hunter2\nmore"]))
        );
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("line break"), "{error}");
    }

    #[test]
    fn a_port_in_the_host_serves_unless_port_says_otherwise() {
        let both = options(join_args(&["--host", "[::1]:3001", "--port", "3001"])).unwrap();
        assert_eq!(both.address.to_string(), "[::1]:3001");
        // SOCKCHAT_PORT in the caller's environment would count as given.
        if std::env::var_os("SOCKCHAT_PORT").is_none() {
            let alone = options(join_args(&["--host", "[::1]:3001"])).unwrap();
            assert_eq!(alone.address, both.address);
        }
        let error = options_error(join_args(&["--host", "[::1]:3001", "--port", "4000"]));
        let error = error.to_string();
        assert!(error.contains("give the port once"), "{error}");
    }

    #[test]
    fn a_bad_name_names_the_flag_it_came_from() {
        let error = options_error(join_args(&["--name", "a b"])).to_string();
        assert_eq!(error, "invalid --name 'a b': a name cannot contain spaces");
    }

    fn options_error(args: JoinArgs) -> anyhow::Error {
        match options(args) {
            Ok(options) => panic!("accepted: {options:?}"),
            Err(error) => error,
        }
    }
}
