"""netmon's own gaps are not its hosts' silence: after serve is stopped and started again,
after its web server is killed and restarted, and after a host is resumed, only a host
that really stays silent is alerted — one period (frequency + grace) after netmon could
hear it again. Real ``manage.py serve`` processes, real heartbeats over HTTP sent from
threads on each host's own schedule, alerts counted at a fake Discord.

Every host here has frequency 10 s and grace 5 s. The timings are chosen so that a
deadline falls inside each gap (or just after it); each test also checks that it did, so
that none can pass by missing the interesting case.
"""

import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import requests
from fakes import FakeDiscord

from tests.processes import (
    MANAGE,
    children,
    descendants,
    django_json,
    free_port,
    manage,
    process_database,
    process_env,
    running,
    tagged_processes,
    tests_use_postgres,
    wait_for_exit,
    wait_until,
    wait_until_healthy,
)

pytestmark = pytest.mark.process

FREQUENCY = 10
GRACE = 5
PERIOD = FREQUENCY + GRACE
# From a deadline to the alert at Discord: a sweep (every second), the delivery task
# queued and picked up by the task cluster (broker polled every 0.2 s), the POST itself.
LOOP_MARGIN = 5.0

CREATE_HOSTS = """
from hosts.models import Host
tokens = {{}}
for host_id in {host_ids!r}:
    host = Host(host_id=host_id, name=host_id, frequency_seconds={frequency},
                grace_seconds={grace})
    tokens[host_id] = host.set_new_token()
    host.save()
print(json.dumps(tokens))
"""


def create_hosts(env: dict[str, str], *host_ids: str) -> dict[str, str]:
    """Hosts at FREQUENCY + GRACE, schedule ``always``; their tokens by host_id."""
    code = CREATE_HOSTS.format(host_ids=list(host_ids), frequency=FREQUENCY, grace=GRACE)
    return django_json(code, env)


def create_api_key(env: dict[str, str], access: str) -> str:
    result = manage(
        "create_api_key", "--name", f"restart tests {access}", "--access", access, env=env
    )
    match = re.search(r"Authorization: Bearer (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def serve_command(port: int) -> list[str]:
    return [*MANAGE, "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]


@dataclass(frozen=True)
class Beat:
    sent_at: float  # time.monotonic()
    answered_at: float
    status: int | None  # None: nothing answered (serve down, or the client's timeout)


class Heartbeats:
    """One host's heartbeats from a thread at ``first_at + k * every`` (monotonic), like a
    cron job on the host: whatever happens to serve, each heartbeat goes out on time, and
    one that finds no server is lost, not retried."""

    def __init__(
        self, base_url: str, host_id: str, token: str, first_at: float, every: float, count=None
    ) -> None:
        self.url = f"{base_url}/api/v1/heartbeat/{host_id}"
        self.host_id, self.token = host_id, token
        self.first_at, self.every, self.count = first_at, every, count
        self.beats: list[Beat] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeats {host_id}")

    def start(self) -> "Heartbeats":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=FREQUENCY)

    def _run(self) -> None:
        sent = 0
        while self.count is None or sent < self.count:
            due = self.first_at + sent * self.every
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self.beats.append(self._send())
            sent += 1

    def _send(self) -> Beat:
        sent_at = time.monotonic()
        try:
            status = requests.post(
                self.url,
                headers={"Authorization": f"Bearer {self.token}"},
                data=f"heartbeat {len(self.beats)}",
                timeout=FREQUENCY / 2,  # shorter than the cadence: the next one goes on time
            ).status_code
        except requests.RequestException:
            status = None
        return Beat(sent_at, time.monotonic(), status)

    def answered(self) -> list[Beat]:
        return [beat for beat in self.beats if beat.status == 200]

    def longest_silence(self) -> float:
        """The longest time netmon certainly heard nothing from this host: from one
        accepted heartbeat's answer to the next accepted one's sending."""
        accepted = self.answered()
        return max(
            (later.sent_at - earlier.answered_at for earlier, later in pairwise(accepted)),
            default=0.0,
        )

    def describe(self, origin: float) -> str:
        beats = [f"{b.sent_at - origin:+.1f} s: {b.status or 'no answer'}" for b in self.beats]
        return f"{self.host_id} heartbeats: {', '.join(beats)}"


@pytest.fixture
def heartbeats():
    """Start ``Heartbeats`` senders; every one is stopped when the test ends, passed or not."""
    started: list[Heartbeats] = []

    def start(*args, **kwargs) -> Heartbeats:
        sender = Heartbeats(*args, **kwargs).start()
        started.append(sender)
        return sender

    yield start
    for sender in started:
        sender.stop()


def alerts(discord: FakeDiscord) -> list[tuple[str, float]]:
    """Title and arrival time (monotonic) of each alert Discord accepted, in order."""
    found = []
    for request in list(discord.requests):
        if request.reply is not None and 200 <= request.reply.status < 300:
            for embed in request.json().get("embeds") or []:
                found.append((embed.get("title", ""), request.received_at))
    return found


def timeline(discord: FakeDiscord, origin: float, what: str, senders=()) -> str:
    """What arrived, in seconds from ``origin`` (``what``), for the failure messages."""
    lines = [f"alerts, in seconds from {what}:"]
    lines += [f"  {title!r} at {at - origin:+.1f} s" for title, at in alerts(discord)] or ["  none"]
    lines += [sender.describe(origin) for sender in senders]
    return "\n".join(lines)


def sleep_until(moment: float) -> None:
    """Let wall-clock time pass up to ``moment`` (monotonic): the tests watch that nothing
    is alerted over a stretch of time, which nothing observable can shorten."""
    time.sleep(max(0.0, moment - time.monotonic()))


# The long gaps take minutes by nature and nothing in them depends on the database: they run
# in the suite's SQLite pass (scripts/test.sh runs both); the 5 s gap runs in both passes.
LONG_GAP = pytest.mark.skipif(
    tests_use_postgres(), reason="long restart gaps run in the SQLite pass of the suite"
)


@pytest.mark.parametrize(
    "gap", [5, pytest.param(30, marks=LONG_GAP), pytest.param(120, marks=LONG_GAP)]
)
def test_a_restart_of_serve_alerts_only_the_host_that_is_really_dead(tmp_path, heartbeats, gap):
    """serve is stopped with SIGTERM just after a heartbeat of live-a and started again
    ``gap`` seconds after it exited, on the same data directory and database.

    - live-b's last heartbeat before the stop was 5 s earlier: its deadline falls 10 s
      after the stop, and its next heartbeat (5 s after the stop) finds no server — in the
      gap, or (5 s gap) within a grace period after it. Without forgiveness it is alerted.
    - live-a's deadline falls 15 s after the stop: in the longer gaps, in it.
    - dead sent one heartbeat 10 s before the stop and no more: its deadline falls 5 s
      after the stop, in the gap. It must be alerted once netmon has had one full period
      to hear from it after the restart: not at the restart (a storm), not never.
    """
    with FakeDiscord() as discord, process_database(tmp_path) as database_url:

        def environment() -> dict[str, str]:
            # one per serve: leaving a `running` block kills every process of its tag
            return process_env(tmp_path, database_url, DISCORD_WEBHOOK_URL=discord.webhook_url)

        env = environment()
        tokens = create_hosts(env, "live-a", "live-b", "dead")
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        first, first_log = environment(), tmp_path / "serve1.log"
        with running(serve_command(port), first, first_log) as serve:
            wait_until_healthy(base, serve, first_log)
            t0 = time.monotonic()
            live = [
                heartbeats(base, "live-a", tokens["live-a"], t0, FREQUENCY),
                heartbeats(base, "live-b", tokens["live-b"], t0 + FREQUENCY / 2, FREQUENCY),
            ]
            dead = heartbeats(base, "dead", tokens["dead"], t0, FREQUENCY, count=1)
            wait_until(lambda: len(live[0].beats) == 2, FREQUENCY + 10, "live-a's second heartbeat")
            stopped_at = time.monotonic()
            senders = [*live, dead]
            before = [beat for sender in senders for beat in sender.beats]
            assert [beat.status for beat in before] == [200] * 4, timeline(
                discord, t0, "the first heartbeat", senders
            )
            serve.send_signal(signal.SIGTERM)
            assert wait_for_exit(serve, timeout=40) == 0
        wait_until(lambda: tagged_processes(first) == [], 10, "the processes of serve to exit")
        exited_at = time.monotonic()
        # The design needs dead's deadline (t0 + 15) after the monitor stopped.
        assert exited_at < t0 + PERIOD, f"serve took {exited_at - stopped_at:.1f} s to stop"
        assert alerts(discord) == [], timeline(discord, stopped_at, "the stop", senders)

        time.sleep(gap)  # the gap itself: heartbeats keep going out, and find no server

        second, second_log = environment(), tmp_path / "serve2.log"
        restarted_at = time.monotonic()
        with running(serve_command(port), second, second_log) as serve:
            wait_until_healthy(base, serve, second_log)
            back_at = time.monotonic()
            sleep_until(back_at + 2 * PERIOD)
            report = timeline(discord, restarted_at, "the restart", senders) + (
                f"\n(stopped at {stopped_at - restarted_at:+.1f} s, exited at "
                f"{exited_at - restarted_at:+.1f} s, healthy again at "
                f"{back_at - restarted_at:+.1f} s)"
            )
            for sender in live:
                assert [b for b in sender.answered() if b.sent_at > back_at], report
            # Not vacuous: a live host went past its deadline without being heard.
            assert max(sender.longest_silence() for sender in live) > PERIOD, report
            assert [title for title, _ in alerts(discord)] == ["dead is down"], report
            [(_, alerted_at)] = alerts(discord)
            assert restarted_at + PERIOD <= alerted_at <= back_at + PERIOD + LOOP_MARGIN, report


def patch_host(base: str, key: str, host_id: str, **fields) -> dict:
    response = requests.patch(
        f"{base}/api/v1/hosts/{host_id}",
        json=fields,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_resumed_host_is_alerted_one_period_later_unless_it_reports(tmp_path, heartbeats):
    """Two hosts report once, are paused through the API and fall silent until well past
    their old deadlines, then are resumed. Resuming gives each a fresh deadline, resume
    time + frequency + grace: ``silent`` stays silent and is alerted then — not at the
    resume (its old deadline is long gone), and not never (as a host that waits for its
    first heartbeat would be); ``talker`` reports every 10 s from 10 s after its resume and
    is never alerted."""
    with FakeDiscord() as discord, process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url, DISCORD_WEBHOOK_URL=discord.webhook_url)
        tokens = create_hosts(env, "silent", "talker")
        key = create_api_key(env, "write")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        with running(serve_command(port), env, log) as serve:
            wait_until_healthy(base, serve, log)
            first = [
                heartbeats(base, host_id, tokens[host_id], time.monotonic(), FREQUENCY, count=1)
                for host_id in ("silent", "talker")
            ]
            wait_until(lambda: all(s.beats for s in first), 10, "the first heartbeats")
            assert [s.beats[0].status for s in first] == [200, 200]
            last_beat = max(s.beats[0].answered_at for s in first)
            for host_id in ("silent", "talker"):
                paused = patch_host(base, key, host_id, paused=True)
                assert paused["paused"] is True, paused

            sleep_until(last_beat + PERIOD + 2)  # both old deadlines pass while paused
            assert alerts(discord) == [], timeline(discord, last_beat, "the last heartbeat")

            resumed_at = time.monotonic()
            wall_before = datetime.now(UTC)
            resumed = patch_host(base, key, "silent", paused=False)
            wall_after = datetime.now(UTC)
            assert resumed["paused"] is False, resumed
            assert resumed["next_deadline"] is not None, resumed
            fresh = datetime.fromisoformat(resumed["next_deadline"])
            period, slack = timedelta(seconds=PERIOD), timedelta(seconds=0.5)
            assert wall_before + period - slack <= fresh <= wall_after + period + slack, resumed
            talker_resumed_at = time.monotonic()
            patch_host(base, key, "talker", paused=False)
            talker = heartbeats(
                base, "talker", tokens["talker"], talker_resumed_at + FREQUENCY, FREQUENCY
            )

            sleep_until(talker_resumed_at + 2 * PERIOD + 2)
            report = timeline(discord, resumed_at, "the resume", [talker])
            assert len(talker.beats) >= 2 and talker.answered() == talker.beats, report
            assert [title for title, _ in alerts(discord)] == ["silent is down"], report
            [(_, alerted_at)] = alerts(discord)
            assert resumed_at + PERIOD <= alerted_at <= resumed_at + PERIOD + LOOP_MARGIN, report


def heartbeats_received(base: str, key: str, host_id: str) -> list[datetime]:
    response = requests.get(
        f"{base}/api/v1/heartbeat/{host_id}/history",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return sorted(
        datetime.fromisoformat(beat["received_at"]) for beat in response.json()["results"]
    )


def host_deadline(base: str, key: str, host_id: str) -> datetime:
    response = requests.get(
        f"{base}/api/v1/hosts/{host_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["next_deadline"])


def test_heartbeats_held_up_by_a_web_server_restart_do_not_alert(tmp_path, heartbeats):
    """Only the web server dies (SIGKILL to serve's gunicorn); serve starts a new one after
    its 1 s back-off, and meanwhile keeps the listening socket, so heartbeats sent in
    between wait in its backlog and are recorded only when the new gunicorn takes them
    (1.5–3 s after the kill here; never sooner than the back-off).

    steady-a and steady-b report every 14.5 s — late by their 10 s frequency, 0.5 s inside
    its 5 s grace, so never down. The kill comes 0.2 s before steady-a's next heartbeat:
    their deadlines fall 0.7 s and 1.0 s after the kill, while the web server is down, and
    their heartbeats, sent in time, are recorded after them (checked through the heartbeat
    history: the test fails rather than prove nothing if the web server came back too
    soon). The monitor loop keeps running, sweeping every 0.25 s so that it would see those
    deadlines pass; neither host may be alerted. dead, whose deadline falls in the same
    outage and which never reports again, is alerted one period after the outage."""
    every = PERIOD - 0.5
    with FakeDiscord() as discord, process_database(tmp_path) as database_url:
        env = process_env(
            tmp_path,
            database_url,
            DISCORD_WEBHOOK_URL=discord.webhook_url,
            SWEEP_INTERVAL_SECONDS="0.25",
        )
        tokens = create_hosts(env, "steady-a", "steady-b", "dead")
        key = create_api_key(env, "read")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        with running(serve_command(port), env, log) as serve:
            wait_until_healthy(base, serve, log)
            t0 = time.monotonic()
            steady = [
                heartbeats(base, "steady-a", tokens["steady-a"], t0, every),
                heartbeats(base, "steady-b", tokens["steady-b"], t0 + 0.3, every),
            ]
            dead = heartbeats(base, "dead", tokens["dead"], t0, every, count=1)
            senders = [*steady, dead]
            wait_until(lambda: all(s.beats for s in senders), 10, "the first heartbeats")
            assert [s.beats[0].status for s in senders] == [200] * 3
            deadlines = {s.host_id: host_deadline(base, key, s.host_id) for s in senders}
            [web] = [child for child in children(serve.pid) if "gunicorn" in child.command]
            # its worker, orphaned by the kill, becomes serve's child until it has stopped
            old_web = {web.pid} | {proc.pid for proc in descendants(web.pid)}

            killed_at = t0 + every - 0.2
            sleep_until(killed_at)
            os.kill(web.pid, signal.SIGKILL)
            wait_until(
                lambda: [
                    c
                    for c in children(serve.pid)
                    if "gunicorn" in c.command and c.pid not in old_web
                ],
                30,
                "a new web server",
            )
            wait_until_healthy(base, serve, log)
            back_at = time.monotonic()
            sleep_until(back_at + 2 * PERIOD)

            report = timeline(discord, killed_at, "the kill", senders) + (
                f"\n(web server answering again at {back_at - killed_at:+.1f} s)"
            )
            held_up = {}
            for sender in steady:
                assert [b for b in sender.answered() if b.sent_at > back_at], report
                received = heartbeats_received(base, key, sender.host_id)
                assert len(received) >= 3, report
                # received[0] came before the kill; received[1] is the one held up
                held_up[sender.host_id] = received[1] - deadlines[sender.host_id]
            report += f"\nheld-up heartbeats recorded this long after the deadline: {held_up}"
            assert any(late > timedelta(0) for late in held_up.values()), report
            assert [title for title, _ in alerts(discord)] == ["dead is down"], report
            [(_, alerted_at)] = alerts(discord)
            assert killed_at + PERIOD <= alerted_at <= back_at + PERIOD + LOOP_MARGIN, report
