//! The committed shell completions match what the binary generates, so a
//! change to the CLI cannot ship with stale completions.

use std::path::Path;

use crate::binary::sockchat;

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
