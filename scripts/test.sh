#!/usr/bin/env bash
# The whole suite. Tests use their own Redis database and SQLite file so a running demo is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export DRILLHALL_TEST_REDIS_URL=${DRILLHALL_TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
export REDIS_URL=$DRILLHALL_TEST_REDIS_URL
export DRILLHALL_STATE_DIR=${DRILLHALL_STATE_DIR:-$PWD/var/test-state}
export DRILLHALL_SQLITE_PATH=${DRILLHALL_SQLITE_PATH:-$PWD/var/test.sqlite3}
# No run reaper thread inside pytest's own process (importing drillhall.asgi would start one):
# tests that need one run real servers, whose environment turns it back on (tests/e2e/stack.py).
export DRILLHALL_REAPER=false
exec .venv/bin/pytest "$@"
