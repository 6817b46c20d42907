"""The engine as real processes: serve end to end, a killed worker, two concurrent sweepers,
a Discord outage and its end."""

import os
import signal
import time
from itertools import pairwise

import pytest
import redis
import requests
from fakes import FakeDiscord
from fakes.outage import Phase, PhasedDiscord

from alerts.delivery import Clock
from tests.processes import (
    MANAGE,
    django_json,
    free_port,
    process_database,
    process_env,
    running,
    wait_until,
    wait_until_healthy,
)

pytestmark = pytest.mark.process

CREATE_HOST = """
from hosts.models import Host
host = Host(host_id="{host_id}", name="{host_id}", frequency_seconds={frequency}, grace_seconds=0)
token = host.set_new_token()
host.save()
print(json.dumps(token))
"""


def redis_available() -> bool:
    try:
        return redis.Redis.from_url("redis://127.0.0.1:6379/15", socket_timeout=2).ping()
    except redis.RedisError:
        return False


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_silent_host_is_reported_and_recovers_end_to_end(tmp_path, broker):
    if broker == "redis" and not redis_available():
        pytest.skip("no Redis server answers on 127.0.0.1:6379")
    extra = {"TASK_BROKER": "redis", "REDIS_URL": "redis://127.0.0.1:6379/15"}
    port = free_port()
    with FakeDiscord() as discord, process_database(tmp_path) as database_url:
        env = process_env(
            tmp_path,
            database_url,
            DISCORD_WEBHOOK_URL=discord.webhook_url,
            **(extra if broker == "redis" else {}),
        )
        token = django_json(CREATE_HOST.format(host_id="web01", frequency=10), env)
        serve = [*MANAGE, "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]
        log = tmp_path / "serve.log"
        with running(serve, env, log) as process:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base, process, log)
            beat = requests.post(
                f"{base}/api/v1/heartbeat/web01",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert beat.status_code == 200
            [down] = discord.wait_for(1, timeout=30)
            assert down.json()["embeds"][0]["title"] == "web01 is down"
            requests.post(
                f"{base}/api/v1/heartbeat/web01",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            up = discord.wait_for(2, timeout=30)[1]
            assert up.json()["embeds"][0]["title"] == "web01 is back up"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=40) == 0


QUEUE_ALERT = """
from django.db import transaction
from alerts.outbox import queue_alert
with transaction.atomic():
    alert = queue_alert("system", "error", "survives a killed worker")
print(json.dumps(alert.pk))
"""

ALERT_STATES = """
from django.db.models import Count
from alerts.models import Alert
print(json.dumps(dict(Alert.objects.values_list("state").annotate(n=Count("id")))))
"""

ALERT_STATE = """
from alerts.models import Alert
print(json.dumps(Alert.objects.get(pk={pk}).state))
"""


def test_worker_killed_mid_delivery_still_delivers(tmp_path):
    with FakeDiscord() as discord, process_database(tmp_path) as database_url:

        def environment() -> dict[str, str]:
            # one per process group: leaving a `running` block kills all of its tag
            return process_env(
                tmp_path,
                database_url,
                DISCORD_WEBHOOK_URL=discord.webhook_url,
                ALERT_DELIVERY_LEASE_SECONDS="5",
                ALERT_HTTP_TIMEOUT_SECONDS="60",
            )

        env = environment()
        pk = django_json(QUEUE_ALERT, env)
        discord.queue(FakeDiscord.hang())
        with running([*MANAGE, "monitor"], environment(), tmp_path / "monitor.log"):
            with running([*MANAGE, "qcluster"], env, tmp_path / "cluster1.log") as cluster:
                discord.wait_for(1, timeout=30)  # the worker is now stuck mid-delivery
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait(timeout=10)
            assert django_json(ALERT_STATE.format(pk=pk), env) == "pending"
            with running([*MANAGE, "qcluster"], env, tmp_path / "cluster2.log"):
                discord.wait_for(2, timeout=60)
                wait_until(
                    lambda: django_json(ALERT_STATE.format(pk=pk), env) == "delivered",
                    timeout=30,
                    what="the alert to be marked delivered",
                )
        assert [m["embeds"][0]["title"] for m in discord.messages][-1] == (
            "survives a killed worker"
        )


CREATE_OVERDUE_HOSTS = """
from datetime import timedelta
from django.utils import timezone
from hosts.models import Host
deadline = timezone.now() + timedelta(seconds={delay})
hosts = []
for i in range({count}):
    host = Host(host_id=f"h{{i:04d}}", name=f"h{{i}}", status="up")
    host.set_new_token()
    hosts.append(host)
Host.objects.bulk_create(hosts)
Host.objects.update(last_heartbeat_at=timezone.now(), next_deadline=deadline)
print(json.dumps(len(hosts)))
"""

COUNTS = """
from alerts.models import Alert
from hosts.models import Host, StatusChange
print(json.dumps({
    "down": Host.objects.filter(status="down").count(),
    "flips": StatusChange.objects.filter(to_status="down").count(),
    "flipped_hosts": StatusChange.objects.filter(to_status="down")
        .values("host").distinct().count(),
    "alerts": Alert.objects.filter(kind="host_down").count(),
    "alerted_hosts": Alert.objects.filter(kind="host_down").values("host").distinct().count(),
}))
"""


def test_two_concurrent_sweepers_alert_each_transition_once(tmp_path):
    count = 300
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url)
        django_json(CREATE_OVERDUE_HOSTS.format(count=count, delay=4), env)
        monitor = [*MANAGE, "monitor", "--interval", "0.1"]
        with (
            running(monitor, env, tmp_path / "monitor1.log") as first,
            running(monitor, env, tmp_path / "monitor2.log") as second,
        ):
            # The sweep flips, and the event step right after it queues the alerts: a
            # flip's alert may come a cycle after the flip, never twice.
            wait_until(
                lambda: django_json(COUNTS, env)["alerts"] >= count,
                timeout=60,
                what=f"all {count} hosts to be marked down and alerted",
                interval=1,
            )
            time.sleep(0.5)  # let both loops run a few more cycles over the same rows
            assert first.poll() is None and second.poll() is None
        counts = django_json(COUNTS, env)
        assert counts == {
            "down": count,
            "flips": count,
            "flipped_hosts": count,
            "alerts": count,
            "alerted_hosts": count,
        }
        logs = (tmp_path / "monitor1.log").read_text() + (tmp_path / "monitor2.log").read_text()
        assert "Traceback" not in logs


QUEUE_ALERTS = """
from django.db import transaction
from alerts.outbox import queue_alert
for i in range({count}):
    with transaction.atomic():
        queue_alert("system", "error", f"alert {{i}}")
print(json.dumps({count}))
"""


def test_discord_outage_then_recovery_delivers_the_backlog_at_once(tmp_path):
    """500, 429 and hanging, in real time and real processes: shorter than the in-process
    test (tests/test_delivery_recovery.py), still long enough for a backoff to have grown
    to 16 s."""
    phases = [
        Phase("500", 25, FakeDiscord.server_error(500)),
        Phase("429", 6, FakeDiscord.rate_limited(2.0)),
        Phase("hang", 6, FakeDiscord.hang()),
    ]
    clock = Clock()
    port = free_port()
    with PhasedDiscord(clock, phases) as discord, process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url, DISCORD_WEBHOOK_URL=discord.webhook_url)
        serve = [*MANAGE, "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]
        log = tmp_path / "serve.log"
        with running(serve, env, log) as process:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log)
            discord.begin()  # the outage starts now, whatever serve took to start
            django_json(QUEUE_ALERTS.format(count=60), env)
            wait_until(
                lambda: len(discord.accepted_titles) >= 60,
                timeout=discord.phase_start("recovered") + 60,
                what="all 60 alerts to be accepted",
                interval=0.5,
            )
            assert django_json(ALERT_STATES, env) == {"delivered": 60}

    assert discord.accepted_titles == [f"alert {i}" for i in range(60)]  # once each, in order
    assert discord.times("recovered")[-1] - discord.phase_start("recovered") <= 15.0
    probes = [at for at in discord.times("500") if at > discord.times("500")[0]]
    assert len(probes) >= 8
    assert max(later - earlier for earlier, later in pairwise(probes)) <= 2.0 + 1.0
    limited = discord.times("429")
    assert len(limited) >= 2
    assert all(2.0 <= later - earlier <= 2.0 + 1.0 for earlier, later in pairwise(limited))
