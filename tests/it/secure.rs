//! Helpers for private rooms: certificates made in the test with rcgen (a
//! CA, a server certificate for 127.0.0.1/localhost, an expired one, one for
//! another name, an unrelated CA), a TLS client that speaks literal lines,
//! and the real binary run with a scrubbed environment and a deadline.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::net::TcpStream;
use futures::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::rustls::{ClientConfig, ServerConfig};
use futures_rustls::TlsConnector;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sockchat::tls::{self, Trust};

use crate::util::WAIT;

// Files.

/// A directory of its own under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sockchat-it-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    /// Writes `contents` to `name` in this directory; returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir does no harm.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// Certificates.

/// A server certificate and its key, as PEM files.
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    /// A server config as `serve --tls-cert --tls-key` makes it.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        tls::load_server(&self.cert, &self.key)
            .expect("load the test certificate")
            .config
    }
}

/// Everything a TLS test needs, in a temp dir of its own.
pub struct Pki {
    pub dir: TempDir,
    /// The CA that signed `good`, `expired` and `wrong_name` (PEM).
    pub ca: PathBuf,
    /// A CA that signed none of them.
    pub other_ca: PathBuf,
    /// Valid now, for 127.0.0.1 and localhost.
    pub good: Identity,
    /// For 127.0.0.1 and localhost, but expired in 2021.
    pub expired: Identity,
    /// Valid now, but for example.org only.
    pub wrong_name: Identity,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TempDir::new();
        let ca = make_ca("sockchat test CA");
        let other = make_ca("some other CA");
        let local = ["127.0.0.1", "localhost"];
        let good = make_leaf(&dir, "good", &ca, &local, false);
        let expired = make_leaf(&dir, "expired", &ca, &local, true);
        let wrong_name = make_leaf(&dir, "wrong-name", &ca, &["example.org"], false);
        Pki {
            ca: dir.file("ca.pem", &ca.pem()),
            other_ca: dir.file("other-ca.pem", &other.pem()),
            good,
            expired,
            wrong_name,
            dir,
        }
    }

    /// A client config trusting this test CA only.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        tls::client_config(&Trust::CaFile(self.ca.clone())).expect("client config")
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("CA key");
    CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

fn make_leaf(
    dir: &TempDir,
    stem: &str,
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    expired: bool,
) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, stem);
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, ca).expect("leaf certificate");
    Identity {
        cert: dir.file(&format!("{stem}.crt"), &cert.pem()),
        key: dir.file(&format!("{stem}.key"), &key.serialize_pem()),
    }
}

// A TLS client speaking literal lines.

/// Like `util::Client`, over TLS.
pub struct TlsClient {
    stream: TlsStream<TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    /// Connects and completes the handshake (or says why it failed).
    pub async fn connect(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> Result<TlsClient, std::io::Error> {
        let tcp = async_std::future::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        let name = tls::server_name("127.0.0.1").expect("server name");
        let handshake = TlsConnector::from(config).connect(name, tcp);
        let stream = async_std::future::timeout(WAIT, handshake)
            .await
            .expect("TLS handshake timed out")?;
        Ok(TlsClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Connects, reads the greeting `greeting` and logs in as `name`.
    pub async fn login(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
        greeting: &str,
        lines_before_name: &[&str],
        name: &str,
    ) -> TlsClient {
        let mut client = TlsClient::connect(addr, config)
            .await
            .expect("TLS handshake failed");
        client.expect_line(greeting).await;
        for line in lines_before_name {
            client.send(line).await;
            client.line().await;
        }
        client.send(name).await;
        client
            .expect_line(&format!("Server: You are logged in as: {name}"))
            .await;
        client
    }

    pub async fn send(&mut self, line: &str) {
        let bytes = format!("{line}\n");
        let send = async {
            self.stream.write_all(bytes.as_bytes()).await?;
            self.stream.flush().await
        };
        async_std::future::timeout(WAIT, send)
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    /// The next line without its `\n`; None when the server closed.
    pub async fn line(&mut self) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8(line[..i].to_vec()).expect("UTF-8 from the server"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let mut chunk = [0u8; 4096];
            match async_std::future::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => panic!("no line within {WAIT:?}"),
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn expect_line(&mut self, expected: &str) {
        assert_eq!(self.line().await.as_deref(), Some(expected));
    }

    pub async fn expect_closed(&mut self) {
        assert_eq!(self.line().await, None, "expected the server to close");
    }
}

// The binary.

pub use crate::binary::sockchat;

/// `sockchat join` to the server at `addr`, with `extra` arguments.
pub fn join(addr: SocketAddr, extra: &[&str]) -> Command {
    let port = addr.port().to_string();
    let mut args = vec!["join", "--host", "127.0.0.1", "--port", &port];
    args.extend_from_slice(extra);
    sockchat(args)
}

/// How a child process ended.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From start to exit.
    pub took: Duration,
}

/// Runs `command` with `input` on its stdin (then closed) until it exits;
/// panics if it takes longer than `WAIT`. Blocking: call it through
/// `finish`, from async tests.
pub fn finish_blocking(mut command: Command, input: &str) -> Finished {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sockchat");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_string();
    // A child that exits early closes the pipe: that write error is expected.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let stdout = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for sockchat") {
            break status;
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sockchat did not exit within {WAIT:?}; stderr so far: {:?}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let _ = writer.join();
    Finished {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        took,
    }
}

/// `finish_blocking` off the async executor's threads.
pub async fn finish(command: Command, input: &str) -> Finished {
    let input = input.to_string();
    async_std::task::spawn_blocking(move || finish_blocking(command, &input)).await
}

fn read_all(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // What was read before an error is still worth showing.
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `sockchat serve` running in the background, its output captured; ended
/// with SIGTERM (a graceful shutdown) by `stop`, or killed when dropped.
pub struct Serve {
    child: std::process::Child,
    pub addr: SocketAddr,
    /// The lines `serve` printed on stdout before it was up.
    pub banner: Vec<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    /// Starts `sockchat serve --host 127.0.0.1 --port 0 EXTRA…` and waits
    /// until its banner has been printed (it is listening by then).
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut args = vec!["serve", "--host", "127.0.0.1", "--port", "0"];
        args.extend_from_slice(extra);
        let mut command = sockchat(args);
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sockchat serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = read_all(child.stderr.take().expect("stderr is piped"));
        // The banner ends with its `Join with:` line in a TLS room, else
        // with the address line; read on a thread, so waiting has a deadline.
        let tls = extra.iter().any(|a| a.starts_with("--tls"));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            let mut banner = Vec::new();
            while let Some(Ok(line)) = lines.next() {
                let last = !tls || line.starts_with("Join with:");
                banner.push(line);
                if last {
                    let _ = tx.send(banner.clone());
                    break;
                }
            }
            let mut rest = String::new();
            for line in lines.map_while(Result::ok) {
                rest.push_str(&line);
                rest.push('\n');
            }
            format!("{}\n{rest}", banner.join("\n"))
        });
        let banner = match rx.recv_timeout(WAIT) {
            Ok(banner) => banner,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve printed no banner; stderr: {:?}", stderr.join());
            }
        };
        let addr = banner[0]
            .strip_prefix("Server is running on: ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        Serve {
            child,
            addr,
            banner,
            stdout: Some(reader),
            stderr: Some(stderr),
        }
    }

    /// Asks for a graceful shutdown (SIGTERM); returns (stdout, stderr).
    pub fn stop(mut self) -> (String, String) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().expect("wait for serve").is_none() {
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default());
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        (stdout.unwrap_or_default(), stderr.unwrap_or_default())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Already reaped after `stop`; otherwise a failed test must not
        // leave a server behind.
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
