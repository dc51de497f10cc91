#!/usr/bin/env bash
# Load test of `smtpspec serve --maildir`: IDLE connections held open after EHLO (the
# server's memory per connection is printed), then MESSAGES messages over SESSIONS
# sessions while they stay open; every acknowledged message must be in the Maildir
# exactly once and nothing else. Prints peak RSS and msgs/s.
#   scripts/load-test.sh [IDLE] [MESSAGES] [SESSIONS] [SIZE]
# Defaults are the full size: 10000 connections, 100000 messages, 200 sessions, 1000
# octets. CI runs it small. SMTPSPEC_BIN=path uses that binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SMTPSPEC_BIN:-target/release/smtpspec}
if [ -z "${SMTPSPEC_BIN:-}" ]; then cargo build --release -q -p smtpspec; fi
exec python3 scripts/load-test.py "$bin" "${1:-10000}" "${2:-100000}" "${3:-200}" "${4:-1000}"
