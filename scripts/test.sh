#!/usr/bin/env bash
# Run the whole test suite on SQLite and on PostgreSQL.
# Arguments go to pytest (e.g. -k heartbeat, -x).
#
# The in-process tests run on two workers (pytest-xdist), on SQLite then PostgreSQL; then
# the tests marked `process` or `serial`, one at a time, on SQLite then PostgreSQL: they
# start real servers or measure real seconds. Tests marked `browser` (pages in Chromium) or
# `any_database` (client programs against a live server) check what the database does not
# change, so the PostgreSQL passes leave them out; every page and API they use has
# in-process tests that run on both databases.
set -euo pipefail
NETMON_EXTRAS=dev source "$(dirname "$0")/bootstrap.sh"

export NETMON_ENV_FILE=""  # never read a developer's .env in tests
pg_url=${NETMON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/netmon}

# $1: more of the marker expression (" and not …" or ""); pytest exits 5 when a selection
# (-k …) leaves a part empty
in_process() {
    local more=$1
    shift
    .venv/bin/pytest -n 2 -m "not process and not serial$more" "$@" || [ $? -eq 5 ]
}
processes() {
    local more=$1
    shift
    .venv/bin/pytest -m "(process or serial)$more" --durations=15 "$@" || [ $? -eq 5 ]
}
on_postgres=" and not browser and not any_database"

postgres_answers() {
    .venv/bin/python - "$pg_url" <<'PY'
import sys
import psycopg
url = sys.argv[1].rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.OperationalError as error:
    print(f"PostgreSQL does not answer: {error}".strip())
    sys.exit(1)
PY
}
if postgres_answers; then
    postgres=yes
else
    postgres=""
    echo "SKIPPING the PostgreSQL passes: no server answers at $pg_url" \
        "(set NETMON_TEST_POSTGRES_URL to use another one)."
fi

# The in-process tests of both databases first, then the process tests of both: the
# process tests measure real seconds, so CI (.ci/run) builds the container image beside
# the in-process tests and makes this script wait for it (NETMON_TEST_WAIT_FOR: a lock
# file held until then) before the process tests start.
echo "=== In-process tests on SQLite ==="
DATABASE_URL="" in_process "" "$@"
if [ -n "$postgres" ]; then
    echo "=== In-process tests on PostgreSQL ($pg_url) ==="
    DATABASE_URL="$pg_url" in_process "$on_postgres" "$@"
fi
if [ -n "${NETMON_TEST_WAIT_FOR:-}" ]; then
    echo "Waiting for $NETMON_TEST_WAIT_FOR before the process tests ..."
    flock "$NETMON_TEST_WAIT_FOR" true
fi
echo "=== Process tests on SQLite ==="
DATABASE_URL="" processes "" "$@"
if [ -n "$postgres" ]; then
    echo "=== Process tests on PostgreSQL ($pg_url) ==="
    DATABASE_URL="$pg_url" processes "$on_postgres" "$@"
fi
