//! Starting `sockchat serve`: read the flags, bind, install the signal
//! handler, say where the room is, then run it until Ctrl-C.

use std::net::SocketAddr;

use anyhow::{bail, Context};

use super::log::Log;
use super::{run, Config};
use crate::cli::ServeArgs;
use crate::protocol::password::Password;
use crate::runtime::{self, TcpListener};
use crate::tls::{self, ServerTls};

/// What the server adds to a client's text at most: a name of 32
/// characters (up to 128 bytes), `To `, ` (private): ` and the line end.
const LINE_OVERHEAD: usize = 256;

/// `sockchat serve`: bind, print where the room is, serve until Ctrl-C.
pub fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    one_malloc_arena();
    let color = crate::color_allowed(std::io::stderr());
    let status = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let addr = format!("{}:{}", bracket_v6(&args.host), args.port);
    runtime::block_on(async {
        let mut config = Config::from(&args);
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
        let secret = args.password()?;
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
        let tls = server_tls(&args)?;
        config.tls = tls.as_ref().map(|tls| tls.config.clone());
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener
            .local_addr()
            .with_context(|| format!("cannot read the address bound for {addr}"))?;
        // Handler first, banner second: a script that stops the server as
        // soon as it sees the banner must get a graceful shutdown.
        let shutdown =
            signals::shutdown_requested().context("cannot install the Ctrl-C handler")?;
        print_banner(local, tls.as_ref(), has_password);
        let log = Log::console(color, status);
        let result = run(listener, config, log.clone(), shutdown).await;
        log.finish();
        result.context("server failed")
    })
}

mod signals {
    //! SIGINT/SIGTERM: the first asks for a graceful shutdown, a second
    //! one exits at once.
    use futures::channel::oneshot;
    use futures::FutureExt;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

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

/// `::1` must be written `[::1]` before `:port`.
fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The TLS setup `serve` was asked for, if any.
fn server_tls(args: &ServeArgs) -> anyhow::Result<Option<ServerTls>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return tls::load_server(cert, key).map(Some);
    }
    if !args.tls_self_signed {
        return Ok(None);
    }
    // Names are for show: clients pin the fingerprint, not a name.
    let mut names = vec!["localhost".to_string()];
    let host = args.host.trim_start_matches('[').trim_end_matches(']');
    let bound: Option<std::net::IpAddr> = host.parse().ok();
    match bound {
        Some(ip) if ip.is_unspecified() => {
            names.extend(["127.0.0.1".to_string(), "::1".to_string()]);
            names.extend(
                addresses::reachable(ip.is_ipv6())
                    .iter()
                    .map(|ip| ip.to_string()),
            );
        }
        _ if host != "localhost" => names.push(host.to_string()),
        _ => {}
    }
    tls::self_signed(names).map(Some)
}

/// Says where the room is; for an all-interfaces bind, the addresses others
/// can use. In a TLS room it prints the certificate's fingerprint, and the
/// join commands carry the TLS flags they need (a self-signed certificate
/// is pinned by its fingerprint).
fn print_banner(local: SocketAddr, tls: Option<&ServerTls>, password: bool) {
    println!("Server is running on: {local}");
    let flags = match tls {
        None => String::new(),
        Some(tls) if tls.self_signed => format!(" --tls-fingerprint {}", tls.fingerprint),
        Some(_) => " --tls".to_string(),
    };
    if let Some(tls) = tls {
        let kind = if tls.self_signed { "self-signed " } else { "" };
        println!(
            "TLS: {kind}certificate with SHA-256 fingerprint {}",
            tls.fingerprint
        );
    }
    if password {
        println!("The room has a password: `join` asks for it (or give it with SOCKCHAT_PASSWORD or --password-file)");
    }
    let port = local.port();
    if local.ip().is_unspecified() {
        let mut any = false;
        for ip in addresses::reachable(local.is_ipv6()) {
            if !any {
                println!("Others can join with:");
                any = true;
            }
            println!("  sockchat join --host {ip} --port {port}{flags}");
        }
        if !any {
            println!("Join from this machine with: sockchat join --port {port}{flags}");
        }
    } else if tls.is_some() {
        let host = local.ip();
        println!("Join with: sockchat join --host {host} --port {port}{flags}");
    }
}

mod addresses {
    //! This machine's addresses, from its network interfaces.
    use std::net::IpAddr;

    /// Non-loopback addresses of the machine (IPv6 ones too when `v6`).
    pub fn reachable(v6: bool) -> Vec<IpAddr> {
        let Ok(interfaces) = if_addrs::get_if_addrs() else {
            return Vec::new();
        };
        let mut ips: Vec<IpAddr> = interfaces
            .iter()
            .filter(|i| !i.is_loopback())
            .map(|i| i.ip())
            .filter(|ip| v6 || ip.is_ipv4())
            .collect();
        ips.sort();
        ips.dedup();
        ips
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
