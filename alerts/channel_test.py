"""Sending a test notification to one channel and saying what it answered.

The admin action, the channels page and the API all test a channel this way: one alert
queued for that channel alone (routing aside: a channel that serves only some tags could
not be tested otherwise) and sent at once, so that the answer is what the channel said
instead of "queued".
"""

import math
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from alerts.choices import AlertKind, Severity
from alerts.delivery import deliver_now
from alerts.models import Channel
from alerts.outbox import queue_alert
from alerts.transports import Outcome


@dataclass(frozen=True)
class TestResult:
    """``level``: success, warning (pending: it will be retried) or error."""

    __test__ = False  # not a pytest test class, whatever its name

    level: str
    text: str

    @property
    def delivered(self) -> bool:
        return self.level == "success"


def send_test_notification(channel: Channel, by: str, where: str) -> TestResult:
    with transaction.atomic():
        alert = queue_alert(
            AlertKind.SYSTEM,
            Severity.INFO,
            "Test notification from netmon",
            f"Sent from {where} by {by} at {timezone.now():%Y-%m-%d %H:%M} UTC to test "
            f"the channel {channel.name}.",
            channels=[channel],
        )
    # Outside the transaction: the request may take the channel's whole timeout.
    outcome = deliver_now(alert.deliveries.get())
    return describe(channel, outcome)


def describe(channel: Channel, outcome: Outcome | None) -> TestResult:
    """What a channel test's outcome (``deliver_now``) means for the person who asked."""
    channel.refresh_from_db()
    if outcome is not None and outcome.sent:
        return TestResult("success", "delivered")
    if outcome is not None and outcome.kind in ("payload", "broken"):
        label = "refused" if outcome.kind == "payload" else "broken"
        return TestResult("error", f"{label}: {outcome.error}")
    if outcome is None and channel.broken_at is not None:
        return TestResult("error", f"broken: {channel.broken_reason} (mark it as repaired to send)")
    # Pending: the monitor loop sends it, but not to a disabled channel.
    waits = "" if channel.enabled else "; the channel is disabled: it waits until enabled"
    wait = (channel.send_after - timezone.now()).total_seconds() if channel.send_after else 0
    if outcome is None:
        busy = f"may send again in {math.ceil(wait)} s" if wait > 0 else "is busy"
        return TestResult("warning", f"still pending (the channel {busy}){waits}")
    if outcome.kind == "rate_limited":
        return TestResult(
            "warning", f"rate limited, will retry in {math.ceil(max(wait, 0))} s{waits}"
        )
    return TestResult("error", f"failing: {outcome.error} (it stays queued for retry){waits}")
