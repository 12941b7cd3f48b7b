//! The real `sockchat` binary as a child process: a scrubbed environment,
//! output read on threads (so every wait has a timeout), `serve` kept
//! running in the background for as long as its guard lives, and a raw TCP
//! client that talks like `nc`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::WAIT;

/// The binary under test, built by cargo for this test crate.
pub const BIN: &str = env!("CARGO_BIN_EXE_sockchat");

/// Removes what changes what `sockchat` does (`NO_COLOR`, every
/// `SOCKCHAT_*`), so that tests do not depend on whoever runs them.
pub fn scrub(command: &mut Command) {
    command.env_remove("NO_COLOR");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SOCKCHAT_") {
            command.env_remove(key);
        }
    }
}

/// `sockchat ARGS…` with a scrubbed environment.
pub fn sockchat<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(BIN);
    scrub(&mut command);
    command.args(args);
    command
}

/// What a stream (a pipe, a pty) has produced, read on a thread of its own.
pub struct Output {
    chunks: mpsc::Receiver<Vec<u8>>,
    /// Everything read so far.
    seen: Vec<u8>,
    /// Where the next `expect` starts looking.
    from: usize,
    ended: bool,
    /// For failure messages: "Max's stdout".
    label: String,
}

impl Output {
    pub fn read(label: impl Into<String>, mut reader: impl Read + Send + 'static) -> Output {
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // A pty master reports the end with EIO, a pipe with Ok(0).
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Output {
            chunks,
            seen: Vec::new(),
            from: 0,
            ended: false,
            label: label.into(),
        }
    }

    /// Everything read so far.
    pub fn bytes(&self) -> &[u8] {
        &self.seen
    }

    /// Everything read so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Waits until `needle` appears after the previous match; returns the
    /// text between them, the match included. Panics after [`WAIT`].
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(at) = find(&self.seen[self.from..], needle.as_bytes()) {
                let end = self.from + at + needle.len();
                let got = String::from_utf8_lossy(&self.seen[self.from..end]).into_owned();
                self.from = end;
                return got;
            }
            if !self.more(deadline) {
                panic!(
                    "{} never showed {needle:?} ({}); it showed:\n{:?}",
                    self.label,
                    if self.ended { "it ended" } else { "timed out" },
                    self.text()
                );
            }
        }
    }

    /// Waits for the end of the stream and returns everything it gave.
    pub fn expect_end(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        while self.more(deadline) {}
        assert!(
            self.ended,
            "{} did not end within {WAIT:?}; it showed:\n{:?}",
            self.label,
            self.text()
        );
        self.text()
    }

    /// Reads one more chunk; false at the end or at the deadline.
    fn more(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.chunks.recv_timeout(left) {
            Ok(chunk) => {
                self.seen.extend_from_slice(&chunk);
                true
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A running `sockchat` with piped stdin, stdout and stderr; killed when
/// dropped.
pub struct Running {
    child: Child,
    pub stdin: Option<ChildStdin>,
    pub stdout: Output,
    pub stderr: Output,
}

impl Running {
    pub fn spawn(label: &str, mut command: Command) -> Running {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start the sockchat binary");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        Running {
            stdin: child.stdin.take(),
            stdout: Output::read(format!("{label}'s stdout"), stdout),
            stderr: Output::read(format!("{label}'s stderr"), stderr),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("waitpid").is_none()
    }

    /// Writes to the child's stdin.
    pub fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Ends the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit, its output to end, and returns its
    /// status. Panics after [`WAIT`].
    pub fn wait(&mut self) -> ExitStatus {
        self.stdout.expect_end();
        self.stderr.expect_end();
        wait_exit(&mut self.child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Already gone when the test got that far: both calls may fail.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit within [`WAIT`]. Having read its output to
/// the end, this is usually immediate.
fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A finished run of the binary.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `sockchat ARGS…` with `stdin` piped in, to the end.
pub fn run_to_end(args: &[&str], stdin: &str) -> Finished {
    let mut running = Running::spawn("sockchat", sockchat(args));
    running.type_in(stdin);
    running.close_stdin();
    let status = running.wait();
    Finished {
        status,
        stdout: running.stdout.text(),
        stderr: running.stderr.text(),
    }
}

/// `sockchat serve --host 127.0.0.1 --port 0` (or elsewhere), running
/// until dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub process: Running,
}

impl Server {
    pub fn start() -> Server {
        Server::start_at("127.0.0.1", 0)
    }

    /// `sockchat serve --host HOST --port PORT`, once it listens.
    pub fn start_at(host: &str, port: u16) -> Server {
        Server::start_with(host, port, &[])
    }

    /// `sockchat serve --host HOST --port PORT EXTRA…`, once it listens.
    pub fn start_with(host: &str, port: u16, extra: &[&str]) -> Server {
        let port = port.to_string();
        let mut command = sockchat(["serve", "--host", host, "--port", &port]);
        command.args(extra);
        let mut process = Running::spawn("serve", command);
        // The first stdout line says where the room is.
        let first = process.stdout.expect("\n");
        let addr = first
            .trim_end()
            .strip_prefix("Server is running on: ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {first:?}"))
            .parse()
            .expect("serve printed an address");
        Server { addr, process }
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Asks for a graceful shutdown (SIGTERM, as Ctrl-C would) and waits.
    pub fn stop(self) -> ExitStatus {
        self.stop_to_end().status
    }

    /// As [`Server::stop`], with everything the server printed.
    pub fn stop_to_end(mut self) -> Finished {
        let pid = libc::pid_t::try_from(self.process.pid()).expect("pid fits pid_t");
        // SAFETY: kill() only sends a signal; the pid is our live child.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "cannot signal the server");
        let status = self.process.wait();
        Finished {
            status,
            stdout: self.process.stdout.text(),
            stderr: self.process.stderr.text(),
        }
    }

    /// `sockchat join --host 127.0.0.1 --port PORT ARGS…`.
    pub fn join(&self, extra: &[&str]) -> Command {
        let port = self.port();
        let mut args = vec!["join", "--host", "127.0.0.1", "--port", &port];
        args.extend_from_slice(extra);
        sockchat(args)
    }

    pub fn nc(&self) -> Nc {
        Nc::connect(self.addr)
    }
}

/// A raw TCP client, like `nc`: literal lines in, literal lines out.
pub struct Nc {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Nc {
    pub fn connect(addr: SocketAddr) -> Nc {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to the server");
        stream
            .set_read_timeout(Some(WAIT))
            .expect("set a read timeout");
        let writer = stream.try_clone().expect("clone the stream");
        Nc {
            reader: BufReader::new(stream),
            writer,
        }
    }

    /// Connects and logs in as `name`, reading the login lines.
    pub fn login(addr: SocketAddr, name: &str) -> Nc {
        let mut nc = Nc::connect(addr);
        nc.expect_line(sockchat::protocol::message::reply::GREETING);
        nc.send(name);
        nc.expect_line(&format!("Server: You are logged in as: {name}"));
        nc
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send to the server");
    }

    /// The next line without its `\n`; panics after [`WAIT`] or at the end.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => line.trim_end_matches('\n').to_string(),
            Err(e) => panic!("no line from the server within {WAIT:?}: {e}"),
        }
    }

    pub fn expect_line(&mut self, expected: &str) {
        assert_eq!(self.line(), expected);
    }
}
