"""Durations as people read them, shared by alerts, pages and the admin."""

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
