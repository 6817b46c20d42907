"""Getting alerts out of the outbox, in order, at least once, within rate limits.

The monitor loop calls ``dispatch_due`` every cycle. For each channel with due
deliveries that may send within the next cycle it takes a lease (one deliverer per
channel keeps alerts in order) and queues ``deliver_channel`` for a task worker, which
waits for the exact moment the channel may send again: a 429's ``retry_after``, the
next probe, the spacing of its kind. A worker that dies leaves its deliveries pending; the
lease expires and the next dispatch retries them.

While a channel fails (5xx, timeouts, connection errors) only its oldest alert goes
out, as a probe, at most ``ALERT_PROBE_INTERVAL_SECONDS`` apart and with a read timeout
no longer than that. However long the outage, the channel's recovery is noticed within
one probe interval (or its kind's spacing, if longer: email's), and the backlog follows
at once in full batches; an interval that grew with the outage (as plain exponential
backoff does) would keep everything waiting for minutes after the channel is back.

Each channel kind has its own rate limits and batch size, on its transport
(alerts/transports.py): Discord's are Discord's, a JSON webhook may take far more, an
inbox far fewer messages, each with more alerts.
"""

import logging
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from alerts.choices import DeliveryState
from alerts.models import Alert, Channel, Delivery
from alerts.transports import Outcome, transport_for

log = logging.getLogger("netmon.delivery")

WORK_BUDGET_SECONDS = 45  # below the task timeout; the rest waits for the next dispatch
LONGEST_INLINE_WAIT = 2.5
# A Retry-After beyond this is a misconfigured server, not a plan: it must not park
# the channel for days. An hour still leaves ALERT_RETRY_HOURS (24 h at least) to retry.
LONGEST_RETRY_AFTER_SECONDS = 3600


class Clock:
    """The deliverer's time, injected so that tests can run a long outage in seconds."""

    def now(self) -> datetime:
        return timezone.now()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = Clock()


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)


def claim_lead() -> float:
    """How long before a channel may send again it is claimed: one monitor cycle.

    The monitor loop dispatches once a cycle; claiming a channel one cycle early and
    letting its deliverer wait for the exact moment is what makes a ``retry_after`` or a
    probe interval exact instead of late by up to a cycle.
    """
    return min(settings.SWEEP_INTERVAL_SECONDS, LONGEST_INLINE_WAIT)


def dispatch_due(clock: Clock = SYSTEM_CLOCK) -> int:
    """Queue a delivery task for each channel that has due alerts and may send soon."""
    claims = claim_due_channels(clock)
    for channel_id, token in claims:
        async_task("alerts.delivery.deliver_channel", channel_id, token, task_name="deliver alerts")
    return len(claims)


def claim_due_channels(clock: Clock = SYSTEM_CLOCK) -> list[tuple[int, str]]:
    """Lease every channel with due deliveries that may send within ``claim_lead``.

    Returns ``(channel id, lease token)`` pairs: the caller runs ``deliver_channel`` for
    each. The lease is a conditional UPDATE, so of several monitor loops only one gets it.
    """
    now = clock.now()
    ready_by = now + timedelta(seconds=claim_lead())
    channel_ids = (
        Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .values_list("channel_id", flat=True)
        .distinct()
    )
    claims = []
    for channel_id in list(channel_ids):
        token = uuid.uuid4().hex
        claimed = (
            Channel.objects.filter(pk=channel_id, enabled=True, broken_at__isnull=True)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .filter(Q(send_after__isnull=True) | Q(send_after__lte=ready_by))
            .update(lease_until=now + lease_duration(), lease_token=token)
        )
        if claimed:
            claims.append((channel_id, token))
    return claims


def deliver_channel(channel_id: int, token: str, clock: Clock = SYSTEM_CLOCK) -> int:
    """Send the channel's due alerts, oldest first; returns how many were delivered."""
    deliverer = Deliverer(Channel.objects.get(pk=channel_id), token, clock)
    try:
        return deliverer.run()
    finally:
        release_lease(channel_id, token)


def release_lease(channel_id: int, token: str) -> None:
    Channel.objects.filter(pk=channel_id, lease_token=token).update(
        lease_until=None, lease_token=""
    )


def deliver_now(delivery: Delivery, clock: Clock = SYSTEM_CLOCK) -> Outcome | None:
    """Send one delivery at once, ahead of its channel's backlog: the admin's channel test.

    It takes the channel's lease like any deliverer, so it keeps to the channel's rate
    limits and never races the deliverer that holds it, but it does not wait for the
    monitor loop, and it sends to a disabled channel too (a channel is tried before it is
    switched on). One attempt: a failure leaves the delivery pending, for the monitor loop
    to retry like any other (on a disabled channel, once it is enabled). So the caller, an
    admin page, waits for one request (the channel's timeout) and at most one short wait
    for the channel's limits (``LONGEST_INLINE_WAIT``, or ``claim_lead`` while it fails).

    Returns the channel's answer; None when nothing was sent: the channel is broken (a
    person marks it repaired), another deliverer holds it, or it may not send again before
    a longer wait.
    """
    now = clock.now()
    token = uuid.uuid4().hex
    claimed = (
        Channel.objects.filter(pk=delivery.channel_id, broken_at__isnull=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_until=now + lease_duration(), lease_token=token)
    )
    if not claimed:
        return None
    deliverer = SingleDeliverer(delivery, token, clock)
    try:
        deliverer.run()
    finally:
        release_lease(delivery.channel_id, token)
    return deliverer.outcome


def probe_interval(failures: int) -> float:
    """Seconds between probe starts after ``failures`` failed attempts in a row.

    1, 2, 4 … s, capped at ``ALERT_PROBE_INTERVAL_SECONDS``: a blip is retried at once,
    and no outage, however long, spaces probes further apart than the cap. No jitter:
    one deliverer per channel means there is no herd of clients to spread out.
    """
    return min(settings.ALERT_PROBE_INTERVAL_SECONDS, 2.0 ** min(failures - 1, 16))


class Deliverer:
    """One lease's work on one channel: send until nothing is due, the lease is lost, the
    wait is too long to sit out, or the work budget is spent.

    Each message takes every alert due when it is sent (up to the channel's batch
    limit), so alerts that arrive while we wait for the rate limit share the next
    message instead of each waiting for a message of its own. While the channel fails,
    a message is a probe of one alert.
    """

    def __init__(self, channel: Channel, token: str, clock: Clock):
        self.channel = channel
        self.token = token
        self.clock = clock
        self.transport = transport_for(channel)
        # Alerts of a batch the channel refused: sent one by one, so that one bad alert
        # does not sink the others.
        self.send_singly: set[int] = set()
        self.outcome: Outcome | None = None  # the channel's last answer

    @property
    def failing(self) -> bool:
        return self.channel.consecutive_failures > 0

    def run(self) -> int:
        delivered = 0
        stop_at = self.clock.now() + timedelta(seconds=WORK_BUDGET_SECONDS)
        while self.clock.now() < stop_at:
            due = self.due_deliveries()
            if not due:
                break
            wait = self.seconds_until_allowed()
            if wait > 0:
                # While failing, waits between probes are left to the next dispatch: a
                # worker is not held for the whole outage.
                if wait > (claim_lead() if self.failing else LONGEST_INLINE_WAIT):
                    self.update_channel(send_after=self.clock.now() + timedelta(seconds=wait))
                    break
                self.clock.sleep(wait)
                continue  # more may have come while we waited
            if not self.update_channel(lease_until=self.clock.now() + lease_duration()):
                break  # our lease expired and another deliverer took over
            sent, stop = self.send(self.next_message(due))
            delivered += sent
            if stop:
                break
        return delivered

    def due_deliveries(self) -> list[Delivery]:
        now = self.clock.now()
        due = list(
            Delivery.objects.filter(
                channel=self.channel, state=DeliveryState.PENDING, next_attempt_at__lte=now
            )
            .select_related("alert", "alert__host")
            .order_by("alert__created_at", "alert_id")[:100]
        )
        give_up_before = now - timedelta(hours=settings.ALERT_RETRY_HOURS)
        expired = [d for d in due if d.alert.created_at < give_up_before]
        for delivery in expired:
            finish(delivery, DeliveryState.FAILED, f"gave up after {delivery.attempts} attempts")
        return [d for d in due if d not in expired]

    def next_message(self, due: list[Delivery]) -> list[Delivery]:
        if self.failing or due[0].pk in self.send_singly:
            return due[:1]
        by_alert = {d.alert_id: d for d in due}
        batch = self.transport.batches([d.alert for d in due])[0]
        return [by_alert[alert.pk] for alert in batch]

    def seconds_until_allowed(self) -> float:
        """Until the channel may send: its pause (retry_after, probe), then its kind's limits.

        The transport's windows (messages per minute, per burst) and its spacing, the
        least time between two messages: an even spacing (Discord's 2 s: 30 a minute)
        means a long burst of alerts never exhausts the minute's budget and then stalls
        for the rest of the minute. Sends are counted from their start: that is when
        the receiver counts them, and a probe that hung for its whole timeout must not
        delay the next one.
        """
        now = self.clock.now()
        wait = 0.0
        if self.channel.send_after is not None:
            wait = (self.channel.send_after - now).total_seconds()
        stamp = now.timestamp()
        sends = self.channel.recent_sends
        for limit, window in self.transport.windows:
            recent = [t for t in sends if stamp - t < window]
            if len(recent) >= limit:
                wait = max(wait, recent[-limit] + window - stamp)
        if sends and self.transport.spacing:
            wait = max(wait, sends[-1] + self.transport.spacing - stamp)
        return wait

    def send(self, deliveries: list[Delivery]) -> tuple[int, bool]:
        """Send one message; returns (alerts delivered, whether to stop for now).

        ``recent_sends`` keeps as many start times as the longest of the kind's windows
        counts: all that its limits look at.
        """
        started = self.clock.now()
        kept = max(limit for limit, _ in self.transport.windows)
        recent_sends = [*self.channel.recent_sends, started.timestamp()][-kept:]
        if not self.update_channel(recent_sends=recent_sends):
            return 0, True
        outcome = self.outcome = self.transport.send([d.alert for d in deliveries])
        for delivery in deliveries:
            delivery.attempts += 1
        if outcome.sent:
            self.answered()
            for delivery in deliveries:
                delivery.sent_at = self.clock.now()
                finish(delivery, DeliveryState.SENT, "")
            return len(deliveries), False
        if outcome.kind == "payload":
            self.answered()
            if len(deliveries) > 1:
                self.send_singly.update(d.pk for d in deliveries)
                note_attempts(deliveries, "")
            else:
                finish(deliveries[0], DeliveryState.FAILED, f"refused: {outcome.error}")
            return 0, False
        note_attempts(deliveries, outcome.error)
        if outcome.kind == "broken":
            self.channel.mark_broken(outcome.error)
            return 0, True
        if outcome.kind == "rate_limited":
            pause = min(max(outcome.retry_after, 0.0), LONGEST_RETRY_AFTER_SECONDS)
            resume_at = self.clock.now() + timedelta(seconds=pause)
        else:
            failures = self.channel.consecutive_failures + 1
            if failures == 1:
                log.warning("channel %s is failing (%s): probing it", self.channel, outcome.error)
                self.update_channel(consecutive_failures=failures, failing_since=started)
            else:
                self.update_channel(consecutive_failures=failures)
            resume_at = started + timedelta(seconds=probe_interval(failures))
        return 0, not self.update_channel(send_after=resume_at)

    def answered(self) -> None:
        """The channel answered: it works again, whatever it thought of the message."""
        if self.failing:
            log.warning(
                "channel %s answers again after %d failed attempts",
                self.channel,
                self.channel.consecutive_failures,
            )
            self.update_channel(consecutive_failures=0, failing_since=None)

    def update_channel(self, **fields) -> bool:
        """Write channel state while we hold the lease; False once another deliverer has it."""
        updated = Channel.objects.filter(pk=self.channel.pk, lease_token=self.token).update(
            **fields
        )
        for name, value in fields.items():
            setattr(self.channel, name, value)
        return bool(updated)


class SingleDeliverer(Deliverer):
    """A deliverer of one delivery, with one attempt (``deliver_now``)."""

    def __init__(self, delivery: Delivery, token: str, clock: Clock):
        super().__init__(delivery.channel, token, clock)
        self.delivery = delivery

    def due_deliveries(self) -> list[Delivery]:
        return list(
            Delivery.objects.filter(
                pk=self.delivery.pk, state=DeliveryState.PENDING
            ).select_related("alert", "alert__host")
        )

    def send(self, deliveries: list[Delivery]) -> tuple[int, bool]:
        sent, _ = super().send(deliveries)
        return sent, True


def note_attempts(deliveries: list[Delivery], error: str) -> None:
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries], state=DeliveryState.PENDING).update(
        attempts=F("attempts") + 1, last_error=error[:500]
    )


def finish(delivery: Delivery, state: str, error: str) -> None:
    """Settle a delivery, if nobody settled it first (a deliverer whose lease ran out)."""
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=state, last_error=error[:500], attempts=delivery.attempts, sent_at=delivery.sent_at
    )
    Alert.refresh_state(delivery.alert)
