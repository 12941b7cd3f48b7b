//! `sockchat serve`: the flags become a `server::Config` (password and TLS
//! files read, limits cross-checked), then bind, install the signal
//! handler, print the banner and run the room until Ctrl-C.

use std::io::IsTerminal;

use anyhow::{bail, Context};

use super::banner;
use crate::address::Address;
use crate::cli::{ServeArgs, TrustArg};
use crate::protocol::password::Password;
use crate::runtime::{self, TcpListener};
use crate::server::log::Log;
use crate::server::Streams;
use crate::server::{self, Config};
use crate::stream::{self, HistoryLimits, Limits};
use crate::tls::{self, ServerTls};

/// What the server adds to a client's text at most: a name of 32
/// characters (up to 128 bytes), `To `, ` (private): ` and the line end.
const LINE_OVERHEAD: usize = 256;

/// `sockchat serve`: bind, print where the room is, serve until Ctrl-C.
// Not inlined into `main`: its frame (large, as whole-program
// optimisation makes it) would be touched at every start, whichever
// subcommand runs, and a touched stack page stays resident.
#[inline(never)]
pub fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    runtime::start_with_threads(args.threads as usize);
    one_malloc_arena();
    ignore_file_size_signal();
    let color = super::color_allowed(std::io::stderr());
    let status = std::io::stderr().is_terminal();
    let address = Address::parse(&args.host, super::port(args.port, args.port_given))
        .map_err(|e| super::named(e, &args.from_env, &["--host", "--port"]))?;
    let mut config = limits(&args)?;
    let descriptors = raise_descriptor_limit();
    let secret = super::password(args.password.as_ref(), args.password_file.as_deref())?;
    if let Some(secret) = &secret {
        if secret.len() > config.max_line_bytes {
            bail!(
                "cannot use the password: it is longer than --max-line-bytes ({} bytes)",
                config.max_line_bytes
            );
        }
    }
    config.password = secret.as_ref().map(Password::new);
    // From here on only the digest is kept: not the text, not the flag.
    let has_password = secret.is_some();
    drop(secret);
    args.password = None;
    let tls = server_tls(&args, &address)?;
    config.tls = tls.as_ref().map(|tls| tls.config.clone());
    let (streams, notices) = open_streams(&args, &config)?;
    // Boxed: the whole server's state would otherwise sit in the main
    // thread's stack, whose every page touched stays resident.
    runtime::block_on(Box::pin(async {
        let listener = TcpListener::bind((address.host(), address.port()))
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let local = listener
            .local_addr()
            .with_context(|| format!("cannot read the address bound for {address}"))?;
        // Handler first, banner second: a script that stops the server as
        // soon as it sees the banner must get a graceful shutdown.
        let shutdown =
            signals::shutdown_requested().context("cannot install the Ctrl-C handler")?;
        banner::print(local, tls.as_ref(), has_password);
        let log = Log::console(color, status);
        if let Some(warning) = descriptor_warning(descriptors, config.max_clients) {
            log.warn(warning);
        }
        for notice in notices {
            log.warn(format!("Server: {notice}"));
        }
        let result = server::run_with(listener, config, streams, log.clone(), shutdown).await;
        log.finish();
        result.context("server failed")
    }))
}

/// The server's streams: in memory, or recovered from `--store`, and what
/// to log about it. The store's folder is created if its parent exists
/// (and said so); a path that will not do is named as it was given.
/// Damage recovery cannot repair stops the start with the one line that
/// says where; a torn last line (a crash mid-write) is dropped and
/// reported, and an empty newest file reported.
fn open_streams(args: &ServeArgs, config: &Config) -> anyhow::Result<(Streams, Vec<String>)> {
    let Some(dir) = &args.store else {
        return Ok((Streams::memory(config.history), Vec::new()));
    };
    let created = stream::access::prepare_root(dir).map_err(|e| anyhow::anyhow!("--store {e}"))?;
    let segment = args.store_segment_mib.saturating_mul(1 << 20);
    let (streams, notices) = Streams::open(dir, segment, config)?;
    let made = created.then(|| format!("created {} for --store", dir.display()));
    let notices = made
        .into_iter()
        .chain(notices.iter().map(ToString::to_string));
    Ok((streams, notices.collect()))
}

/// The limits the flags ask for, checked against each other. TLS and the
/// password are left empty: they come from files.
fn limits(args: &ServeArgs) -> anyhow::Result<Config> {
    let config = Config {
        max_line_bytes: args.max_line_bytes as usize,
        max_clients: args.max_clients as usize,
        login_timeout: std::time::Duration::from_secs(args.login_timeout),
        send_queue: args.send_queue as usize,
        send_budget: args.send_budget as usize,
        rate: args.rate,
        burst: args.burst,
        announce_max: args.announce_max as usize,
        tls: None,
        password: None,
        trusted: trusted(&args.trust_addr),
        max_per_addr: args.max_per_addr as usize,
        max_pending_per_addr: args.max_pending_per_addr as usize,
        connect_rate: args.connect_rate,
        connect_burst: args.connect_burst,
        max_handshakes: args.max_handshakes as usize,
        max_handshakes_per_addr: args.max_handshakes_per_addr as usize,
        socket_send_buffer: args.socket_send_buffer as usize,
        name_hold: std::time::Duration::from_secs(args.name_hold),
        password_delay_max: std::time::Duration::from_secs(args.password_delay_max),
        output_rate: args.output_rate,
        history: HistoryLimits {
            room: Limits {
                count: args.history as usize,
                ..HistoryLimits::default().room
            },
            ..HistoryLimits::default()
        },
        history_memory: (args.history_memory as usize) << 20,
        replay: args.replay as usize,
        resume_window: std::time::Duration::from_secs(args.resume_window),
        max_kept: server::defaults::MAX_KEPT as usize,
        max_kept_per_addr: args.max_kept_per_addr as usize,
        max_rooms: args.max_rooms as usize,
        max_joined: args.max_joined as usize,
    };
    // A queue that cannot hold a couple of the longest lines would cut
    // off every recipient of one such line as "too slow".
    let least = 2 * (config.max_line_bytes + LINE_OVERHEAD);
    if config.send_queue < least {
        bail!(
            "--send-queue {} is too small for --max-line-bytes {}: it must be at least {least}",
            config.send_queue,
            config.max_line_bytes
        );
    }
    Ok(config)
}

/// The networks `--trust-addr` names; `none` among them trusts nobody.
fn trusted(args: &[TrustArg]) -> Vec<server::addrs::Cidr> {
    if args.contains(&TrustArg::None) {
        return Vec::new();
    }
    args.iter()
        .filter_map(|arg| match arg {
            TrustArg::Net(net) => Some(*net),
            TrustArg::None => None,
        })
        .collect()
}

/// Descriptors a connection costs (its socket), and those the server keeps
/// for itself (listener, stdio, the runtime's own).
const SPARE_DESCRIPTORS: u64 = 64;

/// Raises the soft limit on open files to the hard one, as a server with
/// thousands of clients needs (many systems start at 1024). Returns the
/// limit now in force, if it could be read.
fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit to a pointer to a live local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        // SAFETY: setrlimit reads one rlimit from a pointer to a live local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    #[allow(clippy::unnecessary_cast, reason = "rlim_t is not u64 on every target")]
    Some(limit.rlim_cur as u64)
}

/// A warning when `--max-clients` is more than the descriptors allow:
/// past them, new clients would wait in the kernel's queue with no word.
fn descriptor_warning(descriptors: Option<u64>, max_clients: usize) -> Option<String> {
    let descriptors = descriptors?;
    let usable = descriptors.saturating_sub(SPARE_DESCRIPTORS);
    (max_clients as u64 > usable).then(|| {
        format!(
            "Server: warning: --max-clients is {max_clients} but this process may open only \
             {descriptors} files; past about {usable} clients, new ones will wait unanswered \
             (raise it with `ulimit -n`)"
        )
    })
}

/// The TLS setup `serve` was asked for, if any.
fn server_tls(args: &ServeArgs, address: &Address) -> anyhow::Result<Option<ServerTls>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return tls::load_server(cert, key).map(Some);
    }
    if !args.tls_self_signed {
        return Ok(None);
    }
    // Names are for show: clients pin the fingerprint, not a name.
    let mut names = vec!["localhost".to_string()];
    match address.ip() {
        Some(ip) if ip.is_unspecified() => {
            names.extend(["127.0.0.1".to_string(), "::1".to_string()]);
            names.extend(
                banner::reachable(ip.is_ipv6())
                    .iter()
                    .map(|ip| ip.to_string()),
            );
        }
        _ if address.host() != "localhost" => names.push(address.host().to_string()),
        _ => {}
    }
    tls::self_signed(names).map(Some)
}

mod signals {
    //! SIGINT/SIGTERM: the first asks for a graceful shutdown, a second
    //! one exits at once.
    use futures::channel::oneshot;
    use futures::FutureExt;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    #[allow(
        clippy::exit,
        reason = "a second Ctrl-C means now: nothing is left to clean up"
    )]
    pub fn shutdown_requested() -> std::io::Result<impl std::future::Future<Output = ()>> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let (tx, rx) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut first = Some(tx);
            for _ in signals.forever() {
                match first.take() {
                    // `run` logs the shutdown (above the status line). A
                    // send fails only if `run` already ended: nothing to stop.
                    Some(tx) => {
                        let _ = tx.send(());
                    }
                    None => std::process::exit(130),
                }
            }
        });
        Ok(rx.map(|_| ()))
    }
}

/// A write past the file size limit (`ulimit -f`, RLIMIT_FSIZE) raises
/// SIGXFSZ, whose default is to kill the process: the store's writer would
/// take the whole room down. Ignored, the write fails with EFBIG instead,
/// which the store reports like a full disk (the line is not saved, its
/// sender is told) and gets over once the limit is raised.
fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN, before any thread
    // of ours exists; it cannot fail for a valid signal number.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// glibc gives each thread that allocates an arena of its own; lines are
/// allocated by readers on one thread and freed by the broker on another,
/// so several arenas each keep their own free memory. One arena: S2's peak
/// RSS 10.9-11.0 MiB instead of 12.9-13.8, at the same throughput
/// (chatload, 4 runs each).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, before any thread
    // of ours exists; it fails harmlessly (returns 0) if not supported.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parsed::serve as serve_args;

    #[test]
    fn serve_defaults_are_the_servers_defaults() {
        let from_flags = format!("{:?}", limits(&serve_args(&[])).unwrap());
        let built_in = format!("{:?}", Config::default());
        assert_eq!(from_flags, built_in);
    }

    #[test]
    fn room_limits_reach_the_config() {
        let config = limits(&serve_args(&["--max-rooms", "3", "--max-joined", "2"])).unwrap();
        assert_eq!((config.max_rooms, config.max_joined), (3, 2));
    }

    #[test]
    fn trust_addr_replaces_the_default_and_none_trusts_nobody() {
        let default = limits(&serve_args(&[])).unwrap().trusted;
        assert_eq!(default.len(), 2);
        let lan = limits(&serve_args(&["--trust-addr", "10.0.0.0/8"])).unwrap();
        assert_eq!(lan.trusted.len(), 1);
        assert!(lan.trusted[0].contains("10.1.2.3".parse().unwrap()));
        let nobody = limits(&serve_args(&["--trust-addr", "none"])).unwrap();
        assert!(nobody.trusted.is_empty());
    }

    #[test]
    fn more_clients_than_descriptors_is_warned_about() {
        assert_eq!(descriptor_warning(Some(1_048_576), 10_000), None);
        let warning = descriptor_warning(Some(1024), 10_000).unwrap();
        assert!(warning.contains("only 1024 files"), "{warning}");
        assert_eq!(descriptor_warning(None, 10_000), None);
    }

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        let now = raise_descriptor_limit().expect("getrlimit works here");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in raise_descriptor_limit.
        let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        assert_eq!(read, 0);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(now.to_string(), limit.rlim_cur.to_string());
    }

    #[test]
    fn a_send_queue_too_small_for_the_longest_line_is_refused() {
        let args = serve_args(&["--max-line-bytes", "65536", "--send-queue", "65536"]);
        let error = limits(&args).unwrap_err().to_string();
        assert!(error.contains("must be at least 131584"), "{error}");
    }
}
