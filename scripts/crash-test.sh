#!/usr/bin/env bash
# Kill `smtpspec serve --maildir` with SIGKILL at random moments while clients deliver,
# restart it each time, and check that every acknowledged message is in new/ intact,
# nothing in new/ is partial, and tmp/ is cleaned (and counted) at start.
#   scripts/crash-test.sh [KILLS] [SESSIONS] [SEED]      # defaults: 5 kills, 8 sessions
# SMTPSPEC_BIN=path uses that binary instead of building the release one;
# CRASH_TEST_SYNC=file-system tests `serve --maildir-sync file-system`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SMTPSPEC_BIN:-target/release/smtpspec}
if [ -z "${SMTPSPEC_BIN:-}" ]; then cargo build --release -q -p smtpspec; fi
exec python3 scripts/crash-test.py "$bin" "${1:-5}" "${2:-8}" "${3:-$RANDOM}"
