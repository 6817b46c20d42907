"""Run everything netmon needs in one process tree: web server, task cluster, monitor loop.

Used by the quick start and by the container. SIGINT/SIGTERM stop the children
gracefully; if any child dies, the others are stopped and the command exits
non-zero so that a supervisor (Docker, systemd) restarts the whole set.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from netmon.env import env_bool, env_int, env_str
from netmon.schedules import ensure_schedules

STOP_TIMEOUT = 30


def default_web_workers() -> int:
    # Measured (docs/benchmarks.md): one worker per core does best; more only
    # queue up behind the database's write lock.
    return env_int("WEB_WORKERS", max(2, os.cpu_count() or 1), 1, 64)


class Command(BaseCommand):
    help = "Migrate, then run the web server, the task cluster and the monitor loop together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=env_str("WEB_BIND", "127.0.0.1:8080"))
        parser.add_argument("--web-workers", type=int, default=default_web_workers())
        parser.add_argument("--no-migrate", action="store_true")
        parser.add_argument(
            "--only",
            choices=["web", "worker", "monitor"],
            action="append",
            help="run only these roles (repeatable); all three by default",
        )

    def handle(self, *args, bind, web_workers, no_migrate, only, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_schedules()
        roles = only or ["web", "worker", "monitor"]
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "netmon.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--graceful-timeout",
                str(STOP_TIMEOUT - 5),
                "--access-logfile",
                "-" if env_bool("WEB_ACCESS_LOG", False) else "/dev/null",
            ],
            "worker": [sys.executable, "-m", "django", "qcluster"],
            "monitor": [sys.executable, "-m", "django", "monitor"],
        }
        children = {
            role: subprocess.Popen(commands[role], cwd=settings.BASE_DIR, start_new_session=True)
            for role in roles
        }
        if "web" in roles:
            self.stdout.write(f"netmon is running on http://{bind} (Ctrl-C stops it)")
        sys.exit(supervise(children))


def supervise(children: dict[str, subprocess.Popen]) -> int:
    """Wait until a signal arrives or a child dies; stop the rest; return the exit code."""
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    failed = None
    while not stopping and failed is None:
        for role, child in children.items():
            if child.poll() is not None:
                failed = role
                break
        else:
            time.sleep(0.2)
    if failed:
        sys.stderr.write(
            f"serve: the {failed} process exited with {children[failed].returncode}; "
            "stopping the others\n"
        )
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 1 if failed else 0
