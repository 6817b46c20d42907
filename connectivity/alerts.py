"""What an outage of our own link alerts: when it opens, and when it ends with its duration.

Both go through the outbox, queued by the monitor loop from the outage row
(connectivity/events.py) within one cycle of the check that opened or closed it. While the
link is down the outbox cannot deliver to Discord; it retries, so both usually arrive once
the link is back, e.g. "Internet was down 14:02–14:37 UTC (35 min)".

Target names come from the configuration and errors from the network: both go in as data
(alerts/markup.py), never as markdown.
"""

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings

from alerts.choices import AlertKind, Severity
from alerts.markup import timestamp
from alerts.outbox import queue_alert
from netmon.durations import human_duration

if TYPE_CHECKING:
    from connectivity.models import Outage

MAX_LISTED = 10


def span_text(start: datetime, end: datetime) -> str:
    """``14:02–14:37 UTC``; with dates when the span crosses midnight (UTC)."""
    if start.date() == end.date():
        return f"{start:%H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def _targets_text(outage: "Outage") -> str:
    lines = [
        f"{entry['target']}: {entry['error']} ({entry['failures']}×)"
        for entry in outage.failing_targets[:MAX_LISTED]
    ]
    if len(outage.failing_targets) > MAX_LISTED:
        lines.append(f"… and {len(outage.failing_targets) - MAX_LISTED} more")
    return "\n".join(lines) or "-"


def _url(outage: "Outage") -> str:
    return f"{settings.NETMON_BASE_URL}/admin/connectivity/outage/{outage.pk}/change/"


def queue_outage_started(outage: "Outage") -> None:
    """From the outage alone: the check that opened it may be gone (pruned, deleted)."""
    queue_alert(
        AlertKind.OUTAGE_STARTED,
        Severity.ERROR,
        f"Internet down since {outage.started_at:%H:%M} UTC",
        f"{outage.failed_checks} connectivity checks in a row failed, "
        f"{len(outage.failing_targets)} target(s) failing. Host deadlines wait while the "
        "link is down.",
        [
            ("Down since", [timestamp(outage.started_at)]),
            ("Failed checks", str(outage.failed_checks)),
            ("Failing targets", _targets_text(outage)),
        ],
        url=_url(outage),
    )


def queue_outage_ended(outage: "Outage") -> None:
    assert outage.ended_at is not None
    duration = human_duration(outage.duration())
    queue_alert(
        AlertKind.OUTAGE_ENDED,
        Severity.INFO,
        f"Internet was down {span_text(outage.started_at, outage.ended_at)} ({duration})",
        f"The link is back after {duration}. Hosts whose deadline fell inside the outage "
        "get one grace period before they are reported.",
        [
            ("Down from", [timestamp(outage.started_at)]),
            ("Back at", [timestamp(outage.ended_at)]),
            ("Duration", duration),
            ("Failed checks", str(outage.failed_checks)),
            ("Failing targets", _targets_text(outage)),
        ],
        url=_url(outage),
    )
