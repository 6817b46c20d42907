"""The JSON webhook's payload: versioned, typed moments, the keys of before, as documented.

Alerts go from the outbox through the deliverer to a local recording server;
docs/alert-payloads.md's example must have the keys that netmon sends.
"""

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from fakes import RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.delivery import dispatch_due
from alerts.models import Alert, Channel
from alerts.outbox import queue_alert
from hosts.models import Host
from tests.monitoring_support import host_goes_down

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parent.parent / "docs" / "alert-payloads.md"


@pytest.fixture
def hook(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    with RecordingServer(Reply(200)) as server:
        Channel.objects.create(name="ops", kind=ChannelKind.WEBHOOK, url=f"{server.url}/hook")
        yield server


def host_down(make_host, hook) -> tuple[Host, dict]:
    host, _ = make_host("web01", name="Web Server 01")
    host.last_heartbeat_at = timezone.now() - timedelta(minutes=10)
    host_goes_down(host, host.last_heartbeat_at, host.last_heartbeat_at + timedelta(minutes=2))
    dispatch_due()
    [request] = hook.requests
    return host, request.json()


def test_the_payload_is_versioned_and_keeps_the_keys_of_before(make_host, hook):
    _, payload = host_down(make_host, hook)

    assert payload["source"] == "netmon" and payload["version"] == 1
    [sent] = payload["alerts"]
    alert = Alert.objects.get()
    assert sent["id"] == alert.pk and sent["kind"] == "host_down"
    assert sent["severity"] == "error" and sent["host_id"] == "web01"
    assert sent["title"] == "Web Server 01 is down"
    assert sent["description"] == "No heartbeat from web01 before its deadline."
    assert sent["url"] == alert.url
    assert datetime.fromisoformat(sent["created_at"]) == alert.created_at
    assert sent["fields"] == {f["name"]: f["value"] for f in sent["field_list"]}


def test_moments_are_typed_as_iso_8601(make_host, hook):
    host, payload = host_down(make_host, hook)

    fields = {f["name"]: f for f in payload["alerts"][0]["field_list"]}
    names = ["Host", "Last seen", "Expected every", "Grace", "Schedule", "Down since"]
    assert list(fields) == names
    last_seen = fields["Last seen"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", last_seen["value"])
    at = datetime.fromisoformat(last_seen["at"])
    assert at.utcoffset() == timedelta(0)
    assert at == host.last_heartbeat_at.replace(microsecond=0)
    down_since = host.last_heartbeat_at + timedelta(minutes=2)
    assert datetime.fromisoformat(fields["Down since"]["at"]) == down_since.replace(microsecond=0)
    assert fields["Host"] == {"name": "Host", "value": "Web Server 01 (web01)"}  # no moment


def test_a_field_that_names_no_moment_has_no_at(hook):
    with transaction.atomic():
        queue_alert(AlertKind.SYSTEM, Severity.ERROR, "x", fields=[("Last seen", "never")])
    dispatch_due()
    [field] = hook.requests[0].json()["alerts"][0]["field_list"]
    assert field == {"name": "Last seen", "value": "never"}


def test_alerts_queued_before_markup_existed_have_the_same_keys(hook):
    with transaction.atomic():
        alert = queue_alert(AlertKind.SYSTEM, Severity.ERROR, "old", fields=[("Disk", "99%")])
    Alert.objects.filter(pk=alert.pk).update(markup={})
    dispatch_due()
    [sent] = hook.requests[0].json()["alerts"]
    assert sent["field_list"] == [{"name": "Disk", "value": "99%"}]
    assert sent["fields"] == {"Disk": "99%"}


def test_the_documented_example_has_the_keys_netmon_sends(make_host, hook):
    _, payload = host_down(make_host, hook)
    [block] = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    example = json.loads(block)

    assert example.keys() == payload.keys()
    assert example["version"] == payload["version"]
    [documented], [sent] = example["alerts"], payload["alerts"]
    assert documented.keys() == sent.keys()
    assert [f.keys() for f in documented["field_list"]] == [f.keys() for f in sent["field_list"]]
    assert list(documented["fields"]) == list(sent["fields"])
