"""The scale-out topology of compose.yaml's ``scale`` profile, without Docker.

The same processes the containers run — ``serve --only web`` (which migrated), two
``serve --only worker --no-migrate`` and two ``serve --only monitor --no-migrate`` — on a
real PostgreSQL database and the real Redis as task broker and shared cache. Hosts go
silent in waves while others keep sending heartbeats over HTTP: every silent host must
be alerted exactly once and every alert delivered to Discord exactly once, although two
monitor loops sweep the same rows and two task clusters take the deliveries.

PostgreSQL is used even when the suite itself runs on SQLite (scale-out means
PostgreSQL); the test is skipped, saying why, when no server or no Redis answers.
"""

import os
import threading
import time
from collections import Counter
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import requests
from fakes import FakeDiscord
from prometheus_client.parser import text_string_to_metric_families

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
from tests.processes import (
    tests_use_postgres as suite_on_postgres,
)

pytestmark = pytest.mark.process

REDIS_URL = "redis://127.0.0.1:6379/14"  # this test's own database number, flushed around it
SILENT_HOSTS = 100
WAVES = 5
STEADY_HOSTS = 5
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/netmon"


def postgres_url() -> str:
    """The server of the suite when it runs on PostgreSQL, else the one test.sh would use."""
    if suite_on_postgres():
        return os.environ["DATABASE_URL"]
    url = os.environ.get("NETMON_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    try:
        psycopg.connect(maintenance, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        pytest.skip(f"scale-out needs PostgreSQL; none answers at {url}: {error}".strip())
    return url


@pytest.fixture
def redis_db():
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"scale-out needs Redis; none answers at {REDIS_URL}: {error}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def database(tmp_path, monkeypatch):
    # process_database() makes its throwaway database on the server of DATABASE_URL.
    monkeypatch.setenv("DATABASE_URL", postgres_url())
    with process_database(tmp_path) as url:
        yield url


CREATE_HOSTS = """
from datetime import timedelta
from django.utils import timezone
from hosts.models import Host
now = timezone.now()
hosts, tokens = [], {{}}
for wave in range({waves}):
    deadline = now + timedelta(seconds={first_deadline} + wave * {wave_gap})
    for i in range({per_wave}):
        host_id = f"silent-{{wave}}-{{i:02d}}"
        host = Host(host_id=host_id, name=host_id, status="up", frequency_seconds=10,
                    grace_seconds=0, last_heartbeat_at=now, next_expected_at=deadline,
                    next_deadline=deadline)
        host.set_new_token()
        hosts.append(host)
for i in range({steady}):
    host = Host(host_id=f"steady-{{i}}", name=f"steady-{{i}}", frequency_seconds=10,
                grace_seconds=5)
    tokens[host.host_id] = host.set_new_token()
    hosts.append(host)
Host.objects.bulk_create(hosts)
print(json.dumps(tokens))
"""

# What the web container does before the others start (it migrated just before), and an
# API key for Prometheus.
SET_UP = """
from accounts.models import ApiKey
from netmon.schedules import ensure_schedules
ensure_schedules()
api_key = ApiKey(name="prometheus")
key = api_key.issue()
api_key.save()
print(json.dumps(key))
"""

OUTCOME = """
from alerts.models import Alert, Delivery
from hosts.models import Host, StatusChange
down = Alert.objects.filter(kind="host_down")
print(json.dumps({
    "down": sorted(Host.objects.filter(status="down").values_list("host_id", flat=True)),
    "up": sorted(Host.objects.filter(status="up").values_list("host_id", flat=True)),
    "flips": StatusChange.objects.filter(to_status="down").count(),
    "alerts": sorted(down.values_list("host__host_id", flat=True)),
    "other_alerts": list(Alert.objects.exclude(kind="host_down").values_list("title", flat=True)),
    "alert_states": sorted(set(down.values_list("state", flat=True))),
    "deliveries": Delivery.objects.count(),
    "sent": Delivery.objects.filter(state="sent").count(),
}))
"""


def scrape(base: str, key: str) -> dict:
    response = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_two_workers_and_two_monitors_alert_and_deliver_each_missed_heartbeat_once(
    tmp_path, database, redis_db
):
    silent = {
        f"silent-{wave}-{i:02d}" for wave in range(WAVES) for i in range(SILENT_HOSTS // WAVES)
    }
    with FakeDiscord(enforce_rate_limit=True) as discord, ExitStack() as stack:
        env = process_env(
            tmp_path,
            database,
            TASK_BROKER="redis",
            REDIS_URL=REDIS_URL,
            DISCORD_WEBHOOK_URL=discord.webhook_url,
            SWEEP_INTERVAL_SECONDS="0.2",
            TASK_WORKERS="2",
            CONNECTIVITY_ENABLED="false",  # no probes of the internet from a test
        )
        key = django_json(SET_UP, env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        web = [*MANAGE, "serve", "--only", "web", "--no-migrate", "--bind", f"127.0.0.1:{port}",
               "--web-workers", "2"]  # fmt: skip
        roles = {
            "web": web,
            "worker-1": [*MANAGE, "serve", "--only", "worker", "--no-migrate"],
            "worker-2": [*MANAGE, "serve", "--only", "worker", "--no-migrate"],
            "monitor-1": [*MANAGE, "serve", "--only", "monitor", "--no-migrate"],
            "monitor-2": [*MANAGE, "serve", "--only", "monitor", "--no-migrate"],
        }
        processes = {
            role: stack.enter_context(running(command, env, tmp_path / f"{role}.log"))
            for role, command in roles.items()
        }
        wait_until_healthy(base, processes["web"], tmp_path / "web.log", timeout=60)

        def topology() -> tuple[float, float]:
            samples = scrape(base, key)
            return samples[("netmon_task_clusters", ())], samples[("netmon_monitor_loops", ())]

        wait_until(lambda: topology() == (2, 2), 60, "two task clusters and two monitor loops")

        tokens = django_json(
            CREATE_HOSTS.format(
                waves=WAVES,
                per_wave=SILENT_HOSTS // WAVES,
                first_deadline=1.0,
                wave_gap=1.5,
                steady=STEADY_HOSTS,
            ),
            env,
        )
        stop = threading.Event()
        beats = Counter()

        def keep_beating():
            while not stop.is_set():
                for host_id, token in tokens.items():
                    response = requests.post(
                        f"{base}/api/v1/heartbeat/{host_id}",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=10,
                    )
                    beats[response.status_code] += 1
                stop.wait(1.0)

        beating = threading.Thread(target=keep_beating)
        beating.start()
        try:
            wait_until(
                lambda: len(discord.embeds) >= SILENT_HOSTS,
                timeout=60,
                what=f"{SILENT_HOSTS} embeds at the fake Discord",
                interval=0.5,
            )
            time.sleep(2.0)  # time for a duplicate to show up, were there one
        finally:
            stop.set()
            beating.join()

        titles = Counter(embed["title"] for embed in discord.embeds)
        assert titles == Counter({f"{host_id} is down": 1 for host_id in silent})
        assert set(beats) == {200} and beats[200] >= STEADY_HOSTS
        outcome = django_json(OUTCOME, env)
        assert outcome == {
            "down": sorted(silent),
            "up": sorted(tokens),
            "flips": SILENT_HOSTS,
            "alerts": sorted(silent),
            "other_alerts": [],
            "alert_states": ["delivered"],
            "deliveries": SILENT_HOSTS,
            "sent": SILENT_HOSTS,
        }

        samples = scrape(base, key)
        assert samples[("netmon_hosts", (("status", "down"),))] == SILENT_HOSTS
        assert samples[("netmon_task_clusters", ())] == 2
        assert samples[("netmon_monitor_loops", ())] == 2
        marked = sum(
            v
            for (name, _), v in samples.items()
            if name == "netmon_monitor_hosts_marked_down_total"
        )
        assert marked <= SILENT_HOSTS  # written every 5 s: may lag, never over-count
        [info] = [labels for name, labels in samples if name == "netmon_build_info"]
        assert dict(info)["task_broker"] == "redis" and dict(info)["database"] == "postgresql"
        assert redis_db.dbsize() > 0  # the cache and the cluster's stats lived in Redis

        for role, process in processes.items():
            assert process.poll() is None, f"{role} died: {(tmp_path / f'{role}.log').read_text()}"
        for role in roles:
            assert "Traceback" not in (tmp_path / f"{role}.log").read_text(), role
