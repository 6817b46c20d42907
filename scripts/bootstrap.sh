# Sourced by start.sh and test.sh: makes .venv and installs netmon into it when
# pyproject.toml changed since the last install.
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
stamp=".venv/.installed${extras:+-$extras}"
wanted=$(sha256sum < pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing netmon${extras:+ with [$extras]} into .venv ..."
    .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "is ignored" || true
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 \
        | grep -v "is ignored" || true
    .venv/bin/python -c "import django, rest_framework, django_q" # fail loudly if the install did
    echo "$wanted" > "$stamp"
fi
