#!/usr/bin/env bash
# First-time set-up of netmon, without starting it: writes .env from .env.example
# (asking for the few values that matter), then the virtualenv, the database and the
# admin account. Run it again any time: an existing .env and admin are kept.
#
#   ./scripts/setup.sh                     # asks on a terminal
#   ./scripts/setup.sh --non-interactive   # (or --yes, or stdin not a terminal): takes
#                                          # the values from the environment, else defaults
#
# NETMON_ENV_FILE names another file to write (and read) instead of .env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() {
    echo "usage: $0 [--non-interactive | --yes]" >&2
    exit 2
}

interactive=true
[ -t 0 ] || interactive=false
for argument in "$@"; do
    case $argument in
        --non-interactive | --yes | -y) interactive=false ;;
        -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "unknown argument: $argument" >&2; usage ;;
    esac
done

env_file=${NETMON_ENV_FILE:-.env}
# manage.py below must read the file written here, whatever NETMON_ENV_FILE was.
export NETMON_ENV_FILE=$env_file

# The values asked for, in order, with what each must be.
questions=(
    "NETMON_BASE_URL|url|Public address of this server, used in client setup and alert links"
    "DISCORD_WEBHOOK_URL|optional-url|Discord webhook of the default alert channel (Enter: none)"
    "HEALTHCHECKS_URL|optional-url|healthchecks.io ping URL of this server (Enter: none)"
    "LLM_API_URL|optional-url|LLM endpoint for log analysis (Enter: rules only)"
    "LLM_API_KEY|optional-secret|API key of that LLM endpoint (Enter: none)"
)

# Prints why $2 is not a good value for $1 (nothing when it is) and fails in that case.
# The value itself is never printed: some of these are secrets.
problem() {
    local name=$1 kind=$2 value=$3
    if [[ $value =~ [[:space:]\"\'\\\$] ]]; then
        echo "$name must not contain spaces, quotes, backslashes or \$"
    elif [[ $kind == *url && -n $value ]] && ! [[ $value =~ ^https?://[^/?#]+ ]]; then
        echo "$name must be a URL starting with http:// or https://"
    elif [[ $kind == url && -z $value ]]; then
        echo "$name is required"
    else
        return 1
    fi
}

# The value of NAME= in .env.example: the default when neither environment nor user says.
example_value() {
    sed -n "s/^$1=//p" .env.example
}

# Asks for NAME until the answer is good and prints it; Enter takes DEFAULT.
ask() {
    local name=$1 kind=$2 text=$3 default=$4 value error
    while true; do
        if [[ $kind == *secret ]]; then
            read -r -s -p "$text${default:+ [keep the one set]}: " value || no_answer
            echo >&2
        else
            read -r -p "$text [$default]: " value || no_answer
        fi
        value=${value:-$default}
        if ! error=$(problem "$name" "$kind" "$value"); then
            printf '%s' "$value"
            return
        fi
        echo "  $error; try again." >&2
    done
}

no_answer() {
    echo >&2
    echo "No answer (end of input); $env_file was not written." >&2
    exit 1
}

write_env_file() {
    local entry name kind text value error
    local -A answer=()
    for entry in "${questions[@]}"; do
        IFS='|' read -r name kind text <<<"$entry"
        value=${!name:-$(example_value "$name")}
        if [[ $name == LLM_API_KEY && -z ${answer[LLM_API_URL]} ]] || ! $interactive; then
            # Without an LLM endpoint there is no key to ask for; without a terminal, no one.
            if error=$(problem "$name" "$kind" "$value"); then
                echo "Invalid $name, $env_file was not written: $error" >&2
                exit 1
            fi
        else
            value=$(ask "$name" "$kind" "$text" "$value")
        fi
        answer[$name]=$value
    done
    # .env.example with the answered lines replaced: every other setting stays documented.
    local temporary
    temporary=$(mktemp "$env_file.XXXXXX")
    for name in "${!answer[@]}"; do
        printf '%s=%s\n' "$name" "${answer[$name]}"
    done | awk '
        NR == FNR { split($0, pair, "="); wanted[pair[1]] = $0; next }
        { name = $0; sub(/=.*/, "", name) }
        name in wanted { print wanted[name]; next }
        { print }' - .env.example >"$temporary"
    chmod 600 "$temporary" # it may hold a webhook URL and an API key
    mv "$temporary" "$env_file"
    echo "Wrote $env_file (mode 600). Every other setting is documented there."
}

if [ -e "$env_file" ]; then
    echo "$env_file exists: kept as it is (edit it, or remove it and run this again)."
else
    $interactive && echo "Writing $env_file from .env.example; Enter accepts the [default]."
    write_env_file
fi

source scripts/bootstrap.sh
.venv/bin/python manage.py migrate_safely  # backs up an existing database first
.venv/bin/python manage.py ensure_admin

cat <<'EOF'

netmon is set up. Next:
  ./scripts/start.sh                 # run it on http://127.0.0.1:8080 (Ctrl-C stops it)
  .venv/bin/python manage.py create_api_key --name hosts --access write
  NETMON_API_KEY=... python3 scripts/add-host.py --name "Web Server 01" --host-id web01 \
      --frequency 300 --schedule always     # register a host through the API
EOF
