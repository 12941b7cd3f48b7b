#!/bin/sh
# Regenerates every committed completion script from the one CLI definition
# (src/cli.rs). A test in tests/it/cli.rs fails when these files are stale and
# names this script. Run it from anywhere; it works in the repository root.
set -eu
cd "$(dirname "$0")/.."
for pair in bash:sockchat.bash zsh:_sockchat fish:sockchat.fish elvish:sockchat.elv powershell:_sockchat.ps1; do
    shell=${pair%%:*}
    file=completions/${pair#*:}
    # Through a temporary file, so a failed build leaves the old script intact.
    cargo run --quiet -- completions "$shell" >"$file.tmp"
    mv "$file.tmp" "$file"
done
