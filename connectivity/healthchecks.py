"""Meta-monitoring with healthchecks.io: pings sent from the monitor loop itself.

Every successful cycle of the loop offers a ping; at most one success ping goes out per
``HEALTHCHECKS_PING_INTERVAL_SECONDS``, so healthchecks.io hears from us exactly as long as
the alert loop works — and notices when it stops. While the last connectivity check found
our link down, success pings pause and each failed check is pinged to ``/fail`` with a
short summary (it gets through when the network allows, e.g. a partial outage).

Pings never hold up the loop: a daemon thread sends them from a small bounded queue, with
short timeouts and a few retries; a newer ping replaces one that still fails.

Ping URL forms (``HEALTHCHECKS_URL`` is the check's base URL: ``https://hc-ping.com/<uuid>``,
``https://hc-ping.com/<ping-key>/<slug>`` or ``https://your-server/ping/<uuid>``):
``/start``, ``/fail``, ``/log``, ``/<exit-status>`` (0–255) and ``?rid=<uuid>``.
"""

import contextlib
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings

from alerts.models import mask_url
from connectivity.loop import LinkView

log = logging.getLogger("netmon.healthchecks")

USER_AGENT = "netmon (self-hosted monitoring)"
ACTIONS = ("success", "start", "fail", "log")
BODY_LIMIT = 1000  # a short summary; healthchecks.io keeps up to 100 kB


def ping_url(base: str, kind: str | int = "success", rid: str | None = None) -> str:
    """The URL of one ping of the check at ``base`` (its query, e.g. ``?create=1``, is kept)."""
    if isinstance(kind, int) and not isinstance(kind, bool):
        if not 0 <= kind <= 255:
            raise ValueError(f"an exit status is 0–255, not {kind}")
        suffix = f"/{kind}"
    elif kind in ACTIONS:
        suffix = "" if kind == "success" else f"/{kind}"
    else:
        raise ValueError(f"unknown ping kind {kind!r}")
    parts = urlsplit(base)
    query = parts.query
    if rid is not None:
        rid = str(uuid.UUID(rid))  # healthchecks.io accepts only UUIDs
        query = f"{query}&rid={rid}" if query else f"rid={rid}"
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix, query=query))


@dataclass
class Ping:
    kind: str | int
    body: str = ""
    rid: str | None = None
    created: float = field(default_factory=time.monotonic)


class Pinger:
    """Decides which pings are due and sends them from a background thread."""

    def __init__(
        self,
        url: str,
        interval: float,
        *,
        timeout: tuple[float, float] = (3.0, 5.0),
        attempts: int = 3,
        backoff: float = 1.0,
        queue_size: int = 8,
    ):
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_age = max(2 * interval, 30.0)  # older pings say nothing true any more
        self._queue: queue.Queue[Ping] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_success_at: datetime | None = None
        self._last_kind = ""
        self._failed_check_pinged: int | None = None
        self._failing = False  # for logging only the first of a series of failures
        self.sent = 0

    # Deciding, in the loop --------------------------------------------------------------

    def plan(self, link: LinkView | None, now: datetime) -> Ping | None:
        """The ping due after a successful cycle at ``now``, if any."""
        if link is not None and link.failing(now):
            if link.last_check_id == self._failed_check_pinged:
                return None  # each failed check once; no success pings while down
            self._failed_check_pinged = link.last_check_id
            self._last_kind = "fail"
            stamp = f"{link.last_check_at:%Y-%m-%d %H:%M:%S}"
            return Ping(
                "fail", f"netmon: internet link down (check at {stamp} UTC): {link.summary}"
            )
        last = self._last_success_at
        interval = timedelta(seconds=self.interval)
        if self._last_kind == "success" and last is not None and last <= now < last + interval:
            return None
        self._last_kind, self._last_success_at = "success", now
        return Ping(
            "success", f"netmon monitor loop alive at {now:%H:%M:%S} UTC; {_link(link, now)}"
        )

    def after_cycle(self, link: LinkView | None, now: datetime) -> None:
        ping = self.plan(link, now)
        if ping is not None:
            self.submit(ping)

    def submit(self, ping: Ping) -> None:
        """Queue a ping without ever blocking; when the queue is full the oldest one goes."""
        self._start()
        while True:
            try:
                self._queue.put_nowait(ping)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    # Sending, in the background ---------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="healthchecks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop sending (queued pings are dropped); waits up to ``timeout`` for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                ping = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(ping)

    def _deliver(self, ping: Ping) -> None:
        for attempt in range(self.attempts):
            if self._stopping.is_set() or time.monotonic() - ping.created > self.max_age:
                return
            if self._send(ping) != "retry" or not self._queue.empty():
                return  # sent, refused, or superseded by a newer ping
            if attempt + 1 < self.attempts:
                self._stopping.wait(self.backoff * 2**attempt)

    def _send(self, ping: Ping) -> str:
        """One request: "sent", "refused" (4xx: retrying will not help) or "retry"."""
        body = ping.body[:BODY_LIMIT].encode()
        try:
            response = requests.post(
                ping_url(self.url, ping.kind, ping.rid),
                data=body,
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT, "Content-Type": "text/plain; charset=utf-8"},
                allow_redirects=False,
            )
        except requests.RequestException as error:
            # The text of the exception carries the URL, a secret: log the class only.
            return self._failed(f"{error.__class__.__name__}", "retry")
        status = response.status_code
        if 200 <= status < 300:
            self.sent += 1
            if self._failing:
                log.info("healthchecks.io pings get through again")
                self._failing = False
            return "sent"
        if status in (408, 429) or status >= 500:
            return self._failed(f"HTTP {status}", "retry")
        return self._failed(f"HTTP {status}: {response.text[:100]}", "refused")

    def _failed(self, reason: str, outcome: str) -> str:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "healthchecks.io ping to %s failed: %s", mask_url(self.url), reason)
        self._failing = True
        return outcome


def _link(link: LinkView | None, now: datetime) -> str:
    if link is None or link.last_check_at is None:
        return "no connectivity check yet"
    if not link.fresh(now):
        return f"no connectivity check since {link.last_check_at:%Y-%m-%d %H:%M} UTC"
    return f"link {'up' if link.link_up else 'down'}: {link.summary}"


_pinger: Pinger | None = None
_lock = threading.Lock()


def ping_healthchecks(link: LinkView | None, now: datetime) -> None:
    """Called by the monitor loop after each successful cycle (when HEALTHCHECKS_URL is set)."""
    global _pinger
    url, interval = settings.HEALTHCHECKS_URL, settings.HEALTHCHECKS_PING_INTERVAL_SECONDS
    if not url:
        return
    with _lock:
        if _pinger is None or (_pinger.url, _pinger.interval) != (url, interval):
            if _pinger is not None:
                _pinger.stop(0)
            _pinger = Pinger(url, interval)
        pinger = _pinger
    pinger.after_cycle(link, now)


def stop_pinger(timeout: float = 1.0) -> None:
    global _pinger
    with _lock:
        pinger, _pinger = _pinger, None
    if pinger is not None:
        pinger.stop(timeout)
