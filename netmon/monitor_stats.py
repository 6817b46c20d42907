"""What each monitor loop reports about its own cycles, for ``GET /metrics``.

The loops run in processes of their own (on other machines too, when scaled out), so
their figures go through the shared cache: the database cache, or Redis when
``REDIS_URL`` is set. Each loop keeps its numbers in memory and writes them as one
entry at most every ``FLUSH_SECONDS``; the entry expires ``EXPIRE_SECONDS`` after a
loop stops writing. An index entry lists the loops so that a scrape can find them.

Writing is best effort: a cache that is down costs the metrics, never the loop.
"""

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field

from django.core.cache import cache

log = logging.getLogger("netmon.monitor")

INDEX_KEY = "netmon:monitor-stats:index"
ENTRY_KEY = "netmon:monitor-stats:{}"
FLUSH_SECONDS = 5.0
EXPIRE_SECONDS = 120


@dataclass
class LoopStats:
    """Counters of one monitor loop since it started."""

    loop: str
    started_at: float = field(default_factory=time.time)
    cycles: int = 0
    failed_cycles: int = 0
    seconds_total: float = 0.0
    last_seconds: float = 0.0
    max_seconds: float = 0.0  # longest cycle since the previous write
    hosts_marked_down: int = 0
    updated_at: float = 0.0


_stats: LoopStats | None = None
_flushed_at: float | None = None  # time.monotonic() of the last write


def loop_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_cycle(seconds: float, outcome: dict | None) -> None:
    """Count one cycle of this process's loop; ``outcome`` is None for a failed cycle."""
    global _stats, _flushed_at
    if _stats is None or _stats.loop != loop_id():  # first call, or a forked child
        _stats, _flushed_at = LoopStats(loop_id()), None
    stats = _stats
    stats.cycles += 1
    stats.seconds_total += seconds
    stats.last_seconds = seconds
    stats.max_seconds = max(stats.max_seconds, seconds)
    if outcome is None:
        stats.failed_cycles += 1
    else:
        stats.hosts_marked_down += len(outcome.get("marked_down") or ())
    now = time.monotonic()
    if _flushed_at is not None and now - _flushed_at < FLUSH_SECONDS:
        return
    _flushed_at = now
    try:
        _write(stats)
    except Exception as error:  # the metrics must never stop the loop
        log.debug("could not publish monitor statistics: %s", error)
    else:
        stats.max_seconds = 0.0


def _write(stats: LoopStats) -> None:
    stats.updated_at = time.time()
    key = ENTRY_KEY.format(stats.loop)
    cache.set(key, asdict(stats), EXPIRE_SECONDS)
    index = cache.get(INDEX_KEY) or []
    if stats.loop not in index:
        # Keep the loops that still report (their entries have not expired), add ours.
        alive = cache.get_many([ENTRY_KEY.format(other) for other in index])
        index = [other for other in index if ENTRY_KEY.format(other) in alive]
        cache.set(INDEX_KEY, [*index, stats.loop], None)


def loop_stats() -> list[dict]:
    """The latest entry of every monitor loop that reported in the last ``EXPIRE_SECONDS``."""
    index = cache.get(INDEX_KEY) or []
    entries = cache.get_many([ENTRY_KEY.format(loop) for loop in index])
    cutoff = time.time() - EXPIRE_SECONDS
    found = [entry for entry in entries.values() if entry.get("updated_at", 0) >= cutoff]
    return sorted(found, key=lambda entry: entry["loop"])


def reset_for_tests() -> None:
    global _stats, _flushed_at
    _stats, _flushed_at = None, None
