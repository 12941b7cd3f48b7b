//! The terminal's settings, owned here alone. Whoever needs the terminal
//! in another mode asks for a [`Mode`]: the line editor raw mode with
//! bracketed paste, a dumb terminal its keys one by one, the password
//! prompt no echo. Every way back goes to the settings the terminal had
//! when `join` found it (read once, before anything changed them), so no
//! part has to remember what it found: [`put_back`] after a Ctrl-Z, at
//! the end of the session, in the panic hook ([`restore_on_panic`]) and in
//! the Ctrl-C handler of the prompts ([`PromptGuard`]); a
//! [`RestoreGuard`] does it when dropped, whatever the way out.
//!
//! The one mode change made elsewhere is dialoguer's, while it asks for
//! the name: it switches to raw mode a key at a time itself, and
//! [`abandon_prompt`] takes the terminal back from it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Duration;

/// Asks the terminal to mark pasted text with `ESC[200~`…`ESC[201~`.
const PASTE_ON: &[u8] = b"\x1b[?2004h";
/// And to stop again: a shell or `cat` after us would see the marks.
const PASTE_OFF: &[u8] = b"\x1b[?2004l";

/// The settings of the terminal on stdin as first read (None: stdin is
/// not a terminal). A `OnceLock`, so that a signal handler may read it.
static FOUND: OnceLock<Option<libc::termios>> = OnceLock::new();

/// Whether bracketed paste is on, so that it is turned off once.
static PASTE: AtomicBool = AtomicBool::new(false);

/// A way of using the terminal other than the one it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The line editor: no echo, no line discipline, no signal keys, and
    /// bracketed paste on.
    Raw,
    /// A terminal without escape codes: keys one by one, not echoed by
    /// the terminal; Ctrl-C is still a signal.
    Keys,
    /// The password: lines read whole, not echoed.
    Quiet,
}

impl Mode {
    /// `found` changed for this mode.
    fn applied(self, found: &libc::termios) -> libc::termios {
        let mut to = *found;
        match self {
            Mode::Raw => {
                to.c_iflag &= !(libc::IGNBRK
                    | libc::BRKINT
                    | libc::PARMRK
                    | libc::ISTRIP
                    | libc::INLCR
                    | libc::IGNCR
                    | libc::ICRNL
                    | libc::IXON);
                to.c_lflag &=
                    !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
                to.c_cflag |= libc::CS8;
            }
            Mode::Keys => to.c_lflag &= !(libc::ICANON | libc::ECHO),
            Mode::Quiet => to.c_lflag &= !(libc::ECHO | libc::ECHONL),
        }
        if self != Mode::Quiet {
            to.c_cc[libc::VMIN] = 1;
            to.c_cc[libc::VTIME] = 0;
        }
        to
    }
}

/// The terminal's own settings, read the first time they are asked for.
fn found() -> Option<&'static libc::termios> {
    FOUND
        .get_or_init(|| {
            // SAFETY: termios is plain data; tcgetattr fills it or fails.
            let mut termios: libc::termios = unsafe { std::mem::zeroed() };
            // SAFETY: stdin is open for the life of the process.
            let read = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut termios) };
            (read == 0).then_some(termios)
        })
        .as_ref()
}

/// Puts the terminal in `mode` until the guard is dropped (or
/// [`put_back`] is called). Bytes typed before stay to be read: TCSANOW
/// throws nothing away. Fails when stdin is not a terminal.
pub fn enter(mode: Mode) -> io::Result<RestoreGuard> {
    let Some(found) = found() else {
        return Err(io::Error::other("stdin is not a terminal"));
    };
    set(libc::STDIN_FILENO, &mode.applied(found))?;
    if mode == Mode::Raw {
        // Again after a stop too: the shell may have turned it off.
        PASTE.store(true, Ordering::SeqCst);
        write_out(PASTE_ON);
    }
    Ok(RestoreGuard::save())
}

/// `mode` again, after [`put_back`] (the process was stopped and goes on).
pub fn resume(mode: Mode) {
    // Failing (the terminal is gone), keys read still work as they come.
    let _ = enter(mode).map(std::mem::forget);
}

/// Whether the terminal echoed typed keys itself when found (Emacs' shell
/// does not: it shows what is typed and sends whole lines).
pub fn echoed() -> bool {
    found().is_some_and(|found| found.c_lflag & libc::ECHO != 0)
}

/// Puts the terminal back as it was found, bracketed paste off. Safe to
/// call more than once, and from a signal handler or a panic hook: it
/// takes no lock and writes straight to the descriptors (the stdout lock
/// may be held).
pub fn put_back() {
    if PASTE.swap(false, Ordering::SeqCst) {
        write_out(PASTE_OFF);
    }
    if let Some(Some(found)) = FOUND.get() {
        // Nothing better to do if it fails: the terminal is gone.
        let _ = set(libc::STDIN_FILENO, found);
    }
}

fn set(fd: libc::c_int, termios: &libc::termios) -> io::Result<()> {
    // SAFETY: settings read from the terminal on stdin (or a duplicate of
    // its descriptor), which stays open.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, termios) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn write_out(bytes: &[u8]) {
    // SAFETY: writing a static buffer to stdout, open for the whole run.
    // A failed write leaves bracketed paste as it was; nothing better to do.
    let _ = unsafe { libc::write(libc::STDOUT_FILENO, bytes.as_ptr().cast(), bytes.len()) };
}

/// Makes a panic put the terminal back before anything else its hook does
/// (once, however often it is called). The release build aborts rather
/// than unwind, so no guard's `Drop` runs there: this is what restores it.
pub fn restore_on_panic() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let _ = found();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            put_back();
            previous(info);
        }));
    });
}

/// Puts the terminal back when dropped, and on a panic meanwhile.
#[must_use = "the terminal is put back when the guard is dropped"]
pub struct RestoreGuard(());

impl RestoreGuard {
    /// Notes the terminal's settings (if not yet) and guards them.
    pub fn save() -> RestoreGuard {
        restore_on_panic();
        RestoreGuard(())
    }
}

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        put_back();
    }
}

/// While a prompt reads the terminal (the username, the hidden password),
/// Ctrl-C puts the terminal back, since the password prompt turned echo
/// off and the name prompt may be in raw mode (it reads Ctrl-C as a key
/// and raises SIGINT itself), and exits with 130, as programs stopped by
/// Ctrl-C do. Dropped once the prompts are done: the chat session handles
/// Ctrl-C its own way.
pub struct PromptGuard(Option<signal_hook::SigId>);

impl PromptGuard {
    pub fn install() -> PromptGuard {
        // Read now: the handler may only read what is already there.
        let _ = found();
        // SAFETY: the handler makes only async-signal-safe calls
        // (tcsetattr and write in `put_back`, write, _exit).
        let id = unsafe {
            signal_hook::low_level::register(libc::SIGINT, || {
                put_back();
                libc::write(libc::STDERR_FILENO, b"\n".as_ptr().cast(), 1);
                libc::_exit(130);
            })
        };
        PromptGuard(id.ok())
    }
}

impl Drop for PromptGuard {
    fn drop(&mut self) {
        if let Some(id) = self.0.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// How long after the first restore the terminal is restored again.
const SECOND_RESTORE: Duration = Duration::from_millis(10);

/// Takes the terminal back from a prompt being given up (the process is
/// about to exit) while the prompt's thread may still be switching it to
/// raw mode for its next key (it cannot be cancelled); what was half typed
/// is thrown away (the shell must not get it, least of all half a
/// password). Measured: a plain restore left the terminal raw in 1–2 of
/// 100 abandons made while typing. dialoguer's terminal layer reads a key
/// from stdin when stdin is a terminal and otherwise opens `/dev/tty`,
/// switching whichever it found to raw mode for that key. So first the
/// process lets go of its controlling terminal (`/dev/tty` then opens
/// nothing), then stdin is pointed at `/dev/null` (the thread's next
/// switch finds no terminal anywhere), and only then are the settings
/// restored, through a duplicate of the terminal's descriptor, and once
/// more a moment later. With only the second restore, a thread held up
/// longer than that moment (a loaded machine) still won about once in 300
/// abandons.
pub fn abandon_prompt() {
    let Some(found) = found() else { return };
    // SAFETY: plain descriptor calls on stdin and on descriptors opened
    // here and closed before returning.
    unsafe {
        let tty = libc::dup(libc::STDIN_FILENO);
        if tty < 0 {
            return;
        }
        // Letting go of the controlling terminal hangs up our process
        // group if this process leads its session (started without a
        // shell); it is exiting anyway, and must not die of it first.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        // Fails harmlessly where the terminal is not our controlling one.
        libc::ioctl(tty, libc::TIOCNOTTY);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, libc::STDIN_FILENO);
            libc::close(null);
        }
        // What was half typed is not for the shell, least of all a password.
        libc::tcflush(tty, libc::TCIFLUSH);
        let _ = set(tty, found);
        std::thread::sleep(SECOND_RESTORE);
        let _ = set(tty, found);
        libc::close(tty);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cooked() -> libc::termios {
        // SAFETY: termios is plain data.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        termios.c_lflag = libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN;
        termios.c_iflag = libc::ICRNL | libc::IXON;
        termios
    }

    #[test]
    fn raw_mode_takes_the_line_discipline_and_the_signal_keys() {
        let raw = Mode::Raw.applied(&cooked());
        assert_eq!(raw.c_lflag & (libc::ECHO | libc::ICANON | libc::ISIG), 0);
        assert_eq!(raw.c_iflag & (libc::ICRNL | libc::IXON), 0);
        assert_eq!((raw.c_cc[libc::VMIN], raw.c_cc[libc::VTIME]), (1, 0));
    }

    #[test]
    fn keys_mode_leaves_ctrl_c_a_signal() {
        let keys = Mode::Keys.applied(&cooked());
        assert_eq!(keys.c_lflag & (libc::ECHO | libc::ICANON), 0);
        assert_ne!(keys.c_lflag & libc::ISIG, 0);
        assert_eq!(keys.c_iflag, cooked().c_iflag);
    }

    #[test]
    fn quiet_mode_only_stops_the_echo() {
        let quiet = Mode::Quiet.applied(&cooked());
        assert_eq!(quiet.c_lflag & (libc::ECHO | libc::ECHONL), 0);
        assert_ne!(quiet.c_lflag & libc::ICANON, 0);
        assert_eq!(quiet.c_cc, cooked().c_cc);
    }
}
