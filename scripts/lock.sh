#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml with uv (https://docs.astral.sh/uv/):
#   requirements/runtime.txt  netmon's dependencies: the image, start.sh, setup.sh
#   requirements/dev.txt      the same versions plus the test and lint tools: test.sh, CI
# Every package is pinned to one version with its hashes (pip --require-hashes), for
# Python 3.11 on any platform (--universal). Run it after changing the dependencies in
# pyproject.toml, or with --upgrade to move every pin to the newest release allowed;
# commit the two files with the change. test.sh fails while they disagree with
# pyproject.toml (tests/test_lock_files.py).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/uv ]; then uv=.venv/bin/uv; else uv=uv; fi
if ! command -v "$uv" >/dev/null; then
    echo "uv is needed: .venv/bin/pip install uv (it is in the dev extras)" >&2
    exit 1
fi
common=(--universal --python-version 3.11 --generate-hashes --quiet "$@")
"$uv" pip compile pyproject.toml "${common[@]}" -o requirements/runtime.txt
# The runtime pins as constraints: the dev file only adds to them, never moves one.
"$uv" pip compile pyproject.toml --extra dev -c requirements/runtime.txt "${common[@]}" \
    -o requirements/dev.txt
echo "requirements/runtime.txt and requirements/dev.txt are up to date with pyproject.toml"
