"""Getting alerts out of the outbox, in order, at least once, within rate limits.

The monitor loop calls ``dispatch_due`` every cycle. For each channel with due
deliveries it takes a lease (one deliverer per channel keeps alerts in order)
and queues ``deliver_channel`` for a task worker. A worker that dies leaves
its deliveries pending; the lease expires and the next dispatch retries them.
"""

import random
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from alerts.choices import ChannelKind, DeliveryState
from alerts.models import Alert, Channel, Delivery
from alerts.transports import Outcome, Transport, batches_for, transport_for

MAX_BACKOFF_SECONDS = 300
WORK_BUDGET_SECONDS = 45  # below the task timeout; the rest waits for the next dispatch
BURST = (5, 2.0)  # Discord: about 5 requests per 2 s per webhook
PER_MINUTE = (30, 60.0)  # and 30 messages a minute per channel
LONGEST_INLINE_WAIT = 2.5


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)


def dispatch_due() -> int:
    """Queue a delivery task for each channel that has due alerts and is free to send."""
    now = timezone.now()
    channel_ids = (
        Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    started = 0
    for channel_id in list(channel_ids):
        token = uuid.uuid4().hex
        claimed = (
            Channel.objects.filter(pk=channel_id, enabled=True, broken_at__isnull=True)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
            .update(lease_until=now + lease_duration(), lease_token=token)
        )
        if claimed:
            async_task(
                "alerts.delivery.deliver_channel", channel_id, token, task_name="deliver alerts"
            )
            started += 1
    return started


def _renew(channel: Channel, token: str) -> bool:
    """Extend our lease; False if it expired and another deliverer took over."""
    return bool(
        Channel.objects.filter(pk=channel.pk, lease_token=token).update(
            lease_until=timezone.now() + lease_duration()
        )
    )


def deliver_channel(channel_id: int, token: str) -> int:
    """Send the channel's due alerts, oldest first; returns how many were delivered.

    Each message takes every alert due when it is sent (up to the channel's
    batch limit), so alerts that arrive while we wait for the rate limit share
    the next message instead of each waiting for a message of its own.
    """
    channel = Channel.objects.get(pk=channel_id)
    transport = transport_for(channel)
    delivered = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < WORK_BUDGET_SECONDS:
            if not _due_deliveries(channel):
                break
            if not _renew(channel, token) or not _wait_for_budget(channel):
                break
            due = _due_deliveries(channel)  # again: more may have come while we waited
            by_alert = {d.alert_id: d for d in due}
            batch = batches_for(channel, [d.alert for d in due])[0]
            sent, stop = _send(channel, transport, [by_alert[alert.pk] for alert in batch])
            delivered += sent
            if stop:
                break
    finally:
        Channel.objects.filter(pk=channel.pk, lease_token=token).update(
            lease_until=None, lease_token=""
        )
    return delivered


def _due_deliveries(channel: Channel) -> list[Delivery]:
    now = timezone.now()
    due = list(
        Delivery.objects.filter(
            channel=channel, state=DeliveryState.PENDING, next_attempt_at__lte=now
        )
        .select_related("alert", "alert__host")
        .order_by("alert__created_at", "alert_id")[:100]
    )
    give_up_before = now - timedelta(hours=settings.ALERT_RETRY_HOURS)
    expired = [d for d in due if d.alert.created_at < give_up_before]
    for delivery in expired:
        _finish(delivery, DeliveryState.FAILED, f"gave up after {delivery.attempts} attempts")
    return [d for d in due if d not in expired]


def _send(channel: Channel, transport: Transport, deliveries: list[Delivery]) -> tuple[int, bool]:
    """Send one message; returns (alerts delivered, whether to stop for now)."""
    outcome = transport.send([d.alert for d in deliveries])
    _note_send(channel)
    if outcome.kind == "payload" and len(deliveries) > 1:
        # One bad alert must not sink the others: send them one by one.
        delivered = 0
        for delivery in deliveries:
            if not _wait_for_budget(channel):
                return delivered, True
            sent, stop = _send(channel, transport, [delivery])
            delivered += sent
            if stop:
                return delivered, True
        return delivered, False
    _record(channel, deliveries, outcome)
    if outcome.sent:
        return len(deliveries), False
    return 0, outcome.kind != "payload"


def _record(channel: Channel, deliveries: list[Delivery], outcome: Outcome) -> None:
    now = timezone.now()
    if outcome.sent:
        Channel.objects.filter(pk=channel.pk).update(consecutive_failures=0)
        for delivery in deliveries:
            delivery.attempts += 1
            delivery.sent_at = now
            _finish(delivery, DeliveryState.SENT, "")
        return
    if outcome.kind == "payload":
        for delivery in deliveries:
            delivery.attempts += 1
            _finish(delivery, DeliveryState.FAILED, f"refused: {outcome.error}")
        return
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        last_error=outcome.error[:500]
    )
    for delivery in deliveries:
        Delivery.objects.filter(pk=delivery.pk).update(attempts=delivery.attempts + 1)
    if outcome.kind == "broken":
        channel.mark_broken(outcome.error)
    elif outcome.kind == "rate_limited":
        _pause_channel(channel, outcome.retry_after)
    else:
        failures = channel.consecutive_failures + 1
        channel.consecutive_failures = failures
        backoff = min(MAX_BACKOFF_SECONDS, 2**failures) * random.uniform(0.5, 1.0)
        Channel.objects.filter(pk=channel.pk).update(consecutive_failures=failures)
        _pause_channel(channel, backoff)


def _finish(delivery: Delivery, state: str, error: str) -> None:
    delivery.state = state
    delivery.last_error = error[:500]
    delivery.save(update_fields=["state", "last_error", "attempts", "sent_at"])
    Alert.refresh_state(delivery.alert)


def _pause_channel(channel: Channel, seconds: float) -> None:
    channel.send_after = timezone.now() + timedelta(seconds=seconds)
    Channel.objects.filter(pk=channel.pk).update(send_after=channel.send_after)


def _wait_for_budget(channel: Channel) -> bool:
    """Keep under the channel's rate limits; False when the wait is too long to sit out.

    Discord messages are also spaced evenly (2 s: 30 a minute), so that a long
    burst of alerts never exhausts the minute's budget and then stalls for the
    rest of the minute.
    """
    now = time.time()
    sends = [t for t in channel.recent_sends if now - t < PER_MINUTE[1]]
    channel.recent_sends = sends
    wait = 0.0
    limit, window = PER_MINUTE
    if len(sends) >= limit:
        wait = sends[-limit] + window - now
    limit, window = BURST
    recent = [t for t in sends if now - t < window]
    if len(recent) >= limit:
        wait = max(wait, recent[-limit] + window - now)
    if sends and channel.kind == ChannelKind.DISCORD:
        wait = max(wait, sends[-1] + settings.DISCORD_MESSAGE_SPACING_SECONDS - now)
    if wait > LONGEST_INLINE_WAIT:
        _pause_channel(channel, wait)
        return False
    if wait > 0:
        time.sleep(wait)
    return True


def _note_send(channel: Channel) -> None:
    channel.recent_sends = [*channel.recent_sends, time.time()][-PER_MINUTE[0] :]
    Channel.objects.filter(pk=channel.pk).update(recent_sends=channel.recent_sends)
