"""The deliverer on a warped clock, for tests of channels over minutes of simulated time.

The deliverer's waits (probe intervals, ``retry_after``, spacing, the monitor's cycle)
are skipped by the clock, while what takes real time — HTTP requests, the timeouts of
hanging ones, the database — still counts.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from alerts.choices import DeliveryState
from alerts.delivery import Clock, claim_due_channels, deliver_channel
from alerts.models import Delivery


class WarpClock(Clock):
    """Real time plus every wait the deliverer asked for, which is skipped instead."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def now(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.skipped)

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds


def dispatch(clock: WarpClock) -> None:
    """One cycle of the monitor loop, its delivery tasks run at once."""
    for channel_id, token in claim_due_channels(clock):
        deliver_channel(channel_id, token, clock)


def run_monitor(clock: WarpClock, cycle: float = 1.0, until: float = 300) -> None:
    """The monitor loop's dispatch every ``cycle`` seconds until nothing is pending."""
    stop_at = clock.now() + timedelta(seconds=until)
    while Delivery.objects.filter(state=DeliveryState.PENDING).exists():
        assert clock.now() < stop_at, "alerts still pending"
        dispatch(clock)
        clock.sleep(cycle)
