"""The numbers behind the status dashboard: summary, host table, alerts, optional panels.

The HTML page and its JSON twin (``/api/v1/dashboard/data``) are built from the same
functions here. Each runs a fixed number of queries, however many hosts there are: the
host table is one page query (plus its count), one status-change query for the uptimes and
timelines of the whole page, and one grouped heartbeat query for the timelines.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Substr, TruncHour
from django.urls import reverse
from django.utils.safestring import SafeString

from alerts.choices import AlertKind, AlertState
from alerts.models import Alert, Channel
from heartbeats.models import Heartbeat
from hosts import schedule
from hosts.choices import DISPLAY_STATUSES, LATE, STATUS_RANK, HostStatus, ScheduleType
from hosts.models import Host
from hosts.querysets import status_rank_sql
from hosts.uptime import (
    UPTIME_WINDOWS,
    Period,
    history_for_hosts,
    percent_up,
    periods_from_history,
)
from web import formatting
from web.access import Viewer
from web.charts import Bucket, timeline_label, timeline_svg

STATUS_LABELS = {"new": "New", "up": "Up", LATE: "Late", "down": "Down", "paused": "Paused"}
# Problems first when sorting by status.
SORTS = {"status": "Status", "name": "Name", "host_id": "Host ID", "last_seen": "Last seen"}
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
TIMELINE_HOURS = 24
RECENT_ALERTS = 10
MAX_SEARCH = 100
# Columns the table never needs (and that may be large).
UNUSED_HOST_FIELDS = ("notes", "tags", "token_hash")


# The table's query string ----------------------------------------------------------------


@dataclass(frozen=True)
class TableQuery:
    """Filter, search, sort and page of the host table, read leniently from a query string:
    a value that makes no sense falls back to its default instead of failing."""

    status: str = ""
    search: str = ""
    sort: str = "status"
    descending: bool = False
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params) -> "TableQuery":
        status = params.get("status", "")
        sort = params.get("sort", "status")
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        if sort not in SORTS:
            sort, descending = "status", False
        per_page = _whole_number(params.get("per_page"), DEFAULT_PAGE_SIZE)
        return cls(
            status=status if status in DISPLAY_STATUSES else "",
            # NUL cannot go into a PostgreSQL query; nobody searches for it anyway.
            search=params.get("q", "").replace("\x00", "").strip()[:MAX_SEARCH],
            sort=sort,
            descending=descending,
            page=_whole_number(params.get("page"), 1),
            per_page=per_page if per_page in PAGE_SIZES else DEFAULT_PAGE_SIZE,
        )

    def as_params(self, **changes) -> dict[str, str]:
        """The non-default values, with ``changes`` applied; a new filter starts at page 1."""
        if "page" not in changes:
            changes["page"] = 1 if changes else self.page
        query = replace(self, **changes)
        params = {
            "status": query.status,
            "q": query.search,
            "sort": ("-" if query.descending else "") + query.sort,
            "page": str(query.page),
            "per_page": str(query.per_page),
        }
        defaults = {"sort": "status", "page": "1", "per_page": str(DEFAULT_PAGE_SIZE)}
        return {k: v for k, v in params.items() if v and v != defaults.get(k)}

    def url(self, **changes) -> str:
        params = self.as_params(**changes)
        return "?" + urlencode(params) if params else "?"

    def sort_url(self, column: str) -> str:
        """Sort by ``column``; again on the current sort column reverses it."""
        descending = not self.descending if column == self.sort else False
        return self.url(sort=column, descending=descending)

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def _whole_number(value: Any, default: int) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if 0 < number < 10**9 else default


# Summary -----------------------------------------------------------------------------------


def host_counts(now: datetime) -> dict[str, int]:
    """Hosts per displayed state, and the total: one query."""
    counts = Host.objects.display_counts(now)
    return {name: counts[name] for name in ("total", "up", LATE, "down", "paused", "new")}


def alert_counts() -> dict[str, int]:
    return Alert.objects.aggregate(
        pending=Count("pk", filter=Q(state=AlertState.PENDING)),
        failed=Count("pk", filter=Q(state=AlertState.FAILED)),
    )


def broken_channels() -> list[str]:
    return list(
        Channel.objects.filter(enabled=True, broken_at__isnull=False).values_list("name", flat=True)
    )


def connectivity_panel(now: datetime) -> dict | None:
    """Our own internet link and its current outage; None without the connectivity app.

    A panel is a dict: ``key``, ``title``, ``state`` (ok, warning, problem or unknown),
    ``text`` (a word or two) and ``detail``. One query.
    """
    if not apps.is_installed("connectivity"):
        return None
    from django.conf import settings

    from connectivity.loop import current_link

    panel = {"key": "connectivity", "title": "internet link"}
    if not settings.CONNECTIVITY_ENABLED:
        return {**panel, "state": "unknown", "text": "not checked", "detail": "monitoring off"}
    link = current_link()
    if link is None or link.last_check_at is None:
        return {**panel, "state": "unknown", "text": "unknown", "detail": "no check yet"}
    checked = f"checked {formatting.relative_time(link.last_check_at, now)}"
    if link.outage_started_at is not None:
        lasted = formatting.duration((now - link.outage_started_at).total_seconds())
        since = formatting.exact_time(link.outage_started_at)
        return {
            **panel,
            "state": "problem",
            "text": "down",
            "detail": f"outage since {since} ({lasted})",
        }
    if not link.fresh(now):
        return {**panel, "state": "warning", "text": "unknown", "detail": f"last {checked}"}
    if link.link_up is False:
        return {
            **panel,
            "state": "warning",
            "text": "failing",
            "detail": f"last check failed, {checked}",
        }
    return {**panel, "state": "ok", "text": "up", "detail": checked}


def findings_panel(now: datetime) -> dict | None:
    """Open (unacknowledged) log-analysis findings; None without the analysis app."""
    if not apps.is_installed("analysis"):
        return None
    from analysis.choices import SEVERITY_RANK
    from analysis.models import Finding

    severities = list(
        Finding.objects.filter(acknowledged_at__isnull=True)
        .values_list("severity")
        .annotate(count=Count("pk"))
        .order_by()
    )
    total = sum(count for _, count in severities)
    panel = {"key": "findings", "title": "open findings", "text": str(total)}
    if not total:
        return {**panel, "state": "ok", "detail": ""}
    worst = max((severity for severity, _ in severities), key=SEVERITY_RANK.__getitem__)
    state = "problem" if SEVERITY_RANK[worst] >= SEVERITY_RANK["high"] else "warning"
    by_severity = sorted(severities, key=lambda item: -SEVERITY_RANK[item[0]])
    return {**panel, "state": state, "detail": ", ".join(f"{n} {sev}" for sev, n in by_severity)}


@dataclass
class Summary:
    hosts: dict[str, int]
    alerts: dict[str, int]
    broken_channels: list[str]
    connectivity: dict | None
    findings: dict | None

    @property
    def host_tiles(self) -> list[tuple[str, str, int]]:
        """(state, label, count) per displayed state, problems first."""
        order = sorted(DISPLAY_STATUSES, key=STATUS_RANK.__getitem__)
        return [(state, STATUS_LABELS[state], self.hosts[state]) for state in order]

    @property
    def panels(self) -> list[dict]:
        return [panel for panel in (self.connectivity, self.findings) if panel]


def summary(now: datetime) -> Summary:
    return Summary(
        hosts=host_counts(now),
        alerts=alert_counts(),
        broken_channels=broken_channels(),
        connectivity=connectivity_panel(now),
        findings=findings_panel(now),
    )


# Host table --------------------------------------------------------------------------------


@dataclass
class HostRow:
    host: Host
    status: str
    uptime: dict[str, float | None]
    timeline: SafeString
    outside_window: bool
    now: datetime

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def last_seen_text(self) -> str:
        return formatting.relative_time(self.host.last_heartbeat_at, self.now)

    @property
    def last_seen_exact(self) -> str:
        return formatting.exact_time(self.host.last_heartbeat_at)

    @property
    def expected_text(self) -> str:
        return formatting.expected_text(self.host)

    @property
    def schedule_text(self) -> str:
        return formatting.schedule_text(self.host)

    @property
    def uptime_texts(self) -> list[tuple[str, str]]:
        return [(label, formatting.uptime_text(self.uptime[label])) for label, _ in UPTIME_WINDOWS]

    def as_json(self) -> dict:
        host = self.host
        return {
            "host_id": host.host_id,
            "name": host.name,
            "status": self.status,
            "status_label": self.status_label,
            "last_seen": host.last_heartbeat_at.isoformat() if host.last_heartbeat_at else None,
            "last_seen_text": self.last_seen_text,
            "schedule_type": host.schedule_type,
            "outside_window": self.outside_window,
            "flapping": host.flapping_since is not None,
            "uptime": self.uptime,
            "uptime_text": dict(self.uptime_texts),
            "url": reverse("web:host-detail", args=[host.host_id]),
        }


@dataclass
class HostTable:
    query: TableQuery
    page: Page
    rows: list[HostRow] = field(default_factory=list)

    @property
    def columns(self) -> list[dict]:
        """The sortable headers: label, link and aria-sort."""
        return [
            {
                "key": key,
                "label": label,
                "url": self.query.sort_url(key),
                "aria_sort": self.query.aria_sort(key),
            }
            for key, label in SORTS.items()
        ]

    @property
    def previous_url(self) -> str | None:
        if not self.page.has_previous():
            return None
        return self.query.url(page=self.page.previous_page_number())

    @property
    def next_url(self) -> str | None:
        return self.query.url(page=self.page.next_page_number()) if self.page.has_next() else None

    def as_json(self) -> dict:
        return {
            "count": self.page.paginator.count,
            "page": self.page.number,
            "pages": self.page.paginator.num_pages,
            "per_page": self.query.per_page,
            "rows": [row.as_json() for row in self.rows],
        }


def host_queryset(query: TableQuery, now: datetime) -> QuerySet[Host]:
    hosts = Host.objects.defer(*UNUSED_HOST_FIELDS)
    if query.status:
        hosts = hosts.in_display_status(query.status, now)
    if query.search:
        hosts = hosts.filter(Q(name__icontains=query.search) | Q(host_id__icontains=query.search))
    if query.sort == "status":
        order = [status_rank_sql(now).desc() if query.descending else status_rank_sql(now)]
    elif query.sort == "last_seen":
        column = F("last_heartbeat_at")
        order = [column.desc(nulls_last=True) if query.descending else column.asc(nulls_first=True)]
    else:
        order = [F(query.sort).desc() if query.descending else F(query.sort).asc()]
    return hosts.order_by(*order, "host_id")


def host_table(query: TableQuery, now: datetime, timelines: bool = True) -> HostTable:
    page = Paginator(host_queryset(query, now), query.per_page).get_page(query.page)
    hosts = list(page.object_list)
    return HostTable(query=query, page=page, rows=host_rows(hosts, now, timelines))


def host_rows(hosts: list[Host], now: datetime, timelines: bool = True) -> list[HostRow]:
    """Rows for these hosts: one query for the status changes, one (grouped) for the
    heartbeats of the timelines; without ``timelines`` (the JSON) only the first."""
    longest = max(span for _, span in UPTIME_WINDOWS)
    history = history_for_hosts(hosts, now - longest, now)
    start = timeline_start(now)
    beats = heartbeat_buckets(hosts, start, now) if timelines else {}
    rows = []
    for host in hosts:
        uptime = {
            label: percent_up(periods_from_history(host, history[host.pk], now - span, now))
            for label, span in UPTIME_WINDOWS
        }
        timeline = SafeString("")
        if timelines:
            day = periods_from_history(host, history[host.pk], start, now)
            buckets = timeline_buckets(day, beats.get(host.pk, {}), start, now)
            timeline = timeline_svg(buckets, timeline_label(buckets, day))
        rows.append(
            HostRow(
                host=host,
                status=host.display_status(now),
                uptime=uptime,
                timeline=timeline,
                outside_window=outside_window(host, now),
                now=now,
            )
        )
    return rows


def outside_window(host: Host, now: datetime) -> bool:
    """A business-hours host outside its window now (not alerted until it opens)."""
    if host.schedule_type != ScheduleType.BUSINESS_HOURS:
        return False
    try:
        return not schedule.in_window(host.get_schedule(), now)
    except ValueError:  # a time zone that vanished from the system's database
        return False


def timeline_start(now: datetime) -> datetime:
    """The start of the first of the timeline's hourly buckets (the last one is partial)."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=TIMELINE_HOURS - 1)


def heartbeat_buckets(
    hosts: list[Host], start: datetime, end: datetime
) -> dict[int, dict[datetime, int]]:
    """Heartbeats per host and hour since ``start``: one grouped query.

    SQLite stores datetimes as UTC text and would run ``TruncHour`` as a Python function for
    every row; grouping by the text's first 13 characters (``YYYY-MM-DD HH``) stays in C.
    """
    if not hosts:
        return {}
    sqlite = connection.vendor == "sqlite"
    hour = Substr("received_at", 1, 13) if sqlite else TruncHour("received_at", tzinfo=UTC)
    rows = (
        Heartbeat.objects.filter(
            host_id__in=[host.pk for host in hosts], received_at__gte=start, received_at__lte=end
        )
        .annotate(hour=hour)
        .values_list("host_id", "hour")
        .annotate(count=Count("pk"))
        .order_by()
    )
    # The hours the keys can be, as SQLite spells them (parsing each key would be slow).
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=n) for n in range(int((end - first) / timedelta(hours=1)) + 1)]
    spelled = {f"{hour:%Y-%m-%d %H}": hour for hour in hours}
    result: dict[int, dict[datetime, int]] = {}
    for host_pk, key, count in rows:
        hour = spelled.get(key) if sqlite else key
        if hour is not None:
            result.setdefault(host_pk, {})[hour] = count
    return result


# Which state a bucket shows when several occur in it: the most alarming.
BUCKET_PRIORITY = ("down", "up", "paused")


def timeline_buckets(
    spans: list[Period], beats: dict[datetime, int], start: datetime, now: datetime
) -> list[Bucket]:
    buckets = []
    for index in range(TIMELINE_HOURS):
        low = start + timedelta(hours=index)
        high = min(low + timedelta(hours=1), now)
        states = {p.status for p in spans if p.start < high and p.end > low}
        state = next((s for s in BUCKET_PRIORITY if s in states), "none")
        buckets.append(Bucket(start=low, state=state, heartbeats=beats.get(low, 0)))
    return buckets


# Alerts ------------------------------------------------------------------------------------


def recent_alerts(limit: int = RECENT_ALERTS) -> list[Alert]:
    return list(
        Alert.objects.select_related("host").only(
            "id",
            "kind",
            "severity",
            "title",
            "state",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "host__host_id",
            "host__name",
        )[:limit]
    )


def acknowledgeable(alert: Alert) -> bool:
    """Acknowledging means something for problems, not for recovery notices."""
    return alert.acknowledged_at is None and alert.kind not in (
        AlertKind.HOST_UP,
        AlertKind.HOST_STABLE,
    )


def alerts_signature(alerts: list[Alert]) -> str:
    """Changes when the panel should: an alert added, acknowledged or delivered."""
    return ",".join(
        f"{alert.pk}{'a' if alert.acknowledged_at else ''}{alert.state}" for alert in alerts
    )


def alert_json(alert: Alert, viewer: Viewer, now: datetime) -> dict:
    data = {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "state": alert.state,
        "state_label": AlertState(alert.state).label,
        "title": alert.title,
        "host_id": alert.host.host_id if alert.host else None,
        "host_url": reverse("web:host-detail", args=[alert.host.host_id]) if alert.host else None,
        "created_at": alert.created_at.isoformat(),
        "created_text": formatting.relative_time(alert.created_at, now),
        "acknowledged": alert.acknowledged_at is not None,
        "can_acknowledge": viewer.can_write and acknowledgeable(alert),
    }
    if viewer.sees_details:
        data["acknowledged_by"] = alert.acknowledged_by or None
    return data


# The whole dashboard -----------------------------------------------------------------------


def dashboard_context(
    query: TableQuery, viewer: Viewer, now: datetime, timelines: bool = True
) -> dict:
    """Everything the page shows; the JSON (``timelines=False``) leaves out the timelines."""
    alerts = recent_alerts()
    return {
        "now": now,
        "summary": summary(now),
        "table": host_table(query, now, timelines),
        "alerts": alerts,
        "alerts_signature": alerts_signature(alerts),
        "viewer": viewer,
        "status_choices": [(s, STATUS_LABELS[s]) for s in DISPLAY_STATUSES],
        "sorts": SORTS,
        "page_sizes": PAGE_SIZES,
    }


def dashboard_json(context: dict) -> dict:
    """The numbers of :func:`dashboard_context`, as the JSON the page refreshes itself from."""
    now, viewer, info = context["now"], context["viewer"], context["summary"]
    return {
        "generated_at": now.isoformat(),
        "summary": {
            "hosts": info.hosts,
            "alerts": info.alerts,
            "broken_channels": {
                "count": len(info.broken_channels),
                **({"names": info.broken_channels} if viewer.sees_details else {}),
            },
            "connectivity": info.connectivity,
            "findings": info.findings,
        },
        "hosts": context["table"].as_json(),
        "alerts": [alert_json(alert, viewer, now) for alert in context["alerts"]],
        "alerts_signature": context["alerts_signature"],
    }


# One host ----------------------------------------------------------------------------------

CHART_RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
MAX_CHART_HEARTBEATS = 5000
RECENT_CHANGES = 50
RECENT_PAYLOADS = 10


def host_detail_context(host: Host, viewer: Viewer, now: datetime, chart_range: str) -> dict:
    """Everything the host page shows; payloads and setup only for logged-in viewers."""
    from web.charts import heartbeat_chart_svg

    chart_range = chart_range if chart_range in CHART_RANGES else "24h"
    month_start = now - max(span for _, span in UPTIME_WINDOWS)
    history = history_for_hosts([host], month_start, now)[host.pk]
    month = periods_from_history(host, history, month_start, now)
    chart_start = now - CHART_RANGES[chart_range]
    received = list(
        host.heartbeats.filter(received_at__gte=chart_start, received_at__lte=now)
        .order_by("-received_at")
        .values_list("received_at", flat=True)[:MAX_CHART_HEARTBEATS]
    )
    previous = (
        host.heartbeats.filter(received_at__lt=chart_start)
        .order_by("-received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    custom = host.schedule_type == ScheduleType.CUSTOM
    chart = heartbeat_chart_svg(
        received + ([previous] if previous else []),
        periods_from_history(host, history, chart_start, now),
        chart_start,
        now,
        None if custom else host.frequency_seconds,
        None if custom else host.frequency_seconds + host.grace_seconds,
    )
    context = {
        "now": now,
        "viewer": viewer,
        "host": host,
        "row": host_rows([host], now)[0],
        "chart": chart,
        "chart_range": chart_range,
        "chart_ranges": list(CHART_RANGES),
        "downtimes": [
            {
                "start": period.start,
                "end": None if period.end >= now else period.end,
                "duration": formatting.duration(period.seconds),
            }
            for period in reversed(month)
            if period.status == HostStatus.DOWN
        ],
        "changes": list(host.status_changes.order_by("-at", "-id")[:RECENT_CHANGES]),
        "alerts": list(host.alerts.order_by("-created_at", "-id")[:RECENT_ALERTS]),
        "payloads": [],
    }
    if viewer.sees_details:
        context["payloads"] = list(
            host.heartbeats.order_by("-received_at", "-id").only(
                "host", "received_at", "source_ip", "user_agent", "body"
            )[:RECENT_PAYLOADS]
        )
    return context
