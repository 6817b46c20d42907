#!/usr/bin/env bash
# Checks of the container files.
#
#   scripts/check-container.sh           static checks only: hadolint on the Dockerfile and
#                                        docker-compose's validation of compose.yaml, with and
#                                        without --profile scale (no container engine needed)
#   scripts/check-container.sh --build   then builds the image with podman and runs it: waits
#                                        for healthy, registers a host, posts a heartbeat,
#                                        restarts the container and checks the data is still
#                                        there, checks the uid of every process, the image's
#                                        size and the stack's memory; then runs it again with
#                                        a read-only root filesystem on another --bind.
#
# The build needs podman and buildah (Debian: apt-get install podman buildah runc uidmap
# slirp4netns fuse-overlayfs mmdebstrap) and root. When the base image cannot be pulled
# (no registry reachable), a stand-in is made from Debian's archive with mmdebstrap: same
# name, Debian's Python 3.11 instead of python.org's. When no container engine can run
# here, --build says so and exits 0: the static checks still count.
#
# Environment: NETMON_CONTAINER_DIR (podman's storage and this script's files, default
# /tmp/netmon-container: kept between runs as a cache), NETMON_IMAGE_BUDGET_MB (netmon's
# own layers, default 120: the real python:3.11-slim-bookworm is ~125 MB more).
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
cleanup() { rm -rf "$work"; }
trap 'cleanup' EXIT
cp compose.yaml "$work/compose.yaml"
cp .env.example "$work/.env"
"${compose[@]}" -f "$work/compose.yaml" config -q
"${compose[@]}" -f "$work/compose.yaml" --profile scale config -q
echo "compose.yaml: valid, with and without --profile scale"

[ "${1:-}" = "--build" ] || exit 0

# --- the image, built and run ---------------------------------------------------------
base_image=docker.io/library/python:3.11-slim-bookworm
image=localhost/netmon:check
name=netmon-check-$$
budget_mb=${NETMON_IMAGE_BUDGET_MB:-120}
state=${NETMON_CONTAINER_DIR:-/tmp/netmon-container}
started=$SECONDS

step() { printf '[container %3d s] %s\n' $((SECONDS - started)) "$*"; }
fail() {
    echo "container check FAILED: $*" >&2
    [ -z "${current:-}" ] || podman logs --tail 40 "$current" >&2 2>/dev/null || true
    exit 1
}
skip() {
    echo "SKIPPED the container build and run: $*"
    exit 0
}

command -v podman >/dev/null || skip "podman is not installed (Debian: apt-get install podman buildah runc uidmap slirp4netns fuse-overlayfs mmdebstrap)"
[ "$(id -u)" = 0 ] || skip "podman runs as root only on these machines (this is uid $(id -u))"

# Settings these machines need (../shared/TOOLCHAIN.md), in files of our own: nothing
# system-wide changes. crun refuses the host's cgroup layout; the sandbox cannot raise
# ulimits to podman's defaults.
mkdir -p "$state/storage" "$state/run"
cat > "$state/containers.conf" <<EOF
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
cat > "$state/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "$state/run"
EOF
export CONTAINERS_CONF="$state/containers.conf" CONTAINERS_STORAGE_CONF="$state/storage.conf"
podman info >/dev/null 2>"$work/podman-info.err" \
    || skip "podman cannot run here: $(tail -1 "$work/podman-info.err")"

cleanup() {
    podman rm --force --time 5 "$name" "$name-ro" >/dev/null 2>&1 || true
    rm -rf "$work"
}

# The base image: pulled when a registry answers, else made from Debian's archive.
if podman image exists "$base_image"; then
    step "base image $base_image: present ($(podman image inspect --format '{{index .Labels "netmon.stand-in"}}' "$base_image" | sed 's/^true$/stand-in made with mmdebstrap/; s/^$/pulled/'))"
elif timeout 60 podman pull --quiet "$base_image" >/dev/null 2>&1; then
    step "base image $base_image: pulled"
else
    command -v mmdebstrap >/dev/null || fail "$base_image cannot be pulled and mmdebstrap is missing"
    step "base image $base_image cannot be pulled: making a stand-in with mmdebstrap (Debian's Python 3.11)"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    mmdebstrap --quiet --variant=minbase \
        --include=ca-certificates,netbase,tzdata,passwd,python3,python3-venv \
        --customize-hook='for name in python python3 python3.11; do ln -sf /usr/bin/python3 "$1/usr/local/bin/$name"; done' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$work/rootfs.tar" - < "$sources"
    podman import --quiet --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        --change 'LABEL netmon.stand-in=true' "$work/rootfs.tar" "$base_image" >/dev/null
    rm "$work/rootfs.tar"
    step "base image made"
fi

# pip inside the build verifies PyPI's certificate against the host's CA bundle, mounted
# for the build only: nothing of it lands in a layer.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
printf '[global]\ncert = %s\n' "$ca_bundle" > "$work/pip.conf"
# --format docker: the default OCI format drops HEALTHCHECK.
podman build --quiet --format docker --tag "$image" \
    --volume "$ca_bundle:$ca_bundle:ro" --volume "$work/pip.conf:/etc/pip.conf:ro" \
    . >/dev/null || fail "the image did not build"
step "image built"

size=$(podman image inspect --format '{{.Size}}' "$image")
base_size=$(podman image inspect --format '{{.Size}}' "$base_image")
own_mb=$(((size - base_size) / 1000000))
step "image size: $((size / 1000000)) MB, of which netmon's own layers $own_mb MB (budget $budget_mb MB) over the base's $((base_size / 1000000)) MB"
[ "$own_mb" -le "$budget_mb" ] || fail "netmon's layers are $own_mb MB, over the budget of $budget_mb MB"
if podman run --rm --entrypoint python "$image" -c "import pip" 2>/dev/null; then
    fail "pip is importable in the runtime image's virtualenv"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url=http://127.0.0.1:$port
data=$work/data
mkdir -m 0700 "$data" && chown 1000:1000 "$data"

wait_healthy() {  # podman without systemd does not run HEALTHCHECKs by itself
    local container=$1 deadline=$((SECONDS + 120))
    until podman healthcheck run "$container" >/dev/null 2>&1; do
        [ "$(podman inspect --format '{{.State.Running}}' "$container")" = true ] \
            || fail "$container stopped before it was healthy"
        [ $SECONDS -lt $deadline ] || fail "$container not healthy after 120 s"
        sleep 1
    done
}

http() {  # METHOD PATH [curl arguments]: the body on stdout, fails on a status ≥ 400
    local method=$1 path=$2
    shift 2
    curl -fsS --max-time 10 -X "$method" "$@" "$base_url$path"
}

current=$name
podman run --detach --name "$name" --publish "127.0.0.1:$port:8080" \
    --volume "$data:/app/data" "$image" > /dev/null 2> >(grep -v "systemd connection" >&2)
t0=$SECONDS
wait_healthy "$name"
step "running and healthy after $((SECONDS - t0)) s"

token=$(podman exec "$name" python manage.py add_host --name "Container check" \
    --host-id check01 --frequency 300 --schedule always | sed -n 's/^Token: //p')
[ -n "$token" ] || fail "add_host printed no token"
http POST /api/v1/heartbeat/check01 -H "Authorization: Bearer $token" --data 'first' >/dev/null \
    || fail "the heartbeat was not accepted"
key=$(podman exec "$name" python manage.py create_api_key --name check --access read \
    | sed -n 's/^Use it as: Authorization: Bearer //p')
[ -n "$key" ] || fail "create_api_key printed no key"
history() { http GET /api/v1/heartbeat/check01/history -H "Authorization: Bearer $key"; }
history | grep -q '"first"' || fail "the heartbeat is not in the host's history: $(history)"
step "host registered, heartbeat recorded"

# Every process of the container, seen from the host: its uids and its memory.
uids=""
pss_kib=0
processes=0
for pid in $(podman top "$name" hpid | tail -n +2); do
    uids+=" $(awk '/^Uid:/ {print $2 "/" $3}' "/proc/$pid/status")"  # real/effective
    kib=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
    pss_kib=$((pss_kib + ${kib:-0}))
    processes=$((processes + 1))
done
[ "$processes" -gt 0 ] || fail "podman top lists no processes"
others=$(echo "$uids" | tr ' ' '\n' | grep -v -e '^$' -e '^1000/1000$' || true)
[ -z "$others" ] || fail "processes run as uid(s) $others, not only 1000"
step "all $processes processes run as uid 1000; memory: PSS $((pss_kib / 1024)) MiB summed"
files=$(podman exec "$name" sh -c 'stat -c "%a %n" /app/data /app/data/db.sqlite /app/data/secret_key')
[ "$(echo "$files" | cut -d' ' -f1 | tr '\n' ' ')" = "700 600 600 " ] \
    || fail "the data directory and its files are not private: $(echo "$files" | tr '\n' ' ')"
step "data directory 700, database and secret key 600"

t0=$SECONDS
podman stop --time 40 "$name" >/dev/null
status=$(podman inspect --format '{{.State.ExitCode}}' "$name")
[ "$status" = 0 ] || fail "the container exited with status $status on SIGTERM"
step "stopped by SIGTERM in $((SECONDS - t0)) s, exit status 0"
podman start "$name" >/dev/null
wait_healthy "$name"
http POST /api/v1/heartbeat/check01 -H "Authorization: Bearer $token" --data 'second' >/dev/null \
    || fail "the token no longer works after the restart"
history | grep -q '"first"' || fail "the first heartbeat is gone after the restart"
history | grep -q '"second"' || fail "the heartbeat after the restart is missing"
step "restarted: data kept, token and key still work"
podman stop --time 40 "$name" >/dev/null

# Another address and a read-only root filesystem: the health check follows --bind, and
# nothing but /tmp and the data volume is written (gunicorn's control socket is off).
current=$name-ro
podman run --detach --name "$name-ro" --read-only --tmpfs /tmp \
    --publish "127.0.0.1:$port:9000" --volume "$data:/app/data" "$image" \
    --bind 0.0.0.0:9000 > /dev/null 2> >(grep -v "systemd connection" >&2)
t0=$SECONDS
wait_healthy "$name-ro"
history | grep -q '"second"' || fail "the data is not there in the read-only container"
if podman logs "$name-ro" 2>&1 | grep -E ' (ERROR|CRITICAL) '; then
    fail "errors logged on a read-only root filesystem"
fi
step "read-only root filesystem, --bind 0.0.0.0:9000: healthy after $((SECONDS - t0)) s, no errors logged"
podman rm --force --time 5 "$name" "$name-ro" >/dev/null 2>&1 || true
step "the image passed; now the documented compose commands (scripts/check-compose.sh)"
scripts/check-compose.sh
echo "container check passed in $((SECONDS - started)) s"
