"""Maintenance windows through the monitor cycle, the API and the command: a window
holds exactly its scope's alerts, alerts due before it are not withheld, its end gives a
fresh deadline, recurring windows follow their time zone across DST."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from alerts.models import Alert
from hosts.models import Host
from maintenance.models import MaintenanceWindow
from maintenance.windows import close_ended, create_window
from tests.monitoring_support import sweep_and_alert

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
PERIOD = 90  # seconds: every host below beats every 60 s with 30 s grace


def at(seconds: float):
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


def cycle(seconds: float) -> list[str]:
    with at(seconds):
        return sweep_and_alert(T0 + timedelta(seconds=seconds))


def beat(client, host_id: str, token: str, seconds: float) -> None:
    with at(seconds):
        response = client.post(f"/api/v1/heartbeat/{host_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


@pytest.fixture
def fleet(client, make_host) -> dict[str, str]:
    """office01 and office02 (tag office), lab01 (tag lab), each heard from at T0."""
    tokens = {}
    for host_id, tags in [("office01", ["office"]), ("office02", ["office"]), ("lab01", ["lab"])]:
        with at(0):
            _, tokens[host_id] = make_host(
                host_id, frequency_seconds=60, grace_seconds=30, tags=tags
            )
        beat(client, host_id, tokens[host_id], 0)
    return tokens


def down_alerts() -> list[str]:
    return sorted(Alert.objects.filter(kind="host_down").values_list("host__host_id", flat=True))


def window(starts: float, ends: float, **scope) -> MaintenanceWindow:
    return create_window(
        reason="UPS swap",
        starts_at=T0 + timedelta(seconds=starts),
        ends_at=T0 + timedelta(seconds=ends),
        **scope,
    )


def test_a_window_over_a_tag_holds_exactly_those_hosts(fleet):
    window(30, 3600, tags=["office"])

    assert cycle(PERIOD) == ["lab01"]
    assert cycle(1800) == []

    assert down_alerts() == ["lab01"]
    statuses = dict(Host.objects.values_list("host_id", "status"))
    assert statuses == {"office01": "up", "office02": "up", "lab01": "down"}


def test_at_its_end_a_silent_host_is_alerted_one_period_later(fleet, client):
    window(30, 3600, tags=["office"])
    beat(client, "office02", fleet["office02"], 1000)  # during the window, then silent

    assert cycle(3600) == ["lab01"]  # outside the window; the office hosts start afresh
    beat(client, "office02", fleet["office02"], 3650)  # back after the work
    assert cycle(3600 + PERIOD - 1) == []
    assert cycle(3600 + PERIOD) == ["office01"]

    assert down_alerts() == ["lab01", "office01"]
    assert MaintenanceWindow.objects.get().closed_at == T0 + timedelta(seconds=3600)


def test_alerts_due_before_the_window_are_not_withheld(fleet):
    window(PERIOD + 5, 3600, everything=True)  # opened 5 s after the deadlines passed

    assert sorted(cycle(PERIOD + 6)) == ["lab01", "office01", "office02"]


def test_a_window_for_one_host_leaves_the_others_alone(fleet, make_host):
    office01 = Host.objects.get(host_id="office01")
    window(30, 3600, hosts=[office01])

    assert sorted(cycle(PERIOD)) == ["lab01", "office02"]


def test_the_end_is_handled_once_however_many_monitors_ask(fleet):
    window(30, 600, everything=True)

    with at(600):
        assert close_ended(T0 + timedelta(seconds=600)) == 1
        assert close_ended(T0 + timedelta(seconds=600)) == 0


BERLIN = ZoneInfo("Europe/Berlin")


def test_a_daily_window_follows_its_time_zone_across_the_dst_change(make_host):
    """Every night 01:30–02:30 Berlin time; on 29 March 2026 the clocks go 02:00 → 03:00."""
    with time_machine.travel(datetime(2026, 3, 27, 12, tzinfo=BERLIN), tick=False):
        nightly = create_window(
            reason="backups",
            starts_at=datetime(2026, 3, 27, 12, tzinfo=BERLIN),
            length=timedelta(hours=1),
            recurrence="30 1 * * *",
            timezone="Europe/Berlin",
            everything=True,
        )
    starts, lengths = [], []
    for _ in range(4):
        nightly.refresh_from_db()
        starts.append(nightly.starts_at.astimezone(BERLIN))
        lengths.append(nightly.ends_at - nightly.starts_at)
        close_ended(nightly.ends_at)

    assert [(s.day, s.hour, s.minute, s.utcoffset()) for s in starts] == [
        (28, 1, 30, timedelta(hours=1)),
        (29, 1, 30, timedelta(hours=1)),
        (30, 1, 30, timedelta(hours=2)),
        (31, 1, 30, timedelta(hours=2)),
    ]
    # An hour each, also the night the clock jumps (01:30 CET to 03:30 CEST).
    assert lengths == [timedelta(hours=1)] * 4


def test_a_window_starting_in_the_skipped_hour_starts_at_the_end_of_the_gap():
    with time_machine.travel(datetime(2026, 3, 28, 12, tzinfo=BERLIN), tick=False):
        nightly = create_window(
            reason="updates",
            starts_at=datetime(2026, 3, 28, 12, tzinfo=BERLIN),
            length=timedelta(minutes=30),
            recurrence="30 2 * * *",
            timezone="Europe/Berlin",
            everything=True,
        )
    assert nightly.starts_at.astimezone(BERLIN) == datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN)


# The API ------------------------------------------------------------------------------------


def test_the_api_opens_ends_and_extends_windows(api, fleet):
    created = api.post(
        "/api/v1/maintenance",
        {"reason": "UPS swap", "tags": ["office"], "duration_seconds": 7200},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "open" and body["tags"] == ["office"]
    assert body["created_by"].startswith("API key")

    later = body["ends_at"].replace("Z", "+00:00")
    extended = api.post(
        f"/api/v1/maintenance/{body['id']}/extend",
        {"ends_at": (datetime.fromisoformat(later) + timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert extended.status_code == 200, extended.json()
    ended = api.post(f"/api/v1/maintenance/{body['id']}/end")
    assert ended.status_code == 200 and ended.json()["state"] in ("open", "ended")
    assert api.get("/api/v1/maintenance").json()["count"] == 1


def test_a_window_that_has_not_started_is_cancelled_by_ending_it(api, fleet):
    created = api.post(
        "/api/v1/maintenance",
        {
            "reason": "later",
            "everything": True,
            "starts_at": "2099-01-01T00:00:00Z",
            "ends_at": "2099-01-01T02:00:00Z",
        },
        format="json",
    ).json()
    assert created["state"] == "upcoming"

    assert api.post(f"/api/v1/maintenance/{created['id']}/end").status_code == 204
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x", "duration_seconds": 60}, "everything"),
        ({"reason": "x", "everything": True}, "ends_at"),
        ({"reason": "x", "everything": True, "duration_seconds": 60 * 86400}, "ends_at"),
        (
            {
                "reason": "x",
                "everything": True,
                "starts_at": "2099-01-01T02:00:00Z",
                "ends_at": "2099-01-01T01:00:00Z",
            },
            "ends_at",
        ),
        ({"reason": "x", "hosts": ["nosuch"], "duration_seconds": 60}, "hosts"),
        ({"reason": "x", "everything": True, "recurrence": "61 * * * *"}, "recurrence"),
        (
            {
                "reason": "x",
                "everything": True,
                "recurrence": "0 2 * * *",
                "duration_seconds": 60,
                "timezone": "Europe",
            },
            "timezone",
        ),
        ({"reason": "x", "everything": True, "recurrence": "0 2 * * *"}, "duration_seconds"),
        ({"reason": "a\nb", "everything": True, "duration_seconds": 60}, "reason"),
        ({"reason": "x", "tags": ["ok\x00"], "duration_seconds": 60}, "tags"),
    ],
)
def test_bad_windows_are_a_400_naming_the_field(api, fleet, body, field):
    response = api.post("/api/v1/maintenance", body, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not MaintenanceWindow.objects.exists()


def test_a_read_key_reads_windows_but_cannot_open_one(read_key, fleet):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert client.get("/api/v1/maintenance").status_code == 200
    response = client.post(
        "/api/v1/maintenance",
        {"reason": "x", "everything": True, "duration_seconds": 60},
        format="json",
    )
    assert response.status_code == 403 and not MaintenanceWindow.objects.exists()


# The command --------------------------------------------------------------------------------


def test_the_command_starts_lists_extends_and_ends_a_window(fleet):
    out = StringIO()
    call_command(
        "maintenance",
        "start",
        "--tag",
        "office",
        "--for",
        "2h",
        "--reason",
        "UPS swap",
        stdout=out,
    )
    printed = out.getvalue()
    window = MaintenanceWindow.objects.get()
    assert printed.startswith(f"#{window.pk} UPS swap: tag office; ") and "(2 h)" in printed

    out = StringIO()
    call_command("maintenance", "extend", str(window.pk), "--for", "30m", stdout=out)
    assert "(2 h 30 min)" in out.getvalue()
    out = StringIO()
    call_command("maintenance", "list", stdout=out)
    assert f"#{window.pk} UPS swap" in out.getvalue()
    out = StringIO()
    call_command("maintenance", "end", str(window.pk), stdout=out)
    assert out.getvalue().startswith(f"Ended #{window.pk}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "2 hours", "--reason", "x", "--all"], "--for: expected a duration"),
        (["--for", "2h", "--reason", "x"], "everything: Give the window tags or hosts"),
        (["--for", "2h", "--reason", "x", "--host", "nosuch"], "--host: no host"),
        (["--for", "2h", "--reason", "x", "--all", "--every", "bad"], "recurrence:"),
    ],
)
def test_the_command_says_what_is_wrong(fleet, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("maintenance", "start", *args)
    assert not MaintenanceWindow.objects.exists()


# The host's own announcement ------------------------------------------------------------------


def test_a_ping_url_announces_its_hosts_maintenance(client, make_host):
    with at(0):
        host, _ = make_host("nas01", frequency_seconds=60, grace_seconds=30)
        ping = host.rotate_ping_token()
        assert client.get(f"/ping/{ping}").status_code == 200
    with at(30):
        response = client.get(f"/ping/{ping}/maintenance?for=20m")
    assert response.status_code == 200 and response.content == b"OK"

    assert cycle(PERIOD) == []  # rebooting: no alert
    assert cycle(30 + 1200 + PERIOD) == ["nas01"]  # still silent one period after it
    window = MaintenanceWindow.objects.get()
    assert [h.host_id for h in window.hosts.all()] == ["nas01"]
    assert window.reason == "announced by nas01 (ping URL)"


@pytest.mark.parametrize(
    ("query", "status", "answer"),
    [
        ("for=2days", 400, b"invalid for: a duration such as 30m or 2h"),
        ("for=25h", 400, b"invalid for: from 1m to 24h"),
        ("for=10s", 400, b"invalid for: from 1m to 24h"),
    ],
)
def test_a_bad_announcement_is_refused_and_opens_nothing(client, make_host, query, status, answer):
    host, _ = make_host("nas01")
    ping = host.rotate_ping_token()

    response = client.get(f"/ping/{ping}/maintenance?{query}")

    assert (response.status_code, response.content) == (status, answer)
    assert client.get("/ping/not-a-token/maintenance").status_code == 404
    assert not MaintenanceWindow.objects.exists()
