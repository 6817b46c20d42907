"""Throttling of failed authentication by API key or host token, per client address.

Failures are counted in Django's cache "auth_failures" (a table of the database cache of
its own, or Redis when scaled out: every web process shares the count; apart from the
default cache, so that writes strangers cause cannot evict the task cluster's status) in
fixed windows of ``AUTH_FAILURE_WINDOW_SECONDS``. An address with ``AUTH_FAILURE_LIMIT``
failures in the current window gets 429 with ``Retry-After`` until the window ends,
whatever credentials it sends, so tokens and keys cannot be guessed or host ids probed at
speed. IPv6 addresses count by /64, the block one subscriber gets. A request that succeeds
pays one cache read (``retry_after``); only failures write. Password logins are throttled
by django-axes instead (settings ``AXES_*``).
"""

import ipaddress
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

CACHE = "auth_failures"
MAX_ADDRESS_LENGTH = 64  # the longest IPv6 text is 45 characters; the rest is not an address


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the last X-Forwarded-For hop when behind a trusted proxy
    (``NETMON_BEHIND_PROXY``, which appends the address it saw), else the socket's peer."""
    if settings.NETMON_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _window(now: float) -> tuple[int, float]:
    """The number of the current window and the seconds left in it."""
    length = settings.AUTH_FAILURE_WINDOW_SECONDS
    number = int(now // length)
    return number, (number + 1) * length - now


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


def _key(address: str | None, window: int) -> str:
    return f"{_client(address)}:{window}"


def retry_after(address: str | None) -> int | None:
    """Seconds until ``address`` may try again, or None when it is under the limit."""
    window, left = _window(time.time())
    failures = caches[CACHE].get(_key(address, window), 0)
    if failures < settings.AUTH_FAILURE_LIMIT:
        return None
    return max(1, math.ceil(left))


def record_failure(address: str | None) -> None:
    """Count one failed authentication of ``address`` in the current window."""
    window, left = _window(time.time())
    key = _key(address, window)
    cache = caches[CACHE]
    # The entry outlives its window a little, so that it cannot expire while still counted.
    if not cache.add(key, 1, timeout=math.ceil(left) + 1):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: this failure starts it anew
            cache.add(key, 1, timeout=math.ceil(left) + 1)
