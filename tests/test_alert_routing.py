"""Which channels an alert goes to: host tags, alert kinds and severity (Channel.routes_for).

Alerts are written by the code that writes them in production (the sweep and the event
step for hosts, the connectivity alerts for an outage), and the test reads the Delivery
rows they left: exactly the expected channels, and no other.
"""

from datetime import time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.choices import AlertKind, AlertState, ChannelKind, Severity
from alerts.models import HOST_KINDS, HOSTLESS_KINDS, Alert, Channel, Delivery
from alerts.outbox import queue_alert
from connectivity.alerts import queue_outage_ended, queue_outage_started
from connectivity.models import Outage
from hosts.models import Host
from tests.monitoring_support import alert_events, sweep_and_alert

pytestmark = pytest.mark.django_db

HOST_TAGS = {
    "office01": ["office"],
    "crit01": ["critical", "office"],
    "pager01": ["critical"],
    "plain01": [],
    "lab01": ["lab"],  # a tag that names no channel
}
CHANNELS = {
    "A office": {"tags": ["office"], "default": False},
    "B pager": {"tags": ["critical"], "default": False, "alert_kinds": [AlertKind.HOST_DOWN]},
    "C default": {},
    "D office and default": {"tags": ["office"]},
    "E default errors": {"min_severity": Severity.ERROR},
    "F disabled": {"enabled": False},
}

# host_down is an error, host_up info, an outage's start an error and its end info, the
# self-check's system alert a warning.
EXPECTED = {
    (AlertKind.HOST_DOWN, "office01"): {"A office", "D office and default"},
    (AlertKind.HOST_DOWN, "crit01"): {"A office", "B pager", "D office and default"},
    (AlertKind.HOST_DOWN, "pager01"): {"B pager"},
    (AlertKind.HOST_DOWN, "plain01"): {"C default", "D office and default", "E default errors"},
    (AlertKind.HOST_DOWN, "lab01"): {"C default", "D office and default", "E default errors"},
    (AlertKind.HOST_UP, "office01"): {"A office", "D office and default"},
    (AlertKind.HOST_UP, "crit01"): {"A office", "D office and default"},
    # Its tag chose B, and B takes only host_down: not passed on to the default channels.
    (AlertKind.HOST_UP, "pager01"): set(),
    (AlertKind.HOST_UP, "plain01"): {"C default", "D office and default"},
    (AlertKind.HOST_UP, "lab01"): {"C default", "D office and default"},
    (AlertKind.OUTAGE_STARTED, None): {"C default", "D office and default", "E default errors"},
    (AlertKind.OUTAGE_ENDED, None): {"C default", "D office and default"},
    (AlertKind.SYSTEM, None): {"C default", "D office and default"},
}


@pytest.fixture
def fleet(make_host) -> dict[str, str]:
    """The hosts, up and overdue, and the channels; returns each host's token."""
    tokens = {}
    for host_id, tags in HOST_TAGS.items():
        host, tokens[host_id] = make_host(host_id, tags=tags)
        Host.objects.filter(pk=host.pk).update(
            status="up",
            last_heartbeat_at=timezone.now() - timedelta(minutes=10),
            next_deadline=timezone.now() - timedelta(seconds=1),
        )
    for name, rules in CHANNELS.items():
        channel = Channel(name=name, kind=ChannelKind.WEBHOOK, url="http://127.0.0.1:9/", **rules)
        channel.full_clean()
        channel.save()
    return tokens


def heartbeat(host_id: str, token: str) -> None:
    response = Client().post(f"/api/v1/heartbeat/{host_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200


def routed() -> dict[tuple[str, str | None], set[str]]:
    """Every alert in the outbox as {(kind, host_id): names of the channels it is queued for}."""
    found = {
        (alert.kind, alert.host.host_id if alert.host else None): set()
        for alert in Alert.objects.select_related("host")
    }
    for delivery in Delivery.objects.select_related("alert__host", "channel"):
        host = delivery.alert.host
        found[(delivery.alert.kind, host.host_id if host else None)].add(delivery.channel.name)
    return found


def test_each_alert_reaches_exactly_the_channels_its_rules_name(fleet, settings):
    settings.DISCORD_WEBHOOK_URL = ""
    now = timezone.now()
    assert sorted(sweep_and_alert(now)) == sorted(HOST_TAGS)
    for host_id, token in fleet.items():
        heartbeat(host_id, token)
    alert_events()
    outage = Outage.objects.create(started_at=now, opened_at=now, failed_checks=3)
    with transaction.atomic():
        queue_outage_started(outage)
        Outage.objects.filter(pk=outage.pk).update(ended_at=now + timedelta(minutes=5))
        outage.refresh_from_db()
        queue_outage_ended(outage)
        queue_alert(AlertKind.SYSTEM, Severity.WARNING, "netmon self-check: disk")

    assert routed() == EXPECTED
    assert Alert.objects.get(kind=AlertKind.HOST_UP, host__host_id="pager01").state == (
        AlertState.UNROUTED
    )


def test_a_host_whose_tagged_channel_is_off_goes_to_the_default_channels(fleet, settings):
    settings.DISCORD_WEBHOOK_URL = ""
    Channel.objects.filter(name="B pager").update(enabled=False)

    sweep_and_alert(timezone.now())

    found = routed()
    assert found[(AlertKind.HOST_DOWN, "pager01")] == {
        "C default",
        "D office and default",
        "E default errors",
    }
    assert found[(AlertKind.HOST_DOWN, "crit01")] == {"A office", "D office and default"}


def test_channels_made_before_routing_receive_everything(make_host, settings):
    """What the migration gives existing channels: all kinds, no tags, a default channel."""
    settings.DISCORD_WEBHOOK_URL = "http://127.0.0.1:9/api/webhooks/1/secret"
    Channel.objects.create(name="Old", kind=ChannelKind.WEBHOOK, url="http://127.0.0.1:9/")
    host, _ = make_host("office01", tags=["office"])

    with transaction.atomic():
        alert = queue_alert(AlertKind.FINDING, Severity.INFO, "Brute force", host=host)

    assert sorted(alert.deliveries.values_list("channel__name", flat=True)) == [
        "Discord (DISCORD_WEBHOOK_URL)",
        "Old",
    ]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"alert_kinds": ["host_exploded"]}, "alert_kinds"),
        ({"alert_kinds": "host_down"}, "alert_kinds"),
        ({"tags": "office"}, "tags"),
        ({"tags": [7]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"tags": ["office\nlab"]}, "tags"),
        ({"tags": ["office\x85"]}, "tags"),
        ({"quiet_from": time(22)}, "quiet_until"),
        ({"quiet_until": time(7)}, "quiet_from"),
        ({"quiet_from": time(7), "quiet_until": time(7)}, "quiet_until"),
        ({"quiet_timezone": "Europe"}, "quiet_timezone"),
    ],
)
def test_routing_rules_are_validated(rules, field):
    channel = Channel(name="Team", kind=ChannelKind.WEBHOOK, url="http://127.0.0.1:9/", **rules)

    with pytest.raises(ValidationError) as error:
        channel.full_clean()

    assert list(error.value.message_dict) == [field]


def test_longest_tags_and_every_kind_are_accepted():
    Channel(
        name="Team",
        kind=ChannelKind.WEBHOOK,
        url="http://127.0.0.1:9/",
        tags=["x" * 50, "floor 2, room 3"],
        alert_kinds=list(AlertKind.values),
        default=False,
    ).full_clean()


def test_the_admin_edits_the_rules_and_lists_them(db):
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", password="pw-1"))
    form = {
        "name": "Office Telegram",
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "enabled": "on",
        "min_severity": "warning",
        "quiet_min_severity": "critical",
        "alert_kinds": ["host_down", "host_up"],
        "tags": "office\r\n floor 2, room 3 \r\n\r\n",
    }

    response = browser.post("/admin/alerts/channel/add/", form, follow=True)

    assert response.status_code == 200
    channel = Channel.objects.get()
    assert (channel.alert_kinds, channel.tags, channel.default) == (
        ["host_down", "host_up"],
        ["office", "floor 2, room 3"],
        False,
    )
    listing = browser.get("/admin/alerts/channel/").content.decode()
    assert "host_down, host_up" in listing
    assert "office, floor 2, room 3" in listing
    change = browser.get(f"/admin/alerts/channel/{channel.pk}/change/").content.decode()
    assert "office\nfloor 2, room 3</textarea>" in change

    refused = browser.post(
        f"/admin/alerts/channel/{channel.pk}/change/", {**form, "tags": "", "url": ""}
    )
    assert "default" in refused.context["adminform"].form.errors
    channel.refresh_from_db()
    assert channel.tags == ["office", "floor 2, room 3"]


# The routes API ----------------------------------------------------------------------------


@pytest.fixture
def reader(fleet, read_key, settings) -> APIClient:
    settings.DISCORD_WEBHOOK_URL = ""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    return client


def route(name: str, kinds, matched: list[str], min_severity: str = Severity.INFO) -> dict:
    return {
        "name": name,
        "kind": "webhook",
        "target": "http://127.0.0.1:9/****",
        "min_severity": min_severity,
        "alert_kinds": list(kinds),
        "matched_tags": matched,
        "lists_host": False,
        "quiet_hours": "",
        "reminder_interval_seconds": 0,
    }


def test_routes_of_a_host_name_its_channels_and_kinds(reader):
    response = reader.get("/api/v1/alerts/routes", {"host_id": "crit01"})

    assert response.status_code == 200
    assert response.json() == {
        "host_id": "crit01",
        "tags": ["critical", "office"],
        "channels": [
            route("A office", HOST_KINDS, ["office"]),
            route("B pager", [AlertKind.HOST_DOWN], ["critical"]),
            route("D office and default", HOST_KINDS, ["office"]),
        ],
        "unrouted_kinds": [],
    }


def test_routes_show_the_kinds_no_channel_takes(reader):
    answer = reader.get("/api/v1/alerts/routes", {"host_id": "pager01"}).json()

    assert answer["channels"] == [route("B pager", [AlertKind.HOST_DOWN], ["critical"])]
    assert answer["unrouted_kinds"] == [kind for kind in HOST_KINDS if kind != "host_down"]


def test_routes_without_a_host_are_those_of_network_and_system_alerts(reader):
    answer = reader.get("/api/v1/alerts/routes").json()

    assert answer == {
        "host_id": None,
        "tags": [],
        "channels": [
            route("C default", HOSTLESS_KINDS, []),
            route("D office and default", HOSTLESS_KINDS, []),
            route("E default errors", HOSTLESS_KINDS, [], Severity.ERROR),
        ],
        "unrouted_kinds": [],
    }


def test_routes_of_an_unknown_host_are_a_400_naming_the_parameter(reader):
    response = reader.get("/api/v1/alerts/routes", {"host_id": "nosuchhost"})

    assert response.status_code == 400
    assert list(response.json()) == ["host_id"]


def test_routes_need_read_access(fleet):
    assert APIClient().get("/api/v1/alerts/routes").status_code in (401, 403)


def test_a_channel_that_lists_a_host_chooses_it_like_a_tag(reader, settings):
    channel = Channel.objects.create(
        name="F plain phone",
        kind=ChannelKind.WEBHOOK,
        url="http://127.0.0.1:9/",
        default=False,
        quiet_from=time(22),
        quiet_until=time(7),
        quiet_timezone="Europe/Berlin",
    )
    channel.hosts.add(Host.objects.get(host_id="plain01"))

    sweep_and_alert(timezone.now())
    answer = reader.get("/api/v1/alerts/routes", {"host_id": "plain01"}).json()

    assert routed()[(AlertKind.HOST_DOWN, "plain01")] == {"F plain phone"}
    assert routed()[(AlertKind.HOST_DOWN, "lab01")] == {
        "C default",
        "D office and default",
        "E default errors",
    }
    assert answer["channels"] == [
        {
            **route("F plain phone", HOST_KINDS, []),
            "lists_host": True,
            "quiet_hours": "22:00–07:00 Europe/Berlin, except critical and above",
        }
    ]
