//! Putting the terminal back. The line editor keeps the terminal in raw
//! mode, with bracketed paste on, for the whole session, and puts it back
//! itself when the session finishes (and around Ctrl-Z). This guard is the
//! safety net: it saves the terminal's settings before the editor starts
//! and restores them on every way out, early errors and panics included.

use std::os::fd::RawFd;
use std::sync::{Mutex, OnceLock};

/// Settings saved at start, restored by [`restore`], and whether the
/// terminal takes escape codes (bracketed paste is turned off again).
static SAVED: Mutex<Option<(RawFd, libc::termios, bool)>> = Mutex::new(None);

/// Restores the terminal when dropped.
pub struct RestoreGuard(());

impl RestoreGuard {
    /// Saves the settings of the terminal on stdin; `escapes`: it takes
    /// escape codes (not `TERM=dumb`), and may have bracketed paste on.
    pub fn save(escapes: bool) -> RestoreGuard {
        let fd = libc::STDIN_FILENO;
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is stdin, valid for the life of the process.
        if unsafe { libc::tcgetattr(fd, &mut termios) } == 0 {
            if let Ok(mut saved) = SAVED.lock() {
                *saved = Some((fd, termios, escapes));
            }
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        RestoreGuard(())
    }
}

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Tells the terminal to stop wrapping pasted text in `ESC[200~`…`ESC[201~`
/// (the editor turned it on; a shell or `cat` after us would see the marks).
const BRACKETED_PASTE_OFF: &[u8] = b"\x1b[?2004l";

/// Puts back the settings saved by [`RestoreGuard::save`], if any.
/// Safe to call more than once.
pub fn restore() {
    let Ok(saved) = SAVED.lock() else { return };
    if let Some((fd, termios, escapes)) = saved.as_ref() {
        // SAFETY: restoring settings read from the same descriptor.
        unsafe { libc::tcsetattr(*fd, libc::TCSANOW, termios) };
        if !escapes {
            return;
        }
        // Straight to the descriptor, not through `stdout()`: this also runs
        // in the panic hook, where the stdout lock may be held. A failed
        // write leaves only bracketed paste on; nothing better can be done.
        // SAFETY: writing a static buffer to stdout, open for the whole run.
        let _ = unsafe {
            libc::write(
                libc::STDOUT_FILENO,
                BRACKETED_PASTE_OFF.as_ptr().cast(),
                BRACKETED_PASTE_OFF.len(),
            )
        };
    }
}

/// The terminal's settings before the first prompt, for the Ctrl-C handler
/// (a signal handler may read a `OnceLock` but not take a lock).
static BEFORE_PROMPT: OnceLock<libc::termios> = OnceLock::new();

/// While a prompt reads the terminal (the username, the hidden password),
/// Ctrl-C puts the terminal back, since the password prompt turned echo
/// off and the name prompt may be in raw mode (it reads Ctrl-C as a key
/// and raises SIGINT itself), and exits with 130, as programs stopped by
/// Ctrl-C do. Dropped once
/// the prompts are done: the chat session handles Ctrl-C its own way.
pub struct PromptGuard(Option<signal_hook::SigId>);

impl PromptGuard {
    pub fn install() -> PromptGuard {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: stdin is open for the life of the process.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut termios) } == 0 {
            let _ = BEFORE_PROMPT.set(termios);
        }
        // SAFETY: the handler makes only async-signal-safe calls
        // (tcsetattr, write, _exit) and reads an initialized OnceLock.
        let id = unsafe {
            signal_hook::low_level::register(libc::SIGINT, || {
                if let Some(termios) = BEFORE_PROMPT.get() {
                    libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, termios);
                }
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
