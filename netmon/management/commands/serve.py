"""Run everything netmon needs in one process tree: web server, task cluster, monitor loop.

Used by the quick start and by the container. A child that dies is restarted (with
backoff; shown in the log and in ``/api/v1/health``) while the others keep running;
SIGINT/SIGTERM stop them all, and so does serve's own death (netmon/supervisor.py).
serve refuses to start, with exit status 3, when another serve holds the data directory
or something else listens on the address. With ``--no-migrate`` (the workers and monitor
loops of a scaled-out deployment, whose web role migrates) it waits until the database
can be reached and has every migration applied, instead of starting roles that would
crash on missing tables.
"""

import errno
import os
import signal
import socket
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from netmon.data_files import PRIVATE_UMASK
from netmon.env import env_bool, env_int, env_str
from netmon.schedules import ensure_schedules
from netmon.supervisor import (
    STOP_SIGNALS,
    STOP_TIMEOUT_SECONDS,
    AlreadyRunning,
    Child,
    exec_supervisor,
    hold_instance_lock,
    state_directory,
)
from netmon.upgrades import migrate_with_backup, migration_plan

ROLES = ("web", "worker", "monitor")
EXIT_ALREADY_RUNNING = 3
LONGEST_WAIT_INTERVAL_SECONDS = 60


def default_web_workers() -> int:
    # Measured (docs/benchmarks.md): one worker per core does best; more only
    # queue up behind the database's write lock.
    return env_int("WEB_WORKERS", max(2, os.cpu_count() or 1), 1, 64)


def listen(bind: str) -> socket.socket:
    """The web server's listening socket, bound here, before anything starts.

    Binding it in serve makes "is the address free?" the bind itself, with no gap for
    another process to take it; and the socket outlives a gunicorn that dies, so that
    connections wait in its backlog for the restarted one instead of being refused.
    """
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise CommandError(f"--bind {bind!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, int(port)), family=family, backlog=2048)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CommandError(
                f"{bind} is already in use: another netmon serve, or another program, listens "
                "there. Stop it, or choose another address with --bind or WEB_BIND.",
                returncode=EXIT_ALREADY_RUNNING,
            ) from None
        raise CommandError(f"cannot listen on {bind}: {error.strerror}") from None


def role_child(role: str, listener: socket.socket | None, web_workers: int, lock: int) -> Child:
    """The process of ``role``; each inherits the instance lock, the web server the socket."""
    if role == "web":
        command = [
            *("-m", "gunicorn", "netmon.wsgi:application"),
            *("--bind", f"fd://{listener.fileno()}", "--workers", str(web_workers)),
            *("--graceful-timeout", str(STOP_TIMEOUT_SECONDS - 5)),
            *("--access-logfile", "-" if env_bool("WEB_ACCESS_LOG", False) else "/dev/null"),
            # gunicorn ≥ 25.1 opens a control socket in $HOME/.gunicorn by default: serve
            # does not use it, and on a read-only root filesystem it logs an ERROR.
            "--no-control-socket",
        ]
        return Child(role, [sys.executable, *command], pass_fds=(lock, listener.fileno()))
    management_command = {"worker": "qcluster", "monitor": "monitor"}[role]
    return Child(role, [sys.executable, "-m", "django", management_command], pass_fds=(lock,))


class Command(BaseCommand):
    help = "Migrate, then run the web server, the task cluster and the monitor loop together."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=env_str("WEB_BIND", "127.0.0.1:8080"))
        parser.add_argument("--web-workers", type=int, default=default_web_workers())
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="do not migrate; wait until the database is migrated (by another serve)",
        )
        parser.add_argument(
            "--wait-interval",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="with --no-migrate: how often to look whether the database is migrated",
        )
        parser.add_argument(
            "--only",
            choices=ROLES,
            action="append",
            help="run only these roles (repeatable); all three by default",
        )

    def handle(self, *args, bind, web_workers, no_migrate, wait_interval, only, **options):
        if not 0 < wait_interval <= LONGEST_WAIT_INTERVAL_SECONDS:
            raise CommandError(
                f"--wait-interval must be more than 0 and at most "
                f"{LONGEST_WAIT_INTERVAL_SECONDS} seconds"
            )
        # What serve and its children create — the SQLite database, its -wal and -shm,
        # backups — is readable by netmon's user alone (netmon/data_files.py).
        os.umask(PRIVATE_UMASK)
        roles = [role for role in ROLES if role in (only or ROLES)]
        try:
            lock = hold_instance_lock(settings.DATA_DIR, exclusive=len(roles) == len(ROLES))
        except AlreadyRunning as error:
            raise CommandError(str(error), returncode=EXIT_ALREADY_RUNNING) from None
        listener = listen(bind) if "web" in roles else None
        if not no_migrate:
            migrate_with_backup(self.stdout.write)  # netmon/upgrades.py
        elif not self.wait_for_migrated_database(wait_interval):
            self.stdout.write("stopped while waiting for the database")
            return
        ensure_schedules()
        connections.close_all()  # the children open their own
        children = [role_child(role, listener, web_workers, lock) for role in roles]
        state_dir = state_directory()
        announcement = f"netmon is running on http://{bind} (Ctrl-C stops it)"
        # The supervisor goes on in this process, without Django (netmon/supervisor.py).
        exec_supervisor(
            children,
            state_dir,
            settings.BASE_DIR,
            bind=bind if listener else None,
            announcement=announcement if listener else "",
        )

    def wait_for_migrated_database(self, interval: float) -> bool:
        """Poll every ``interval`` seconds until the database is reachable and migrated;
        False when SIGTERM or SIGINT came first.

        What it waits for is said once (again only when that changes: first unreachable,
        then not migrated). The stop signals stay blocked from here on and are taken with
        ``sigtimedwait``, as the supervisor takes them: one that arrives after the wait
        stays pending until the supervisor runs, and stops it then.
        """
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        told = None
        while True:
            try:
                _, missing = migration_plan()
            except DatabaseError as error:
                waiting_for = "reachable"
                detail = next(iter(str(error).strip().splitlines()), "")
                what = f"the database to be reachable ({type(error).__name__}: {detail})"
            else:
                if not missing:
                    if told:
                        self.stdout.write("the database is migrated: starting")
                    return True
                waiting_for = "migrated"
                what = (
                    f"the database to be migrated ({missing} migrations not applied yet: "
                    "serve without --no-migrate, or manage.py migrate, applies them)"
                )
            if waiting_for != told:
                self.stdout.write(f"waiting for {what}; checking every {interval:g} s")
                self.stdout.flush()
                told = waiting_for
            if signal.sigtimedwait(STOP_SIGNALS, interval) is not None:
                return False
