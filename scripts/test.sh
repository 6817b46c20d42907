#!/usr/bin/env bash
# Run the whole test suite on SQLite, then again on PostgreSQL.
# Arguments go to pytest (e.g. -k heartbeat, -x).
#
# Each pass runs the in-process tests on two workers (pytest-xdist), then the tests
# marked `process` or `serial` one at a time: they start real servers or measure real
# seconds.
set -euo pipefail
NETMON_EXTRAS=dev source "$(dirname "$0")/bootstrap.sh"

export NETMON_ENV_FILE=""  # never read a developer's .env in tests
pg_url=${NETMON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/netmon}

suite() {
    # pytest exits 5 when a selection (-k …) leaves one of the two parts empty
    .venv/bin/pytest -n 2 -m "not process and not serial" "$@" || [ $? -eq 5 ]
    .venv/bin/pytest -m "process or serial" "$@" || [ $? -eq 5 ]
}

echo "=== Test suite on SQLite ==="
DATABASE_URL="" suite "$@"

echo "=== Test suite on PostgreSQL ($pg_url) ==="
if .venv/bin/python - "$pg_url" <<'PY'
import sys
import psycopg
url = sys.argv[1].rsplit("/", 1)[0] + "/postgres"
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.OperationalError as error:
    print(f"PostgreSQL does not answer: {error}".strip())
    sys.exit(1)
PY
then
    DATABASE_URL="$pg_url" suite "$@"
else
    echo "SKIPPED the PostgreSQL pass: no server answers at $pg_url" \
        "(set NETMON_TEST_POSTGRES_URL to use another one)."
fi
