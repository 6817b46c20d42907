"""Throttling of failed authentication by API key or host token, per client address.

Failures are counted in fixed windows of ``AUTH_FAILURE_WINDOW_SECONDS`` in the table
``AuthFailureCount`` (in the database every web process shares, on one machine or many).
An address with ``AUTH_FAILURE_LIMIT`` failures in the current window gets 429 with
``Retry-After`` until the window ends, whatever credentials it sends, so tokens and keys
cannot be guessed or host ids probed at speed. IPv6 addresses count by /64, the block one
subscriber gets. Only failures write. A request must learn its count before it may succeed
(else a throttled guesser would see which guess is right): an API key pays one indexed
read (``retry_after``); the heartbeat path reads the count in the statement that looks up
its host (``Window.count_sql``), so on PostgreSQL it costs no round trip of its own.
Password logins are throttled by django-axes instead (settings ``AXES_*``).
"""

import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.http import HttpRequest

from accounts.models import AuthFailureCount

MAX_ADDRESS_LENGTH = 64  # the longest IPv6 text is 45 characters; the rest is not an address


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the last X-Forwarded-For hop when behind a trusted proxy
    (``NETMON_BEHIND_PROXY``, which appends the address it saw), else the socket's peer."""
    if settings.NETMON_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


_TABLE = AuthFailureCount._meta.db_table
_COUNT = f"SELECT failures FROM {_TABLE} WHERE client = %s AND window_number = %s"
# One statement on SQLite and PostgreSQL alike: concurrent failures of one client add up.
_ADD_FAILURE = (
    f"INSERT INTO {_TABLE} (client, window_number, failures) VALUES (%s, %s, 1) "
    "ON CONFLICT (client) DO UPDATE SET failures = CASE "
    f"WHEN {_TABLE}.window_number = excluded.window_number THEN {_TABLE}.failures + 1 "
    "ELSE 1 END, window_number = excluded.window_number"
)


@dataclass(frozen=True)
class Window:
    """The current window of one client: who is counted, the window's number, and the
    seconds left in it."""

    client: str
    number: int
    left: float

    def count_sql(self) -> tuple[str, list]:
        """A scalar subquery for the client's failures in this window (NULL for none), for
        a statement that has other work to do."""
        return f"({_COUNT})", [self.client, self.number]

    def retry_after(self, failures: int | None) -> int | None:
        """Seconds until the client may try again, or None while under the limit."""
        if (failures or 0) < settings.AUTH_FAILURE_LIMIT:
            return None
        return max(1, math.ceil(self.left))


def window_of(address: str | None) -> Window:
    length = settings.AUTH_FAILURE_WINDOW_SECONDS
    now = time.time()
    number = int(now // length)
    return Window(_client(address), number, (number + 1) * length - now)


def _client(address: str | None) -> str:
    """Who is counted: the address, its /64 for IPv6 (an IPv4 address mapped into IPv6 is
    the IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:MAX_ADDRESS_LENGTH]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def failures_in(window: Window) -> int:
    """The client's failures in ``window``, read on their own."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [window.client, window.number])
        row = cursor.fetchone()
    return row[0] if row else 0


def retry_after(address: str | None) -> int | None:
    """Seconds until ``address`` may try again, or None when it is under the limit."""
    window = window_of(address)
    return window.retry_after(failures_in(window))


def record_failure(address: str | None) -> None:
    """Count one failed authentication of ``address`` in the current window."""
    window = window_of(address)
    with connection.cursor() as cursor:
        cursor.execute(_ADD_FAILURE, [window.client, window.number])


def forget_old_failures() -> int:
    """Delete the counts of windows that are over (a periodic cleanup); how many."""
    current = window_of(None).number
    return AuthFailureCount.objects.filter(window_number__lt=current).delete()[0]
