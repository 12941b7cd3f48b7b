#!/bin/sh
# Regenerates every committed man page from the one CLI definition
# (src/cli.rs), through the drift test itself (in tests/it/cli.rs), which
# fails when these files are stale and names this script. Run it from
# anywhere; it works in the repository root.
set -eu
cd "$(dirname "$0")/.."
SOCKCHAT_WRITE_MAN=1 cargo test --quiet --test it -- --exact cli::committed_man_pages_are_up_to_date
