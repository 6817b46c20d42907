#!/usr/bin/env python3
"""How long a refused heartbeat takes: unknown host against known host with a wrong token.

    .venv/bin/python bench/heartbeat_auth_timing.py                 # SQLite, 4,000 rounds
    .venv/bin/python bench/heartbeat_auth_timing.py --rounds 20000
    .venv/bin/python bench/heartbeat_auth_timing.py --database postgres://postgres@127.0.0.1:5432/netmon_timing

If the two refusals take measurably different times, anyone can find out which host ids
exist by timing ``POST /api/v1/heartbeat/<id>`` with any token. This script runs the real
view in-process through Django's test client, on a fresh database in a temporary
directory (migrated, with 1,000 registered hosts), with the project's own settings (so
the database cache too). Each round sends, in a shuffled order, one heartbeat for each
case: an unknown host id, a known host with a wrong token, and (for scale) a known host
with its right token. Every request comes from an address of its own, so that the
failed-auth throttle counts each failure but never answers 429. It prints the median and
the 10th/90th percentile per case and the difference of the medians.

A timing difference of a few microseconds is at the level of noise; run it more than
once, on a quiet machine, before concluding anything. Nothing here is asserted: the
figures are for a person to read (docs/benchmarks.md).
"""

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("unknown host", "wrong token", "right token")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4000, help="requests per case (4000)")
    parser.add_argument("--hosts", type=int, default=1000, help="registered hosts (1000)")
    parser.add_argument(
        "--database", default="", help="DATABASE_URL (default: SQLite in a temporary directory)"
    )
    return parser.parse_args()


def configure(work: Path, database: str) -> None:
    os.environ["NETMON_ENV_FILE"] = ""
    os.environ["NETMON_DATA_DIR"] = str(work)
    os.environ["DATABASE_URL"] = database or f"sqlite:///{work / 'db.sqlite'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "netmon.settings"
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # Every refusal is logged as a warning: the logging would be most of what is timed.
    logging.getLogger("django.request").setLevel(logging.ERROR)


def register_hosts(count: int) -> list[tuple[str, str]]:
    from hosts.models import Host

    hosts, tokens = [], []
    for number in range(count):
        host = Host(host_id=f"timing-{number:04d}", name=f"Timing {number}")
        tokens.append(host.set_new_token())
        hosts.append(host)
    Host.objects.bulk_create(hosts)
    return [(host.host_id, token) for host, token in zip(hosts, tokens, strict=True)]


def address(number: int) -> str:
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


def measure(rounds: int, hosts: list[tuple[str, str]]) -> dict[str, list[float]]:
    from django.test import Client

    client = Client()
    wrong_token = "w" * 43  # the shape of a real token
    timings: dict[str, list[float]] = {case: [] for case in CASES}
    expected = {"unknown host": 401, "wrong token": 401, "right token": 200}
    sequence = 0
    for number in range(rounds):
        host_id, token = hosts[number % len(hosts)]
        requests = {
            "unknown host": (f"nosuch-{number:06d}", wrong_token),
            "wrong token": (host_id, wrong_token),
            "right token": (host_id, token),
        }
        order = list(CASES)
        random.shuffle(order)
        for case in order:
            target, bearer = requests[case]
            sequence += 1
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/heartbeat/{target}",
                data="load average: 0.42",
                content_type="text/plain",
                HTTP_AUTHORIZATION=f"Bearer {bearer}",
                REMOTE_ADDR=address(sequence),
            )
            elapsed = time.perf_counter() - started
            if response.status_code != expected[case]:
                raise SystemExit(f"{case}: expected {expected[case]}, got {response.status_code}")
            timings[case].append(elapsed * 1e6)
    return timings


def report(timings: dict[str, list[float]]) -> None:
    print(f"{'case':<14} {'median µs':>10} {'p10 µs':>8} {'p90 µs':>8} {'requests':>9}")
    medians = {}
    for case, values in timings.items():
        deciles = statistics.quantiles(values, n=10)
        medians[case] = statistics.median(values)
        print(
            f"{case:<14} {medians[case]:>10.1f} {deciles[0]:>8.1f} {deciles[-1]:>8.1f} "
            f"{len(values):>9}"
        )
    difference = medians["wrong token"] - medians["unknown host"]
    print(f"wrong token − unknown host, medians: {difference:+.1f} µs")


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="netmon-timing-") as work:
        configure(Path(work), args.database)
        from django.core.management import call_command
        from django.test.utils import setup_databases, teardown_databases

        if args.database:  # a throwaway test database next to the named one
            names = setup_databases(verbosity=0, interactive=False)
        else:
            call_command("migrate", verbosity=0)
        try:
            hosts = register_hosts(args.hosts)
            measure(200, hosts)  # warm up: connections, caches, code paths
            report(measure(args.rounds, hosts))
        finally:
            if args.database:
                teardown_databases(names, verbosity=0)


if __name__ == "__main__":
    main()
