//! `sockchat serve` as a child process: started on a port of its own
//! (port 0), its banner parsed once for the address, its log (stderr)
//! captured for the tests that read it, killed when dropped.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use super::process::{Finished, Running};
use super::{join_command, sockchat};

/// The first line `serve` prints, before the address it listens on.
const BANNER: &str = "Server is running on: ";

/// The address in the banner's first line (`Server is running on: ADDR`).
pub fn banner_addr(first_line: &str) -> SocketAddr {
    first_line
        .trim_end()
        .strip_prefix(BANNER)
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from serve: {first_line:?}"))
}

/// How to start `sockchat serve`: on 127.0.0.1, port 0, unless told.
pub struct Serve {
    host: String,
    port: u16,
    /// Flags after `--host` and `--port`.
    args: Vec<String>,
    /// Variables set on top of the scrubbed environment.
    env: Vec<(String, String)>,
    /// A limit on the child's open files (RLIMIT_NOFILE), if any.
    max_open_files: Option<libc::rlim_t>,
    /// Whether stderr is read (the default) or held unread.
    read_stderr: bool,
    /// The child's umask, if not the test's own.
    umask: Option<libc::mode_t>,
}

impl Default for Serve {
    fn default() -> Serve {
        Serve {
            host: "127.0.0.1".into(),
            port: 0,
            args: Vec::new(),
            env: Vec::new(),
            max_open_files: None,
            read_stderr: true,
            umask: None,
        }
    }
}

impl Serve {
    pub fn new() -> Serve {
        Serve::default()
    }

    /// `--host HOST --port PORT` instead of 127.0.0.1 and port 0.
    pub fn at(mut self, host: &str, port: u16) -> Serve {
        self.host = host.into();
        self.port = port;
        self
    }

    pub fn args(mut self, args: &[&str]) -> Serve {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Serve {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Limits the server to `limit` open files.
    pub fn max_open_files(mut self, limit: libc::rlim_t) -> Serve {
        self.max_open_files = Some(limit);
        self
    }

    /// Runs the server under `mask` (as a shell's `umask` would).
    pub fn umask(mut self, mask: libc::mode_t) -> Serve {
        self.umask = Some(mask);
        self
    }

    /// Nobody reads the server's stderr: its log stalls once the pipe is full.
    pub fn stderr_unread(mut self) -> Serve {
        self.read_stderr = false;
        self
    }

    /// The command, for a test that runs it its own way (on a pty, or
    /// expecting it to fail before any banner).
    pub fn command(&self) -> Command {
        let port = self.port.to_string();
        let mut command = sockchat(["serve", "--host", &self.host, "--port", &port]);
        command.args(&self.args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(limit) = self.max_open_files {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: the hook makes one async-signal-safe call
            // (setrlimit) between fork and exec, on a copied struct.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some(mask) = self.umask {
            // SAFETY: umask is async-signal-safe and cannot fail.
            unsafe {
                command.pre_exec(move || {
                    libc::umask(mask);
                    Ok(())
                });
            }
        }
        command
    }

    /// Starts the server and waits for its banner: it listens by then.
    pub fn start(self) -> Server {
        let command = self.command();
        let mut process = if self.read_stderr {
            Running::spawn("serve", command)
        } else {
            Running::spawn_holding_stderr("serve", command)
        };
        let addr = banner_addr(&process.stdout.expect("\n"));
        Server { addr, process }
    }
}

/// A running `sockchat serve`; killed when dropped.
pub struct Server {
    pub addr: SocketAddr,
    /// Its stdout (after the banner's first line) and stderr (the log).
    pub process: Running,
}

impl Server {
    /// `sockchat serve --host 127.0.0.1 --port 0`, once it listens.
    pub fn start() -> Server {
        Serve::new().start()
    }

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// `sockchat join` to this server, with `extra` arguments.
    pub fn join(&self, extra: &[&str]) -> Command {
        join_command(self.addr, extra)
    }

    /// The rest of the stdout line that starts with `prefix`, waiting for
    /// it (the banner's later lines: a fingerprint, a join command).
    pub fn banner_line(&mut self, prefix: &str) -> String {
        let stdout = &mut self.process.stdout;
        stdout.expect(prefix);
        stdout.expect("\n").trim_end().to_string()
    }

    /// The server's resident set size.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.process.pid()).expect("VmRSS in /proc/PID/status")
    }

    /// The most the server's resident set has been (its high-water mark).
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.process.pid(), "VmHWM").expect("VmHWM in /proc/PID/status")
    }

    /// Asks for a graceful shutdown (SIGTERM, as Ctrl-C would) and waits.
    pub fn stop(self) -> ExitStatus {
        self.stop_to_end().status
    }

    /// As [`Server::stop`], with everything the server printed.
    pub fn stop_to_end(self) -> Finished {
        self.end_with(libc::SIGTERM)
    }

    /// `kill -9`: the server stops dead (no shutdown, nothing flushed);
    /// waits for it and returns what it printed.
    pub fn kill(self) -> Finished {
        self.end_with(libc::SIGKILL)
    }

    /// Sends `signal`, waits for the exit; everything the server printed.
    fn end_with(mut self, signal: libc::c_int) -> Finished {
        let asked = Instant::now();
        self.process.signal(signal);
        let status = self.process.wait();
        Finished {
            status,
            stdout: self.process.stdout.text(),
            stderr: self.process.stderr.text(),
            took: asked.elapsed(),
        }
    }
}

/// A process's resident set size, from /proc; None once it is gone.
pub fn rss_kib(pid: libc::pid_t) -> Option<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// A size in kB from /proc/PID/status (`VmRSS`, `VmHWM`); None once the
/// process is gone.
fn proc_status_kib(pid: libc::pid_t, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let value = line.strip_prefix(field)?.strip_prefix(':')?;
    value.trim().trim_end_matches("kB").trim().parse().ok()
}
