"""Durations as people read them, shared by alerts, pages and the admin."""

import re
from datetime import timedelta


def human_duration(delta: timedelta) -> str:
    """``45 s``, ``3 min``, ``2 h 5 min``, ``1 d 4 h``: the two largest units."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts[:2])


_DURATION = re.compile(r"(\d{1,7})\s*(d|h|m|min|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``1h30m``, ``90s``, ``1d`` (as typed in a command or a URL).

    Raises ValueError saying what is expected: callers turn it into their own error."""
    compact = text.strip().lower().replace(" ", "")
    parts = list(_DURATION.finditer(compact))
    if not compact or "".join(part[0] for part in parts) != compact:
        raise ValueError("a duration such as 30m, 2h, 1h30m or 1d")
    return timedelta(seconds=sum(int(part[1]) * _UNIT_SECONDS[part[2]] for part in parts))
