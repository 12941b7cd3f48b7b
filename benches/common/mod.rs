//! What the benchmarks share: the release `sockchat serve` as a child on a
//! free port, its memory from /proc, and enough file descriptors.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The real binary, `serve --host 127.0.0.1 --port 0 ARGS…`; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sockchat"))
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(args)
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sockchat serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = std::io::BufReader::new(stdout);
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).expect("read the banner");
        // The rest of the banner (a TLS room's) must find the pipe open.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let addr = first
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in banner {first:?}"));
        let pid = child.id();
        Server { child, addr, pid }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killing the benchmark's own child; an error means it already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of /proc/PID/status in KiB (0 once the process is gone).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Many clients need many descriptors: take the hard limit.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
