# Sourced by start.sh, setup.sh and test.sh: makes .venv and installs into it the versions
# pinned in requirements/ (scripts/lock.sh), again whenever pyproject.toml or the lock changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "netmon needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtual environment in .venv ..."
    "$python" -m venv .venv
fi
extras=${NETMON_EXTRAS:-}
# The pinned versions (scripts/lock.sh makes them from pyproject.toml): the same for a
# newcomer, CI and the image. NETMON_EXTRAS=dev adds the test and lint tools.
lock=requirements/${extras:-runtime}.txt
if [ ! -f "$lock" ]; then
    echo "No lock file $lock for NETMON_EXTRAS=$extras (runtime.txt and dev.txt exist)" >&2
    exit 1
fi
stamp=".venv/.installed${extras:+-$extras}"
wanted=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)

pip_quietly() {
    # This machine's pip configuration may name local indexes that do not exist: drop
    # pip's warnings about them, keep everything else and pip's exit status.
    local status=0
    .venv/bin/pip --quiet --disable-pip-version-check "$@" > .venv/pip.log 2>&1 || status=$?
    grep -v "is ignored" .venv/pip.log || true
    return $status
}

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing netmon and the versions pinned in $lock into .venv ..."
    pip_quietly install --upgrade pip
    pip_quietly install --require-hashes --requirement "$lock"
    pip_quietly install --no-deps --editable .
    .venv/bin/python -c "import django, rest_framework, django_q" # fail loudly if the install did
    echo "$wanted" > "$stamp"
fi
