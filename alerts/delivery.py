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

from alerts.choices import DeliveryState
from alerts.models import Alert, Channel, Delivery
from alerts.transports import Outcome, batches_for, transport_for

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
    """Send the channel's due alerts, oldest first; returns how many were delivered."""
    channel = Channel.objects.get(pk=channel_id)
    delivered = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < WORK_BUDGET_SECONDS:
            due = _due_deliveries(channel)
            if not due:
                break
            sent, stop = _send_batches(channel, token, due)
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


def _send_batches(channel: Channel, token: str, due: list[Delivery]) -> tuple[int, bool]:
    """Send ``due`` in as few messages as allowed; returns (delivered, stop)."""
    by_alert = {d.alert_id: d for d in due}
    transport = transport_for(channel)
    delivered = 0
    for batch in batches_for(channel, [d.alert for d in due]):
        if not _renew(channel, token) or not _wait_for_budget(channel):
            return delivered, True
        outcome = transport.send(batch)
        _note_send(channel)
        deliveries = [by_alert[alert.pk] for alert in batch]
        if outcome.kind == "payload" and len(batch) > 1:
            # One bad alert must not sink the others: send them one by one.
            for delivery in deliveries:
                sent, stop = _send_batches(channel, token, [delivery])
                delivered += sent
                if stop:
                    return delivered, True
            continue
        _record(channel, deliveries, outcome)
        if not outcome.sent and outcome.kind != "payload":
            return delivered, True
        delivered += len(deliveries) if outcome.sent else 0
        if outcome.retry_after:
            _pause_channel(channel, outcome.retry_after)
            if outcome.retry_after > LONGEST_INLINE_WAIT:
                return delivered, True
            time.sleep(outcome.retry_after)
    return delivered, False


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
    """Keep under the channel's rate limits; False when the wait is too long to sit out."""
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
    if wait > LONGEST_INLINE_WAIT:
        _pause_channel(channel, wait)
        return False
    if wait > 0:
        time.sleep(wait)
    return True


def _note_send(channel: Channel) -> None:
    channel.recent_sends = [*channel.recent_sends, time.time()][-PER_MINUTE[0] :]
    Channel.objects.filter(pk=channel.pk).update(recent_sends=channel.recent_sends)
