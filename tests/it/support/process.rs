//! A child process with piped stdin, stdout and stderr: its output is
//! read as it comes (see [`Output`]), it is killed if a test fails first,
//! and waiting for its exit has a deadline.

use std::io::Write;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Output, WAIT};

/// A running child; killed when dropped.
pub struct Running {
    child: Child,
    /// Open until `close_stdin`, so the child reads no EOF before then.
    stdin: Option<ChildStdin>,
    pub stdout: Output,
    pub stderr: Output,
    /// A stderr pipe kept open but never read (see `spawn_holding_stderr`).
    held_stderr: Option<ChildStderr>,
}

impl Running {
    /// Starts `command` with all three streams piped; `label` names it in
    /// failure messages.
    pub fn spawn(label: &str, command: Command) -> Running {
        let mut running = Running::start(label, command);
        let stderr = running.held_stderr.take().expect("stderr is piped");
        running.stderr = Output::read(format!("{label}'s stderr"), stderr);
        running
    }

    /// Like `spawn`, but nobody reads stderr: once the pipe is full, the
    /// child's writes to it block, as with a log nobody reads. `stderr`
    /// shows nothing.
    pub fn spawn_holding_stderr(label: &str, command: Command) -> Running {
        Running::start(label, command)
    }

    fn start(label: &str, mut command: Command) -> Running {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        Running {
            stdin: child.stdin.take(),
            stdout: Output::read(format!("{label}'s stdout"), stdout),
            stderr: Output::read(format!("{label}'s stderr (unread)"), std::io::empty()),
            held_stderr: child.stderr.take(),
            child,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t")
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) only sends a signal; the pid is our child, not
        // yet reaped (that happens in `wait` or on drop, both later).
        let sent = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(sent, 0, "cannot signal the child");
    }

    /// Limits the size of files the child may write (RLIMIT_FSIZE, as
    /// `prlimit --fsize` does), or lifts the limit with None: a write past
    /// it fails (and raises SIGXFSZ in the child) as on a full quota.
    pub fn limit_file_size(&self, bytes: Option<u64>) {
        let soft = bytes.map_or(libc::RLIM_INFINITY, |b| b as libc::rlim_t);
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: prlimit reads one rlimit from a live local and writes
        // nothing (the old limit is not asked for); the pid is our child.
        let set =
            unsafe { libc::prlimit(self.pid(), libc::RLIMIT_FSIZE, &limit, std::ptr::null_mut()) };
        assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
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

    /// Waits for the child to exit and its output to end; its status.
    /// Panics after [`WAIT`].
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        self.stdout.expect_end_by(deadline);
        self.stderr.expect_end_by(deadline);
        match self.exit_by(deadline) {
            Some(status) => status,
            None => panic!("the process did not exit within {WAIT:?}"),
        }
    }

    /// The exit status if the child exits within `limit`. Blocking: fine
    /// in an async test too, since a child needs nothing from the test's
    /// tasks to exit.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.exit_by(Instant::now() + limit)
    }

    fn exit_by(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Polling waitpid: std has no wait with a timeout.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // After `wait` the child is gone and both calls fail; that is fine.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished run of a child.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// From start to exit.
    pub took: Duration,
}

impl Finished {
    /// The exit code; None if a signal ended it.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `command` with `input` on its stdin (then closed) to its end;
/// panics if it takes longer than [`WAIT`].
pub fn finish_blocking(command: Command, input: &str) -> Finished {
    let started = Instant::now();
    let label = command.get_program().to_string_lossy().into_owned();
    let mut running = Running::spawn(&label, command);
    if let Some(stdin) = running.stdin.as_mut() {
        // A child that exits without reading its input closes the pipe:
        // that write error is expected (the input is far below a pipe's
        // buffer, so the write never blocks).
        let _ = stdin.write_all(input.as_bytes());
    }
    running.close_stdin();
    let status = running.wait();
    Finished {
        status,
        stdout: running.stdout.text(),
        stderr: running.stderr.text(),
        took: started.elapsed(),
    }
}

/// [`finish_blocking`] off the async executor's threads.
pub async fn finish(command: Command, input: &str) -> Finished {
    let input = input.to_string();
    async_std::task::spawn_blocking(move || finish_blocking(command, &input)).await
}
