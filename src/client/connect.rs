//! Reaching the server: a spinner while connecting, retries with backoff
//! while `--wait` allows, the TLS handshake when asked for, and one clear
//! line when it cannot be done.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use futures::io::AsyncReadExt;
use futures::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::{ClientConfig, ProtocolVersion};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::address::Address;
use crate::runtime::{self, FinOnClose, TcpStream};
use crate::tls::{self, TlsConnector, Trust};
use crate::words;

/// What the server sends us: the socket, or the reading half of a TLS session.
pub type Reader = Box<dyn AsyncRead + Unpin + Send>;
/// What we send to the server through. Closing it ends our side (TLS:
/// close_notify, then FIN).
pub type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// The longest one connection attempt may take (an unreachable host can
/// otherwise hang for minutes).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `address`, retrying for up to `wait` while it is refused.
pub async fn connect(address: &Address, wait: Duration) -> anyhow::Result<TcpStream> {
    let addr = address.to_string();
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        spinner.set_style(style);
    }
    spinner.set_message(format!("Connecting to {addr}…"));
    spinner.enable_steady_tick(Duration::from_millis(80));

    let deadline = Instant::now() + wait;
    let mut backoff = Duration::from_millis(100);
    let ips = match resolve(address).await {
        Ok(ips) => ips,
        Err(why) => {
            spinner.finish_and_clear();
            bail!("cannot connect to {addr}: {why}");
        }
    };
    let result = loop {
        let attempt = runtime::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(&ips[..])).await;
        let error = match attempt {
            Ok(Ok(stream)) => break Ok(stream),
            Ok(Err(e)) => e,
            Err(_) => io::Error::new(io::ErrorKind::TimedOut, "timed out"),
        };
        let now = Instant::now();
        if now >= deadline || !retryable(&error) {
            break Err(explain(&addr, &error));
        }
        spinner.set_message(format!("Connecting to {addr}… ({})", short(&error)));
        runtime::sleep(backoff.min(deadline - now)).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    };
    spinner.finish_and_clear();
    result
}

/// One attempt to connect to `address`, with no spinner (a reconnect shows
/// its own status); the error in a few words.
pub async fn attempt(address: &Address) -> Result<TcpStream, String> {
    let ips = resolve(address).await?;
    match runtime::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(&ips[..])).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(short(&e)),
        Err(_) => Err("timed out".into()),
    }
}

/// The addresses `address` names, looked up once (not under `--wait`: a
/// name that does not resolve will not start to by waiting). The lookup
/// blocks, so it runs off the async threads.
async fn resolve(address: &Address) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = (address.host().to_string(), address.port());
    let lookup = runtime::spawn_blocking(move || {
        (host.as_str(), port)
            .to_socket_addrs()
            .map(|found| found.collect::<Vec<_>>())
    });
    match lookup.await {
        Ok(ips) if !ips.is_empty() => Ok(ips),
        Ok(_) => Err(format!("{} has no address", address.host())),
        Err(e) => {
            let why = words::io_error(&e);
            let why = why
                .strip_prefix("failed to lookup address information: ")
                .map(str::to_lowercase)
                .unwrap_or(why);
            Err(format!("cannot find the host {}: {why}", address.host()))
        }
    }
}

/// Both directions of a plain TCP connection.
pub fn plain(stream: TcpStream) -> (Reader, Writer) {
    (Box::new(stream.clone()), Box::new(FinOnClose(stream)))
}

/// Starts TLS on `stream`, checking the server as `trust` says. Returns
/// both directions of the session and a few words on what was verified.
pub async fn start_tls(
    stream: TcpStream,
    address: &Address,
    config: Arc<ClientConfig>,
    trust: &Trust,
) -> anyhow::Result<(Reader, Writer, String)> {
    let name = tls::server_name(address.host())?;
    let handshake = TlsConnector::from(config).connect(name, FinOnClose(stream));
    let session = match runtime::timeout(tls::HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => {
            let why = tls::describe_client_error(&e, address.host(), trust);
            let said = format!("TLS handshake with {address} failed: {why}");
            return Err(match tls::certificate_refused(&e) {
                true => anyhow::Error::new(CertificateRefused(said)),
                false => anyhow!(said),
            });
        }
        Err(_) => bail!(
            "TLS handshake with {address} failed: no answer within {} s",
            tls::HANDSHAKE_TIMEOUT.as_secs()
        ),
    };
    let version = match session.get_ref().1.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    let checked = match trust {
        Trust::System => "certificate verified".to_string(),
        Trust::CaFile(path) => format!("certificate verified with {}", path.display()),
        Trust::Pinned(_) => "certificate matches the pinned fingerprint".to_string(),
    };
    let (reader, writer) = session.split();
    Ok((
        Box::new(reader),
        Box::new(writer),
        format!("{version}, {checked}"),
    ))
}

/// The server's certificate was refused (a pinned one that changed, one
/// expired…): connecting again will not help until the person acts, so a
/// reconnect gives up on it. Shown as the handshake's failure, in words.
#[derive(Debug)]
pub struct CertificateRefused(String);

impl std::fmt::Display for CertificateRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertificateRefused {}

/// Errors that a server still starting up would cause.
fn retryable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::TimedOut
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

fn short(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        _ => words::io_error(error),
    }
}

fn explain(addr: &str, error: &io::Error) -> anyhow::Error {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => anyhow!(
            "cannot connect to {addr}: connection refused (is `sockchat serve` running there?)"
        ),
        io::ErrorKind::TimedOut => anyhow!("cannot connect to {addr}: timed out"),
        _ => anyhow!("cannot connect to {addr}: {}", words::io_error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_does_not_resolve_is_said_in_words() {
        let address = Address::parse("nosuch.invalid", crate::address::Port::Given(3000)).unwrap();
        let why = runtime::block_on(resolve(&address)).unwrap_err();
        assert!(
            why.starts_with("cannot find the host nosuch.invalid"),
            "{why}"
        );
        assert!(!why.contains('`') && !why.contains('"'), "{why}");
    }

    #[test]
    fn refusals_name_the_address_and_the_likely_cause() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        let text = explain("127.0.0.1:9", &e).to_string();
        assert_eq!(
            text,
            "cannot connect to 127.0.0.1:9: connection refused (is `sockchat serve` running there?)"
        );
    }
}
