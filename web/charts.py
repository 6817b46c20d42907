"""Inline SVG charts, generated on the server: no JavaScript, no external library.

Every text that goes into the markup is escaped here; numbers are formatted here.
Colours come from CSS classes (``tl-*``, ``chart-*``) in ``web/static/web/netmon.css``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from itertools import pairwise

from django.utils.safestring import SafeString, mark_safe

from hosts.uptime import Period
from web.formatting import duration

BAR_WIDTH, BAR_GAP, TIMELINE_HEIGHT = 5, 1, 16


@dataclass(frozen=True)
class Bucket:
    """One hour of a timeline: the worst state in it and the heartbeats received."""

    start: datetime
    state: str  # down | up | paused | none
    heartbeats: int


def timeline_svg(buckets: list[Bucket], label: str) -> SafeString:
    """A row of bars, one per bucket: colour = state; full height when heartbeats came."""
    width = len(buckets) * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    bars = []
    for index, bucket in enumerate(buckets):
        height = TIMELINE_HEIGHT if bucket.heartbeats else TIMELINE_HEIGHT // 2
        bars.append(
            f'<rect x="{index * (BAR_WIDTH + BAR_GAP)}" y="{TIMELINE_HEIGHT - height}" '
            f'width="{BAR_WIDTH}" height="{height}" class="tl-{bucket.state}"/>'
        )
    text = escape(label)
    # Every value is a number, a fixed class name or escaped text.
    return mark_safe(
        f'<svg class="timeline" viewBox="0 0 {width} {TIMELINE_HEIGHT}" width="{width}" '
        f'height="{TIMELINE_HEIGHT}" role="img" aria-label="{text}"><title>{text}</title>'
        + "".join(bars)
        + "</svg>"
    )


def timeline_label(buckets: list[Bucket], spans: list[Period]) -> str:
    seconds: dict[str, float] = {}
    for period in spans:
        seconds[period.status] = seconds.get(period.status, 0.0) + period.seconds
    parts = [
        f"{status} {duration(seconds[status])}"
        for status in ("up", "down", "paused", "new")
        if seconds.get(status, 0) >= 1
    ]
    beats = sum(bucket.heartbeats for bucket in buckets)
    states = ", ".join(parts) or "no data"
    return f"Last 24 h: {states}; {beats} heartbeat{'s' if beats != 1 else ''}"


# Heartbeat history of one host ---------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 76, 12, 12, 28


def heartbeat_chart_svg(
    received: list[datetime],
    spans: list[Period],
    start: datetime,
    end: datetime,
    expected_seconds: float | None,
    deadline_seconds: float | None,
) -> SafeString:
    """Each heartbeat as a point: x = when, y = minutes since the one before.

    Down periods are shaded; dashed lines mark the expected interval and the deadline.
    """
    received = sorted(received)
    gaps = [(at, (at - before).total_seconds()) for before, at in pairwise(received) if at >= start]
    references = [value for value in (expected_seconds, deadline_seconds) if value]
    # One long outage must not flatten every normal gap: the scale stops at twice the deadline
    # (or 1.5 times the 95th percentile gap) and longer gaps are drawn at its top, in red.
    values = sorted(gap for _, gap in gaps)
    ceiling = 2 * max(references) if references else None
    if ceiling is None and values:
        ceiling = 1.5 * values[int(0.95 * (len(values) - 1))]
    largest = values[-1] if values else 0.0
    top_value = max(min(largest, ceiling or largest), *(v * 1.25 for v in references), 60.0)
    off_scale = sum(gap > top_value for gap in values)
    plot_width = CHART_WIDTH - LEFT - RIGHT
    plot_height = CHART_HEIGHT - TOP - BOTTOM
    span_seconds = max((end - start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return LEFT + plot_width * min(max((at - start).total_seconds() / span_seconds, 0), 1)

    def y(seconds: float) -> float:
        return TOP + plot_height * (1 - min(seconds / top_value, 1))

    parts = [
        f'<rect class="chart-bg" x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}"/>'
    ]
    for period in spans:
        if period.status == "down":
            left, right = x(period.start), x(period.end)
            parts.append(
                f'<rect class="chart-down" x="{left:.1f}" y="{TOP}" '
                f'width="{max(right - left, 1):.1f}" height="{plot_height}"/>'
            )
    for fraction in (0, 0.5, 1):
        value = top_value * fraction
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{LEFT + plot_width}" '
            f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            f'<text class="chart-axis" x="{LEFT - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{escape(duration(value))}</text>'
        )
    for value, css in ((expected_seconds, "chart-expected"), (deadline_seconds, "chart-deadline")):
        if value:
            parts.append(
                f'<line class="{css}" x1="{LEFT}" x2="{LEFT + plot_width}" '
                f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
            )
    ticks = 6 if span_seconds <= 2 * 86400 else 7
    for index in range(ticks + 1):
        at = start + timedelta(seconds=span_seconds * index / ticks)
        label = f"{at:%H:%M}" if span_seconds <= 2 * 86400 else f"{at:%b %d}"
        anchor = "start" if index == 0 else "end" if index == ticks else "middle"
        parts.append(
            f'<text class="chart-axis" x="{x(at):.1f}" y="{CHART_HEIGHT - 8}" '
            f'text-anchor="{anchor}">{escape(label)}</text>'
        )
    if gaps:
        points = " ".join(f"{x(at):.1f},{y(gap):.1f}" for at, gap in gaps)
        parts.append(f'<polyline class="chart-line" points="{points}"/>')
        parts.extend(
            f'<circle class="chart-point{" chart-offscale" if gap > top_value else ""}" '
            f'cx="{x(at):.1f}" cy="{y(gap):.1f}" r="{3.5 if gap > top_value else 2.5}"/>'
            for at, gap in gaps
            if gap > top_value or len(gaps) <= 400
        )
    longest = max((gap for _, gap in gaps), default=None)
    count = sum(at >= start for at in received)
    label = (
        f"{count} heartbeat{'' if count == 1 else 's'} between "
        f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        + (f"; longest gap {duration(longest)}" if longest is not None else "")
        + (f"; {off_scale} longer than the scale, drawn at its top" if off_scale else "")
    )
    text = escape(label)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        f'aria-label="{text}" preserveAspectRatio="xMidYMid meet"><title>{text}</title>'
        + "".join(parts)
        + "</svg>"
    )
