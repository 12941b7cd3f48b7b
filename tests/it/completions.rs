//! The committed shell completions match what the binary generates, so a
//! change to the CLI cannot ship with stale completions.

use std::path::Path;

use crate::support::sockchat;

/// The command that regenerates every file in `completions/`.
const REFRESH: &str = "completions/refresh.sh";

#[test]
fn committed_completions_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in [
        ("bash", "sockchat.bash"),
        ("zsh", "_sockchat"),
        ("fish", "sockchat.fish"),
        ("elvish", "sockchat.elv"),
        ("powershell", "_sockchat.ps1"),
    ] {
        let output = sockchat(["completions", shell])
            .output()
            .expect("run sockchat completions");
        assert!(
            output.status.success(),
            "sockchat completions {shell} failed"
        );
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        if output.stdout != committed {
            stale.push(format!("completions/{file}"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale shell completions: {}\nrefresh them all from the repository root with:\n    {REFRESH}",
        stale.join(", ")
    );
}

#[test]
fn completions_to_a_closed_pipe_are_not_a_crash() {
    let mut fds = [0; 2];
    // Close-on-exec, so that no child spawned by another test meanwhile
    // keeps the reading end open.
    // SAFETY: pipe2() fills two descriptors.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2");
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    // Like `sockchat completions bash | head -0`: the reader is gone first.
    drop(read);
    let mut command = sockchat(["completions", "bash"]);
    command.stdout(write);
    let output = command.output().expect("run sockchat");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// The install commands the docs give (`docs/client.md`), run as written
/// in a new home (no directories made yet), install a file for each shell.
#[test]
fn the_documented_install_commands_work_in_a_new_home() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/client.md"))
            .expect("read docs/client.md");
    let home = tempfile::tempdir().expect("a temp dir");
    let bin = Path::new(crate::support::command::BIN)
        .parent()
        .expect("the binary's directory");
    for (shell, installed) in [
        ("bash", ".local/share/bash-completion/completions/sockchat"),
        ("zsh", ".zfunc/_sockchat"),
        ("fish", ".config/fish/completions/sockchat.fish"),
        ("elvish", ".config/elvish/rc.elv"),
    ] {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| {shell} | `")))
            .unwrap_or_else(|| panic!("no install row for {shell} in docs/client.md"));
        let command = row.split('`').nth(1).unwrap_or_default();
        let ran = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("HOME", home.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .expect("run sh");
        let said = String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "{shell}: `{command}` failed: {said}");
        let file = std::fs::read(home.path().join(installed)).unwrap_or_default();
        assert!(!file.is_empty(), "{shell}: `{command}` installed nothing");
    }
    assert!(readme.contains("`bash-completion` package"));
}
