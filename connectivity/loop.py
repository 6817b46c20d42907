"""What the monitor loop does about our own link, every cycle (one query by primary key).

While the link is down, remote hosts cannot reach us: their deadlines would turn into a
storm of false alerts. So while the last check failed or an outage is open, deadlines that
fall due are postponed instead of swept (each by one grace period, again and again, until
the link is back). When the outage closes, each host gets the deadline it would have
with a heartbeat at the moment the link came back: a full period to report again.
Only a recent check counts: if the checks stop (no task cluster), the loop sweeps as
usual rather than stay silent forever.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from connectivity.models import LinkState
from hosts.models import Host

FIELDS = (
    "last_check_id",
    "last_check_at",
    "link_up",
    "summary",
    "down_since",
    "open_outage_id",
    "open_outage__started_at",
)


def stale_after() -> timedelta:
    """A check older than this no longer says anything about the link: two intervals."""
    interval = timedelta(minutes=settings.CONNECTIVITY_CHECK_INTERVAL_MINUTES)
    return 2 * interval + timedelta(seconds=settings.CONNECTIVITY_TIMEOUT_SECONDS + 30)


@dataclass(frozen=True)
class LinkView:
    last_check_id: int | None
    last_check_at: datetime | None
    link_up: bool | None
    summary: str
    down_since: datetime | None
    outage_id: int | None
    outage_started_at: datetime | None

    def fresh(self, now: datetime) -> bool:
        return self.last_check_at is not None and now - self.last_check_at <= stale_after()

    def failing(self, now: datetime) -> bool:
        """The last check, a recent one, found the link down."""
        return self.fresh(now) and self.link_up is False

    def hold_since(self, now: datetime) -> datetime | None:
        """Since when deadlines wait for the link, or None: sweep as usual."""
        if not self.fresh(now):
            return None
        if self.outage_started_at is not None:
            return self.outage_started_at
        return self.down_since if self.link_up is False else None


def current_link() -> LinkView | None:
    if not settings.CONNECTIVITY_ENABLED:
        return None
    row = LinkState.objects.filter(pk=1).values(*FIELDS).first()
    if row is None:
        return None
    return LinkView(
        last_check_id=row["last_check_id"],
        last_check_at=row["last_check_at"],
        link_up=row["link_up"],
        summary=row["summary"],
        down_since=row["down_since"],
        outage_id=row["open_outage_id"],
        outage_started_at=row["open_outage__started_at"],
    )


def hold_deadlines(link: LinkView | None, now: datetime) -> int:
    """While our link is down, postpone the deadlines that fell due; returns how many."""
    since = link.hold_since(now) if link else None
    if since is None:
        return 0
    return Host.objects.postpone_deadlines(since, now)
