#!/usr/bin/env bash
# Set up and run netmon locally: virtualenv, install, migrate (after a backup of an
# existing database), admin account,
# then web server + task cluster + monitor loop on http://127.0.0.1:8080.
# Ctrl-C stops everything. Arguments go to `manage.py serve` (e.g. --bind).
set -euo pipefail
source "$(dirname "$0")/bootstrap.sh"

.venv/bin/python manage.py migrate_safely  # backs up an existing database first
.venv/bin/python manage.py collectstatic --noinput --verbosity 0 --settings netmon.build_settings
.venv/bin/python manage.py ensure_admin
exec .venv/bin/python manage.py serve --no-migrate "$@"
