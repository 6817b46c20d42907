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
    values = sorted(gap for _, gap in gaps)
    top_value = _scale_top(values, references, 60.0)
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
    parts += _duration_grid(top_value, y)
    for value, css in ((expected_seconds, "chart-expected"), (deadline_seconds, "chart-deadline")):
        if value:
            parts.append(_level_line(css, y(value)))
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
    return _chart_svg(label, parts, CHART_HEIGHT)


# Run durations of one host -------------------------------------------------------------

RUNS_HEIGHT, MAX_RUN_BAR = 200, 28


@dataclass(frozen=True)
class RunBar:
    """One finished run, as the runs chart draws it."""

    started_at: datetime
    seconds: float
    failed: bool
    exit_status: int | None
    run_id: str


def run_outcome(failed: bool, exit_status: int | None) -> str:
    """'succeeded', 'failed', 'failed (exit status 3)': the words the chart and the table use."""
    if not failed:
        return "succeeded"
    return "failed" if exit_status is None else f"failed (exit status {exit_status})"


def run_chart_svg(runs: list[RunBar], limit_seconds: float | None) -> SafeString:
    """Each finished run as a bar, oldest on the left: height = how long it took.

    A failed run is red *and* marked with a cross above its bar (not colour alone); each
    bar has a title with its start, duration and outcome; a dashed line marks the host's
    maximum run time. Runs longer than the scale are drawn at its top."""
    references = [limit_seconds] if limit_seconds else []
    values = sorted(run.seconds for run in runs)
    top_value = _scale_top(values, references, 10.0)
    plot_width = CHART_WIDTH - LEFT - RIGHT
    plot_height = RUNS_HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(runs), 1)
    bar = min(slot * 0.7, MAX_RUN_BAR)

    def y(seconds: float) -> float:
        return TOP + plot_height * (1 - min(seconds / top_value, 1))

    parts = [
        f'<rect class="chart-bg" x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}"/>'
    ]
    parts += _duration_grid(top_value, y)
    if limit_seconds:
        parts.append(_level_line("chart-deadline", y(limit_seconds)))
    for index, run in enumerate(runs):
        left = LEFT + slot * index + (slot - bar) / 2
        top = y(run.seconds)
        height = max(TOP + plot_height - top, 1)
        title = escape(
            f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC: {duration(run.seconds)}, "
            f"{run_outcome(run.failed, run.exit_status)}"
            + (f", run id {run.run_id}" if run.run_id else "")
        )
        parts.append(
            f'<rect class="{"tl-down" if run.failed else "tl-up"}" x="{left:.1f}" '
            f'y="{top:.1f}" width="{bar:.1f}" height="{height:.1f}"><title>{title}</title></rect>'
        )
        if run.failed:
            parts.append(
                f'<text class="chart-axis" x="{left + bar / 2:.1f}" y="{max(top - 3, 10):.1f}" '
                'text-anchor="middle" aria-hidden="true">✕</text>'
            )
    for run, anchor, x in ((runs[0], "start", LEFT), (runs[-1], "end", CHART_WIDTH - RIGHT)):
        parts.append(
            f'<text class="chart-axis" x="{x}" y="{RUNS_HEIGHT - 8}" '
            f'text-anchor="{anchor}">{run.started_at:%b %d %H:%M}</text>'
        )
    return _chart_svg(_runs_label(runs, limit_seconds, top_value), parts, RUNS_HEIGHT)


def _runs_label(runs: list[RunBar], limit_seconds: float | None, top_value: float) -> str:
    values = sorted(run.seconds for run in runs)
    parts = [
        f"{len(runs)} run{'' if len(runs) == 1 else 's'} started between "
        f"{runs[0].started_at:%Y-%m-%d %H:%M} and {runs[-1].started_at:%Y-%m-%d %H:%M} UTC: "
        f"median {duration(values[len(values) // 2])}, longest {duration(values[-1])}",
        f"{sum(run.failed for run in runs)} failed",
    ]
    if limit_seconds:
        over = sum(value > limit_seconds for value in values)
        parts.append(f"{over} longer than the maximum of {duration(limit_seconds)}")
    if off_scale := sum(value > top_value for value in values):
        parts.append(f"{off_scale} longer than the scale, drawn at its top")
    return "; ".join(parts)


# Parts shared by the charts -----------------------------------------------------------------


def _scale_top(values: list[float], references: list[float], floor: float) -> float:
    """The top of a duration scale for sorted ``values``. One outlier (a long outage, a
    hung run) must not flatten every normal value: the scale stops at twice the largest
    reference line (or 1.5 times the 95th percentile), and larger values are drawn at its
    top; it always shows the reference lines, and at least ``floor`` seconds."""
    ceiling = 2 * max(references) if references else None
    if ceiling is None and values:
        ceiling = 1.5 * values[int(0.95 * (len(values) - 1))]
    largest = values[-1] if values else 0.0
    return max(min(largest, ceiling or largest), *(v * 1.25 for v in references), floor)


def _duration_grid(top_value: float, y) -> list[str]:
    """Horizontal grid lines at 0, half and all of the scale, labelled as durations."""
    parts = []
    for fraction in (0, 0.5, 1):
        level = y(top_value * fraction)
        parts.append(
            f"{_level_line('chart-grid', level)}"
            f'<text class="chart-axis" x="{LEFT - 6}" y="{level + 4:.1f}" '
            f'text-anchor="end">{escape(duration(top_value * fraction))}</text>'
        )
    return parts


def _level_line(css: str, level: float) -> str:
    right = CHART_WIDTH - RIGHT
    return f'<line class="{css}" x1="{LEFT}" x2="{right}" y1="{level:.1f}" y2="{level:.1f}"/>'


def _chart_svg(label: str, parts: list[str], height: int) -> SafeString:
    """The chart's root: an image whose label says what it shows, for those who cannot see
    it. Every part is made of numbers, fixed class names and escaped text."""
    text = escape(label)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {height}" role="img" '
        f'aria-label="{text}" preserveAspectRatio="xMidYMid meet"><title>{text}</title>'
        + "".join(parts)
        + "</svg>"
    )
