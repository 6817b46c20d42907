#!/bin/sh
# client-heartbeat.sh - send one heartbeat to a netmon server.
#
# Usage: client-heartbeat.sh [-v] HOST_ID TOKEN SERVER_URL [MESSAGE]
#        client-heartbeat.sh [-v|-q] run HOST_ID TOKEN SERVER_URL -- COMMAND [ARG...]
#
#   HOST_ID     the host's id in netmon, e.g. web01
#   TOKEN       the host's token, or "-" to read it from the environment:
#                 NETMON_TOKEN       the token itself, or else
#                 NETMON_TOKEN_FILE  a file whose first line is the token
#               A token given on the command line is visible to every local
#               user in the process list while the script runs; "-" avoids it.
#   SERVER_URL  e.g. https://netmon.example.org (a trailing slash is fine)
#   MESSAGE     optional text sent with the heartbeat (text/plain, at most
#               NETMON_MAX_BODY bytes are sent); "-" reads it from stdin:
#                 df -h | client-heartbeat.sh web01 - https://netmon.example.org -
#
# Wrapper mode (run): sends a start signal, runs COMMAND (its output is shown as
# usual), then sends its exit status with the end of its output (at most
# NETMON_MAX_BODY bytes) and exits with COMMAND's status. netmon records how long
# the run took, alerts at once when the status is not 0, and alerts "started but
# never finished" when no end arrives within the host's grace time. One line on
# stderr confirms what was reported, unless -q. SERVER_URL may also be a ping URL
# (https://netmon.example.org/ping/PING_TOKEN, or a healthchecks-style URL): then
# give "-" for HOST_ID and TOKEN. NETMON_RUN_ID sets the run id (?rid=) that pairs
# the start with its end when runs of one host overlap (default: one is made up).
#   0 3 * * * NETMON_TOKEN_FILE=/etc/netmon/token client-heartbeat.sh run backup - https://netmon.example.org -- /usr/local/bin/backup.sh
#
# Options: -v/--verbose  report attempts on stderr and print the server's
#                        answer on stdout (default: quiet unless it fails)
#          -q/--quiet    run mode: no confirmation line on success
#          -h/--help     show this help
#
# Environment:
#   NETMON_TIMEOUT   seconds to connect and to complete one attempt (default 10)
#   NETMON_RETRIES   attempts in all (default 3); waits 1 s, 2 s, 4 s... between
#                    attempts. Only connection errors, timeouts, HTTP 429 and 5xx
#                    are retried, never a rejection (401, 413, other 4xx).
#   NETMON_MAX_BODY  bytes of MESSAGE sent at most (default 10240, 0 = no limit)
#   NETMON_VERBOSE=1 same as -v
#
# Uses curl if installed, else wget (GNU or busybox). curl and GNU wget get the
# token from stdin or a private temporary file, never on their command line;
# busybox wget can only take it as an argument.
#
# Exit status: 0 heartbeat recorded (HTTP 200); 1 server unreachable or failing
# after all attempts; 2 usage or configuration error; 3 rejected by the server.
# On failure one line on stderr says why. Nothing is interactive: fit for cron
# and systemd timers, e.g. crontab:
#   */5 * * * * NETMON_TOKEN_FILE=/etc/netmon/token /usr/local/bin/client-heartbeat.sh web01 - https://netmon.example.org

set -u

PROG="client-heartbeat.sh"
USER_AGENT_BASE="netmon-client-heartbeat/1.0"

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" 2>/dev/null ||
        echo "Usage: $PROG [-v] HOST_ID TOKEN SERVER_URL [MESSAGE]"
}

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { # die STATUS MESSAGE
    status=$1
    shift
    say "$*"
    exit "$status"
}
verbose() { [ "$VERBOSE" = 1 ] && say "$*"; return 0; }

is_count() { # a whole number >= 1
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    [ "$1" -ge 1 ] 2>/dev/null
}

VERBOSE=${NETMON_VERBOSE:-0}
QUIET=0
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help) usage; exit 0 ;;
    -v | --verbose) VERBOSE=1; shift ;;
    -q | --quiet) QUIET=1; shift ;;
    --) shift; break ;;
    -?*) say "unknown option: $1 (see --help)"; exit 2 ;;
    *) break ;;
    esac
done
mode=once
if [ "${1:-}" = run ]; then
    mode=run
    shift
    if [ $# -lt 5 ] || [ "$4" != -- ]; then
        die 2 "usage: $PROG [-v|-q] run HOST_ID TOKEN SERVER_URL -- COMMAND [ARG...] (see --help)"
    fi
elif [ $# -lt 3 ] || [ $# -gt 4 ]; then
    die 2 "usage: $PROG [-v] HOST_ID TOKEN SERVER_URL [MESSAGE] (see --help)"
fi

host_id=$1
token=$2
url=$3
has_message=0
if [ "$mode" = run ]; then
    shift 4
else
    [ $# -eq 4 ] && has_message=1 && message=$4
fi
while :; do
    case $url in */) url=${url%/} ;; *) break ;; esac
done
ping_url=0
case $url in */ping/?*) ping_url=1 ;; esac

timeout=${NETMON_TIMEOUT:-10}
retries=${NETMON_RETRIES:-3}
max_body=${NETMON_MAX_BODY:-10240}
is_count "$timeout" || die 2 "NETMON_TIMEOUT must be a whole number of seconds >= 1"
is_count "$retries" || die 2 "NETMON_RETRIES must be a whole number >= 1"
case $max_body in '' | *[!0-9]*) die 2 "NETMON_MAX_BODY must be a whole number of bytes" ;; esac

if [ "$ping_url" = 0 ]; then # a ping URL is the credential: HOST_ID and TOKEN are not used
case $host_id in
'' | *[!a-z0-9_-]*) die 2 "invalid HOST_ID '$host_id' (lowercase letters, digits, - and _)" ;;
esac

if [ "$token" = - ]; then
    if [ -n "${NETMON_TOKEN:-}" ]; then
        token=$NETMON_TOKEN
    elif [ -n "${NETMON_TOKEN_FILE:-}" ]; then
        [ -r "$NETMON_TOKEN_FILE" ] || die 2 "cannot read NETMON_TOKEN_FILE $NETMON_TOKEN_FILE"
        IFS= read -r token <"$NETMON_TOKEN_FILE" || [ -n "$token" ] ||
            die 2 "NETMON_TOKEN_FILE $NETMON_TOKEN_FILE is empty"
        token=$(printf '%s' "$token" | tr -d ' \t\r')
    else
        die 2 "TOKEN is '-' but neither NETMON_TOKEN nor NETMON_TOKEN_FILE is set"
    fi
fi
# RFC 6750 token characters only: nothing that could break a header or curl's config.
case $token in
'' | *[!A-Za-z0-9._~+/=-]*) die 2 "the token is empty or contains invalid characters" ;;
esac
fi

case $url in
http://?* | https://?*) ;;
*) die 2 "SERVER_URL must start with http:// or https:// (got '$url')" ;;
esac
if [ "$ping_url" = 1 ]; then
    base=$url
else
    base="$url/api/v1/heartbeat/$host_id"
fi
endpoint=$base

if command -v curl >/dev/null 2>&1; then
    client=curl
elif command -v wget >/dev/null 2>&1; then
    client=wget
    gnu_wget=0
    wget --version 2>/dev/null | grep -q 'GNU Wget' && gnu_wget=1
else
    die 2 "neither curl nor wget is installed"
fi

old_umask=$(umask)
umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/client-heartbeat.XXXXXX" 2>/dev/null) ||
    die 2 "cannot create a temporary directory in ${TMPDIR:-/tmp}"
umask "$old_umask"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The body goes through a file so that it is read once and sent as is by every attempt.
body=$work/body
if [ "$has_message" = 0 ]; then
    : >"$body"
elif [ "$message" = - ]; then
    cat >"$body" || die 2 "cannot read the message from stdin"
else
    printf '%s' "$message" >"$body"
fi
if [ "$mode" = once ] && [ "$max_body" -gt 0 ] && [ "$(wc -c <"$body")" -gt "$max_body" ]; then
    verbose "message truncated to $max_body bytes"
    dd if="$body" of="$work/cut" bs="$max_body" count=1 2>/dev/null && mv "$work/cut" "$body"
fi

response=$work/response
errors=$work/errors
# The credential: a header (read by curl from stdin, never on its command line), or none
# for a ping URL, whose path is the credential.
auth_config=""
auth_header=""
if [ "$ping_url" = 0 ]; then
    auth_config="header = \"Authorization: Bearer $token\""
    auth_header="Authorization: Bearer $token"
fi

# send: one attempt; sets $code (000 when no HTTP answer) and $detail.
send_curl() {
    code=$(curl -sS -o "$response" -w '%{http_code}' \
        --connect-timeout "$timeout" --max-time "$timeout" \
        -A "$USER_AGENT_BASE (curl)" -H 'Content-Type: text/plain; charset=utf-8' -H 'Expect:' \
        --data-binary "@$body" --config - "$endpoint" 2>"$errors" <<EOF
$auth_config
EOF
    )
    case $code in [1-9][0-9][0-9]) ;; *) code=000 ;; esac
    detail=$(head -n 1 "$errors")
}

send_wget() {
    if [ "$gnu_wget" = 1 ]; then
        # GNU wget reads the header from a private wgetrc, not from its arguments.
        if [ "$ping_url" = 1 ]; then
            : >"$work/wgetrc"
        else
            printf 'header = Authorization: Bearer %s\n' "$token" >"$work/wgetrc"
        fi
        WGETRC=$work/wgetrc wget -nv -S -t 1 -T "$timeout" -O - \
            -U "$USER_AGENT_BASE (wget)" --header 'Content-Type: text/plain; charset=utf-8' \
            --post-file "$body" "$endpoint" >"$response" 2>"$errors" </dev/null
    else
        # busybox wget: old versions lack --post-file, so the body is an argument
        # (trailing newlines are dropped) and so is the token. Its -T crashes builds
        # without FEATURE_WGET_TIMEOUT (Debian's before 1.36.1-5): timeout(1) instead.
        with_timeout wget -q -S -O - \
            -U "$USER_AGENT_BASE (wget)" --header 'Content-Type: text/plain; charset=utf-8' \
            --header "${auth_header:-X-Netmon-Ping: 1}" \
            --post-data "$(cat "$body")" "$endpoint" >"$response" 2>"$errors" </dev/null
    fi
    status=$?
    code=$(sed -n 's/^.*HTTP\/[0-9.]* \([1-9][0-9][0-9]\).*$/\1/p' "$errors" | tail -n 1)
    [ -n "$code" ] || code=000
    detail=$(grep -v '^  ' "$errors" | grep -v '^$' | tail -n 1)
    [ "$status" = 124 ] && [ -z "$detail" ] && detail="timed out after $timeout s"
    return 0
}

with_timeout() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$timeout" "$@"
    else
        "$@"
    fi
}

# deliver: send $body to $endpoint with retries; 0 recorded, 1 unreachable or failing,
# 3 rejected (one line on stderr says why).
deliver() {
attempt=1
wait_seconds=1
while :; do
    verbose "attempt $attempt/$retries: POST $endpoint ($client)"
    "send_$client"
    case $code in
    200)
        if [ "$VERBOSE" = 1 ]; then
            cat "$response"
            echo
        fi
        return 0
        ;;
    401) say "rejected: unknown host or wrong token (HTTP 401)"; return 3 ;;
    413) say "rejected: message too large for the server (HTTP 413)"; return 3 ;;
    3??) say "rejected: HTTP $code redirect from $endpoint: use the server's final URL"; return 3 ;;
    000) reason="no answer from $url${detail:+: $detail}" ;;
    429) reason="server busy (HTTP 429)" ;;
    5??) reason="server error (HTTP $code)" ;;
    *) say "rejected: HTTP $code from $endpoint"; return 3 ;;
    esac
    if [ "$attempt" -ge "$retries" ]; then
        [ "$retries" -gt 1 ] && reason="$reason, after $retries attempts"
        say "failed: $reason"
        return 1
    fi
    verbose "$reason; retrying in $wait_seconds s"
    sleep "$wait_seconds"
    attempt=$((attempt + 1))
    wait_seconds=$((wait_seconds * 2))
    [ "$wait_seconds" -gt 30 ] && wait_seconds=30
done
}

if [ "$mode" = once ]; then
    deliver
    exit $?
fi

# Wrapper mode: start, the command, its exit status with the end of its output.
run_id=${NETMON_RUN_ID:-$(date +%s 2>/dev/null)-$$}
case $run_id in *[!A-Za-z0-9._-]*) die 2 "NETMON_RUN_ID: letters, digits, '.', '_' and '-' only" ;; esac
endpoint="$base/start?rid=$run_id"
: >"$body"
deliver || say "could not report the start; running the command anyway"
started=$(date +%s 2>/dev/null || echo 0)
output=$work/output
# The output is shown as usual and kept for the report; the command's status goes
# through a file, as a pipeline's status is that of its last command.
{
    "$@" 2>&1
    echo $? >"$work/exit_status"
} | tee "$output"
cmd_status=$(cat "$work/exit_status" 2>/dev/null)
case $cmd_status in '' | *[!0-9]*) cmd_status=127 ;; esac
[ "$cmd_status" -gt 255 ] && cmd_status=255
if [ "$max_body" -gt 0 ]; then
    tail -c "$max_body" "$output" >"$body"
else
    cat "$output" >"$body"
fi
endpoint="$base/$cmd_status?rid=$run_id"
deliver
reported=$?
elapsed=$(($(date +%s 2>/dev/null || echo 0) - started))
if [ "$reported" = 0 ] && [ "$QUIET" = 0 ]; then
    where=$url
    [ "$ping_url" = 1 ] && where="${url%%/ping/*}/ping/…" # the path is a secret
    say "reported exit status $cmd_status after $elapsed s to $where"
fi
[ "$cmd_status" != 0 ] && exit "$cmd_status"
exit "$reported"
