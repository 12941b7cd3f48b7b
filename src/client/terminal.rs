//! Putting the terminal back. The line editor switches the terminal to raw
//! mode while it waits for a key; if the session ends while it waits (the
//! server left), the process exits with the editor still blocked, so its
//! own clean-up never runs. This guard saves the terminal's settings before
//! the editor starts and restores them on every way out: normal return,
//! early error, and panic.

use std::os::fd::RawFd;
use std::sync::Mutex;

/// Settings saved at start, restored by [`restore`].
static SAVED: Mutex<Option<(RawFd, libc::termios)>> = Mutex::new(None);

/// Restores the terminal when dropped.
pub struct RestoreGuard(());

impl RestoreGuard {
    /// Saves the settings of the terminal on stdin.
    pub fn save() -> RestoreGuard {
        let fd = libc::STDIN_FILENO;
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is stdin, valid for the life of the process.
        if unsafe { libc::tcgetattr(fd, &mut termios) } == 0 {
            if let Ok(mut saved) = SAVED.lock() {
                *saved = Some((fd, termios));
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

/// Puts back the settings saved by [`RestoreGuard::save`], if any.
pub fn restore() {
    let Ok(saved) = SAVED.lock() else { return };
    if let Some((fd, termios)) = saved.as_ref() {
        // SAFETY: restoring settings read from the same descriptor.
        unsafe { libc::tcsetattr(*fd, libc::TCSANOW, termios) };
    }
}
