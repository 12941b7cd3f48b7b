//! The terminal under the editor: whether the editor can drive it, its
//! width, and the thread that reads it. Its modes (raw, bracketed paste)
//! are [`crate::client::terminal`]'s.

use std::sync::mpsc as std_mpsc;

use super::Event;

/// Whether the editor can drive this terminal: it speaks the usual
/// escape sequences (not `TERM=dumb`, as in Emacs' `M-x shell`, or unset).
pub fn can_drive(term: Option<&str>) -> bool {
    !matches!(term, None | Some("" | "dumb"))
}

/// Variables set by terminals that reflow lines on resize (with TERM and
/// TERM_PROGRAM, all that [`reflows`] reads).
pub const REFLOW_VARS: &[&str] = &[
    "TMUX",
    "VTE_VERSION",
    "KITTY_WINDOW_ID",
    "WEZTERM_PANE",
    "ALACRITTY_WINDOW_ID",
    "KONSOLE_VERSION",
    "WT_SESSION",
];

/// Whether the terminal reflows wrapped lines when resized, told by the
/// variables these terminals set (`var` reads one). tmux, VTE (GNOME
/// Terminal…), kitty, WezTerm, Alacritty, Konsole, foot, iTerm2, Windows
/// Terminal and VS Code do; xterm does not.
pub fn reflows(var: impl Fn(&str) -> Option<String>) -> bool {
    let program = var("TERM_PROGRAM").unwrap_or_default();
    let term = var("TERM").unwrap_or_default();
    REFLOW_VARS
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.is_empty()))
        || ["iTerm.app", "WezTerm", "vscode", "Apple_Terminal", "tmux"].contains(&program.as_str())
        || term.starts_with("foot")
        || term.starts_with("tmux")
}

/// The terminal's width in columns (80 if it does not say).
pub fn width() -> usize {
    // SAFETY: winsize is plain data; the ioctl fills it or fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer given.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    match size.ws_col {
        0 => 80,
        _ if !ok => 80,
        cols => usize::from(cols),
    }
}

/// Reads the terminal and hands each read to the editor, waiting for its
/// ack before reading on (so a flood of input waits in the terminal, not
/// in memory).
pub fn read_loop(events: std_mpsc::SyncSender<Event>, acked: std_mpsc::Receiver<()>) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a buffer of the length given.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        let event = match n {
            1.. => Event::Input(buf[..n.unsigned_abs()].to_vec()),
            0 => Event::InputEnd,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
                continue
            }
            _ => Event::InputEnd,
        };
        let end = matches!(event, Event::InputEnd);
        if events.send(event).is_err() || end || acked.recv().is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumb_or_unknown_terminals_get_plain_lines() {
        assert!(!can_drive(Some("dumb")));
        assert!(!can_drive(Some("")));
        assert!(!can_drive(None));
        assert!(can_drive(Some("xterm-256color")));
        assert!(can_drive(Some("tmux-256color")));
    }

    #[test]
    fn reflowing_terminals_are_told_by_their_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(reflows(env(&[("TMUX", "/tmp/tmux-0/default,1,0")])));
        assert!(reflows(env(&[("VTE_VERSION", "7600")])));
        assert!(reflows(env(&[("TERM", "foot")])));
        assert!(!reflows(env(&[("TERM", "xterm-256color")])));
        assert!(!reflows(env(&[("TMUX", "")])));
    }
}
