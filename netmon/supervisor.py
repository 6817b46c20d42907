"""The process supervisor of ``manage.py serve``: start the roles, restart one that dies,
stop them all together — and let the kernel do what only it can do reliably.

- **Process group.** Children stay in serve's process group, so ``kill -9 -PGID`` (or a
  terminal's Ctrl-C) reaches every netmon process at once, grandchildren included.
- **Parent-death signal** (Linux ``prctl(PR_SET_PDEATHSIG)``). Each child is sent SIGTERM
  by the kernel the moment serve dies, even of SIGKILL, when no code of serve's can run;
  the child then stops its own workers as on any SIGTERM. Polling ``getppid()`` in the
  children would need code in gunicorn and the task cluster.
- **Child subreaper** (``prctl(PR_SET_CHILD_SUBREAPER)``). When a child dies hard, its
  own children (gunicorn or task workers) are re-parented to serve instead of init;
  serve stops them, so no worker outlives its master unsupervised.
- **Signals** are blocked and taken with ``sigtimedwait``: a child's exit, SIGTERM and
  SIGINT are handled in one loop, at once, with no handler racing the main code.
- **No Django.** serve migrates with Django, then execs ``python -m netmon.supervisor``
  in the same process (:func:`exec_supervisor`): standard library only, about 9 MiB
  instead of serve's 70, in every container of a split deployment too.

A child that dies is restarted after 1, 2, 4 … s (at most ``LONGEST_BACKOFF_SECONDS``;
back to 1 s once it has run ``STABLE_AFTER_SECONDS``). Its state — running or not,
restarts, last exit — is written as JSON to ``state_path`` for ``/api/v1/health``.
"""

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from netmon.log_config import LOG_FORMAT

log = logging.getLogger("netmon.serve")

STATE_VARIABLE = "NETMON_SERVE_STATE"  # where children find the state file
STATE_DIRECTORY_PREFIX = "netmon-serve-"
STOP_TIMEOUT_SECONDS = 30
LONGEST_BACKOFF_SECONDS = 60
STABLE_AFTER_SECONDS = 60
ORPHAN_GRACE_SECONDS = 5
INTERRUPT_GRACE_SECONDS = 2
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
WATCHED_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class AlreadyRunning(Exception):
    """Another serve holds this data directory or this address."""


def prctl(option: int, value: int) -> None:
    """Linux ``prctl(2)``; elsewhere nothing (process groups still stop the family)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def hold_instance_lock(data_dir: Path, exclusive: bool) -> int:
    """Lock ``data_dir/serve.lock`` for this serve and its children; returns the lock's fd.

    A serve of all roles locks exclusively: it is the whole of netmon for this data
    directory. A serve of some roles (``--only``, the scaled-out deployment) shares the
    lock with the others of its kind, and excludes a whole serve. ``flock`` is released
    by the kernel with the last process holding the file — children inherit it, so a
    new serve waits until the old one's family is entirely gone, however it ended.
    """
    path = data_dir / "serve.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        who = f"netmon serve (pid {holder})" if holder else "netmon serve --only …"
        raise AlreadyRunning(
            f"another {who} is running with the data directory {data_dir} (it holds {path}); "
            "stop it first, or wait until its processes have exited"
        ) from None
    os.ftruncate(fd, 0)
    if exclusive:
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def state_directory() -> Path:
    """A private directory for serve's state file, locked (``flock``) while serve lives.

    Directories of earlier serves that are gone — however they ended, SIGKILL included,
    which leaves no chance to clean up — are unlocked, and removed here.
    """
    base = Path(tempfile.gettempdir())
    for stale in base.glob(f"{STATE_DIRECTORY_PREFIX}*"):
        with contextlib.suppress(OSError):
            fd = os.open(stale, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(stale)
            finally:
                os.close(fd)
    # Locked before it gets its name, so that no other serve ever sees it unlocked.
    unnamed = Path(tempfile.mkdtemp(prefix=f".{STATE_DIRECTORY_PREFIX}"))
    fd = os.open(unnamed, os.O_RDONLY | os.O_DIRECTORY)  # kept open: the lock lives with serve
    os.set_inheritable(fd, True)  # through serve's exec into the supervisor (run_supervisor)
    fcntl.flock(fd, fcntl.LOCK_EX)
    named = base / unnamed.name.removeprefix(".")
    unnamed.rename(named)
    return named


@dataclass
class Child:
    role: str
    command: list[str]
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen | None = None
    started_at: float = 0.0  # time.monotonic()
    started_wall: str = ""
    restarts: int = 0
    crashes_in_a_row: int = 0
    last_exit: str = ""
    last_exit_at: str = ""
    restart_at: float | None = None  # time.monotonic()

    @property
    def running(self) -> bool:
        return self.process is not None

    def report(self) -> dict:
        return {
            "running": self.running,
            "pid": self.process.pid if self.process else None,
            "started_at": self.started_wall if self.running else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit or None,
            "last_exit_at": self.last_exit_at or None,
        }


def describe_exit(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def wall_clock() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def child_setup(serve_pid: int) -> None:
    """Run in the child between fork and exec: undo serve's signal mask, ask for SIGTERM
    when serve dies — and exit if it already did, before the request took effect."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != serve_pid:
        os._exit(1)


@dataclass
class Supervisor:
    children: list[Child]
    state_path: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    bind: str | None = None  # the web role's address, for the container's health check
    on_started: Callable[[], None] = lambda: None
    orphans: dict[int, float] = field(default_factory=dict)  # pid: when to SIGKILL it
    stopping: bool = False

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT; then stop every child and return 0."""
        signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED_SIGNALS)
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        for child in self.children:
            self.start(child)
        self.on_started()
        while True:
            timers = [c.restart_at for c in self.children if c.restart_at is not None]
            timers += [deadline for deadline in self.orphans.values() if deadline < float("inf")]
            timeout = max(0.0, min(timers) - time.monotonic()) if timers else None
            received = self.wait_for_signals(timeout)
            if received & STOP_SIGNALS:
                break
            self.reap()
            for child in self.children:
                if child.restart_at is not None and child.restart_at <= time.monotonic():
                    child.restarts += 1
                    self.start(child)
        self.stop(interrupted=signal.SIGTERM not in received)
        return 0

    def wait_for_signals(self, timeout: float | None) -> set[int]:
        """The signals that arrived (at least one unless ``timeout`` passed)."""
        info = (
            signal.sigtimedwait(WATCHED_SIGNALS, timeout)
            if timeout is not None
            else signal.sigwaitinfo(WATCHED_SIGNALS)
        )
        received = set()
        while info is not None:
            received.add(info.si_signo)
            info = signal.sigtimedwait(WATCHED_SIGNALS, 0)
        return received

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.command,
            cwd=self.cwd,
            env=self.env | {STATE_VARIABLE: str(self.state_path)},
            pass_fds=child.pass_fds,
            preexec_fn=partial(child_setup, os.getpid()),
        )
        child.started_at = time.monotonic()
        child.started_wall = wall_clock()
        child.restart_at = None
        log.info("started the %s process (pid %d)", child.role, child.process.pid)
        self.write_state()

    def reap(self) -> None:
        """Collect every exited child; schedule the restart of a role that died; kill
        what a dead role left behind (one generation at a time: each orphan killed may
        leave orphans of its own, which come to us in turn)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for child in self.children:
                if child.process is not None and child.process.pid == pid:
                    self.died(child, status)
        self.stop_orphans()

    def died(self, child: Child, status: int) -> None:
        pid = child.process.pid
        child.process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by it
        uptime = time.monotonic() - child.started_at
        child.process = None
        child.last_exit = describe_exit(status)
        child.last_exit_at = wall_clock()
        if self.stopping:
            log.info("the %s process (pid %d) %s", child.role, pid, child.last_exit)
            self.write_state()
            return
        child.crashes_in_a_row = 1 if uptime >= STABLE_AFTER_SECONDS else child.crashes_in_a_row + 1
        backoff = min(LONGEST_BACKOFF_SECONDS, 2 ** (child.crashes_in_a_row - 1))
        child.restart_at = time.monotonic() + backoff
        log.error(
            "the %s process (pid %d) %s after %.0f s; restarting it in %d s (restart %d)",
            child.role,
            pid,
            child.last_exit,
            uptime,
            backoff,
            child.restarts + 1,
        )
        self.write_state()

    def stop_orphans(self) -> None:
        """Stop serve's children that are no role's process: what a dead role left.

        SIGTERM first — an orphaned gunicorn worker finishes the request it holds — and
        SIGKILL after ``ORPHAN_GRACE_SECONDS``. Their parent is gone, so nothing else
        would ever stop them; the work they held (a task, a delivery lease) is retried
        by its own rules.
        """
        roles = {c.process.pid for c in self.children if c.process is not None}
        orphans = set(children_in_our_group()) - roles
        now = time.monotonic()
        for pid in orphans - self.orphans.keys():
            log.warning("stopping process %d, left behind by a process that died", pid)
            self.orphans[pid] = now + ORPHAN_GRACE_SECONDS
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in orphans:
            if self.orphans[pid] <= now:
                log.warning("killing process %d: still running", pid)
                self.orphans[pid] = float("inf")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.orphans = {pid: self.orphans[pid] for pid in orphans}  # gone ones: pids reused

    def stop(self, interrupted: bool = False) -> None:
        """SIGTERM every child, wait for the family to exit, SIGKILL what is left.

        After SIGINT — Ctrl-C in a terminal, which reaches the whole process group, the
        children too — they get ``INTERRUPT_GRACE_SECONDS`` to act on it first: a second
        signal in the middle of its shutdown trips the task cluster's signal handler.
        """
        log.info("stopping")
        self.stopping = True
        for child in self.children:
            child.restart_at = None
        if interrupted:
            self.wait_for_family(time.monotonic() + INTERRUPT_GRACE_SECONDS)
        for child in self.children:
            if child.process is not None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        self.wait_for_family(deadline)
        for pid in self.family():
            log.warning("process %d did not stop in %d s: killing it", pid, STOP_TIMEOUT_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while self.family():
            self.wait_for_signals(1.0)
            self.reap()
        self.write_state()

    def wait_for_family(self, deadline: float) -> None:
        while self.family() and time.monotonic() < deadline:
            self.wait_for_signals(min(1.0, deadline - time.monotonic()))
            self.reap()

    def family(self) -> set[int]:
        """serve's living children: role processes and whatever they left to us."""
        roles = {c.process.pid for c in self.children if c.process is not None}
        return roles | set(children_in_our_group())

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "bind": self.bind,
            "children": {child.role: child.report() for child in self.children},
        }
        partial_path = self.state_path.with_suffix(".new")
        partial_path.write_text(json.dumps(state))
        partial_path.replace(self.state_path)  # readers never see half a file


def children_in_our_group() -> list[int]:
    """serve's living children in serve's process group, from /proc (none without it).

    The group tells our family from strangers re-parented to us — in a container,
    where serve is process 1, a background job of a ``docker exec`` session is one.
    """
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses
        state, ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(ppid) == os.getpid() and int(pgrp) == os.getpgrp() and state != "Z":
            found.append(int(entry.name))
    return found


# serve's second half: the supervisor without Django ------------------------------------


def exec_supervisor(
    children: list[Child], state_dir: Path, cwd: Path, bind: str | None, announcement: str
) -> None:
    """Replace serve's process with ``python -m netmon.supervisor``: same pid, same locks.

    serve needs Django to migrate and to check its arguments, and Django stays in memory
    once imported — some 70 MiB that the supervisor, which only starts, watches and
    stops processes, never uses. exec keeps the pid (the one in the instance lock, the
    one that ``docker stop`` and Ctrl-C signal), the signal mask, the umask and every fd
    marked inheritable: the instance lock, the state directory's lock, the web socket.
    """
    for child in children:
        for fd in child.pass_fds:
            os.set_inheritable(fd, True)
    spec = {
        "children": [
            {"role": c.role, "command": c.command, "pass_fds": list(c.pass_fds)} for c in children
        ],
        "state_dir": str(state_dir),
        "cwd": str(cwd),
        "bind": bind,
        "announcement": announcement,
        "log_level": logging.getLogger().getEffectiveLevel(),
    }
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(cwd)  # where `-m netmon.supervisor` is found; the children's directory anyway
    os.execv(sys.executable, [sys.executable, "-m", "netmon.supervisor", json.dumps(spec)])


def run_supervisor(spec: dict) -> int:
    """The supervisor of ``exec_supervisor``'s spec; removes the state directory at the end."""
    logging.basicConfig(format=LOG_FORMAT, level=spec["log_level"])
    state_dir = Path(spec["state_dir"])
    children = [
        Child(entry["role"], entry["command"], pass_fds=tuple(entry["pass_fds"]))
        for entry in spec["children"]
    ]

    def announce() -> None:
        if spec["announcement"]:
            print(spec["announcement"], flush=True)

    try:
        supervisor = Supervisor(
            children,
            state_dir / "state.json",
            Path(spec["cwd"]),
            bind=spec["bind"],
            on_started=announce,
        )
        return supervisor.run()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_supervisor(json.loads(sys.argv[1])))
