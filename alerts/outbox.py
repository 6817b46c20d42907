"""Writing alerts to the outbox. Call inside the transaction of the change reported."""

from collections.abc import Iterable

from django.conf import settings

from alerts.choices import AlertState
from alerts.markup import Text, as_plain, parts
from alerts.models import Alert, Channel, Delivery
from hosts.models import Host


def dashboard_url(path: str = "/api/v1/dashboard") -> str:
    return f"{settings.NETMON_BASE_URL}{path}"


def queue_alert(
    kind: str,
    severity: str,
    title: str,
    description: Text = "",
    fields: Iterable[tuple[str, Text]] = (),
    host: Host | None = None,
    url: str = "",
    channels: list[Channel] | None = None,
) -> Alert:
    """Queue an alert for every channel its routing rules send it to (``Channel.routes_for``).

    ``channels``, when given, are the channels instead, routing aside: a channel test goes
    to the channel under test, whatever its tags, kinds and severity, and even while it is
    disabled (to try a channel before switching it on); a reminder goes to the channels
    whose own reminder interval is up (hosts/alerting.py). A disabled channel's deliveries
    wait until it is enabled: only the test delivers to it at once (alerts/delivery.py
    ``deliver_now``).

    A channel in its quiet hours holds the alert (below the channel's
    ``quiet_min_severity``) until they end: the delivery is due then, and goes out with
    whatever else is due in the channel's first message after them.

    ``title`` is plain text; ``description`` and field values are alerts/markup.py texts
    (a ``str`` is plain text). Nothing here is markdown: each transport renders the alert
    for its medium, so outside text stays data everywhere.
    """
    fields = list(fields)
    alert = Alert.objects.create(
        kind=kind,
        severity=severity,
        title=title[:300],
        description=as_plain(description),
        fields=[[name, as_plain(value)] for name, value in fields],
        markup={
            "description": parts(description),
            "fields": [[name, parts(value)] for name, value in fields],
        },
        host=host,
        url=url or dashboard_url(),
    )
    deliveries = [
        Delivery(
            alert=alert,
            channel=channel,
            next_attempt_at=channel.held_until(severity, alert.created_at) or alert.created_at,
        )
        for channel in (Channel.routes_for(kind, severity, host) if channels is None else channels)
    ]
    Delivery.objects.bulk_create(deliveries)
    if not deliveries:
        alert.state = AlertState.UNROUTED
        alert.save(update_fields=["state"])
    return alert
