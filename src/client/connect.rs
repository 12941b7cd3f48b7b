//! Reaching the server: a spinner while connecting, retries with backoff
//! while `--wait` allows, the TLS handshake when asked for, and one clear
//! line when it cannot be done.

use std::io;
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
    let result = loop {
        let attempt = runtime::timeout(
            ATTEMPT_TIMEOUT,
            TcpStream::connect((address.host(), address.port())),
        )
        .await;
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
            bail!("TLS handshake with {address} failed: {why}");
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
        _ => strip_os_error(error),
    }
}

/// "Connection refused (os error 111)" → "connection refused".
fn strip_os_error(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

fn explain(addr: &str, error: &io::Error) -> anyhow::Error {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => anyhow!(
            "cannot connect to {addr}: connection refused (is `sockchat serve` running there?)"
        ),
        io::ErrorKind::TimedOut => anyhow!("cannot connect to {addr}: timed out"),
        _ => anyhow!("cannot connect to {addr}: {}", strip_os_error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_address_and_the_likely_cause() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        let text = explain("127.0.0.1:9", &e).to_string();
        assert_eq!(
            text,
            "cannot connect to 127.0.0.1:9: connection refused (is `sockchat serve` running there?)"
        );
    }

    #[test]
    fn os_error_numbers_are_left_out() {
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(strip_os_error(&e), "network is unreachable");
    }
}
