"""The container's health check: ``python -m netmon.healthcheck [--web-only] [--bind HOST:PORT]``.

One script for the Dockerfile's ``HEALTHCHECK`` and every service of compose.yaml, so that
the rule lives in one place. It is run every few seconds in each container, hence
standard library only and no Django: it starts in milliseconds and cannot fail on the
settings or the database it is meant to judge.

What it judges depends on what the container's ``serve`` runs, which it learns from the
state file serve already keeps for ``/api/v1/health`` (netmon/supervisor.py): a directory
``netmon-serve-*`` in the temporary directory, locked (``flock``) while that serve lives,
holding ``state.json`` with serve's pid and its children by role.

- **A web server among the roles** (serve's default, or ``--only web``): healthy when
  ``GET /api/v1/health`` answers 200 — database, task cluster and monitor loop all
  working. With ``--web-only`` a 503 counts too: the web server of a split deployment is
  up (and has migrated) while the report says that workers or the monitor loop, in other
  containers, are not running yet; compose's ``web`` service uses it so that they start.
- **No web server** (``--only worker``, ``--only monitor``): nothing to ask over HTTP, and
  ``/api/v1/health`` on the web container reports these roles anyway. Healthy while serve
  lives and all its children run; unhealthy while one is down and waiting to restart.
- **No live serve found** (still migrating, or started otherwise): the web check, on the
  address below, which fails while nothing answers.

The address is the one serve listens on (its ``--bind``, else its ``WEB_BIND``), which
serve records in its state file. ``--bind`` given to this script overrides it; when no
serve (or more than one) is found, this script's ``WEB_BIND`` is used.
"""

import argparse
import contextlib
import fcntl
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from netmon.log_config import HEALTH_PATH
from netmon.supervisor import STATE_DIRECTORY_PREFIX

SERVE_DEFAULT_BIND = "127.0.0.1:8080"  # serve's --bind without WEB_BIND
HEALTHY, UNHEALTHY = 0, 1  # Docker reserves exit status 2: never used here


def live_serve_states(temp_dir: Path) -> list[dict]:
    """The state of every serve alive in ``temp_dir`` that has written one yet.

    A directory is alive when its lock is held: serve holds it exclusively for its whole
    life, and the kernel drops it when serve ends, however it ends. One left behind by a
    killed serve can be locked, and is skipped (the next serve removes it).
    """
    states = []
    for directory in sorted(temp_dir.glob(f"{STATE_DIRECTORY_PREFIX}*")):
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # gone meanwhile, or another user's
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError, ValueError):
                states.append(json.loads((directory / "state.json").read_text()))
        finally:
            os.close(fd)
    return states


def health_url(bind: str) -> str:
    """Where to ask for the health report: a wildcard address is asked on loopback."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{HEALTH_PATH}"


def check_web(url: str, accept_503: bool, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return HEALTHY, f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        if error.code == 503 and accept_503:
            return HEALTHY, f"{url} answered 503: the web server is up, other roles are not"
        return UNHEALTHY, f"{url} answered {error.code}"
    except (OSError, ValueError) as error:  # refused, timed out, a malformed address
        return UNHEALTHY, f"{url} did not answer: {error}"


def check_roles(state: dict) -> tuple[int, str]:
    children = state.get("children", {})
    down = sorted(role for role, child in children.items() if not child.get("running"))
    if down:
        return (
            UNHEALTHY,
            f"serve (pid {state.get('pid')}): not running, restarting: {', '.join(down)}",
        )
    return HEALTHY, f"serve (pid {state.get('pid')}): running {', '.join(sorted(children))}"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        """Misuse is unhealthy (1), not argparse's status 2, which Docker reserves."""
        self.print_usage(sys.stderr)
        self.exit(UNHEALTHY, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m netmon.healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--bind", help="ask HOST:PORT instead of the address serve listens on")
    parser.add_argument(
        "--web-only",
        action="store_true",
        help="the web role of a split deployment: 503 (other roles not running) counts as up",
    )
    parser.add_argument("--timeout", type=float, default=8.0, help="seconds to wait for the answer")
    options = parser.parse_args(argv)

    states = live_serve_states(Path(tempfile.gettempdir()))
    serve = states[0] if len(states) == 1 else None  # several: cannot tell which is ours
    if serve is not None and "web" not in serve.get("children", {}):
        status, message = check_roles(serve)
    elif serve is not None and not serve["children"]["web"].get("running"):
        status, message = UNHEALTHY, f"serve (pid {serve.get('pid')}): the web server is restarting"
    else:
        bind = options.bind or (serve and serve.get("bind"))
        bind = bind or os.environ.get("WEB_BIND", SERVE_DEFAULT_BIND)
        status, message = check_web(health_url(bind), options.web_only, options.timeout)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
