"""Parsing of the connectivity settings. Plain Python: ``netmon.settings`` imports it.

Target syntax (``CONNECTIVITY_TARGETS``, comma-separated):

``https://host[:port][/path]`` or ``http://…``
    DNS lookup (when the host is a name), TCP connect, then an HTTP GET of the URL.
    Any answer below 500 counts: it proves the way there and back works.
``tcp:host:port``
    DNS lookup (when the host is a name) and a TCP connect. IPv6: ``tcp:[2620:fe::fe]:53``.
``dns:name``
    A DNS lookup of the name through the system resolver, nothing more.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from netmon.env import env_int, env_list

DEFAULT_TARGETS = (
    "https://1.1.1.1/,"  # Cloudflare's resolver, by address
    "https://dns.google/,"  # Google Public DNS, by name
    "https://www.quad9.net/,"  # Quad9, by name
    "tcp:9.9.9.9:53,"  # Quad9's resolver, DNS over TCP port
    "tcp:208.67.222.222:53"  # OpenDNS
)
MAX_TARGETS = 20
# A schedule every N minutes is a cron "*/N": regular only when N divides the hour.
INTERVAL_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")
TCP = re.compile(r"^tcp:(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$")


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    """One thing to reach. ``spec`` is how it is written in the settings and shown everywhere."""

    spec: str
    kind: str  # "http", "tcp" or "dns"
    host: str
    port: int | None = None
    url: str = ""

    @property
    def needs_dns(self) -> bool:
        return not is_ip(self.host)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_hostname(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return 0 < len(host) <= 253 and all(LABEL.match(label) for label in labels)


def _check_host(host: str, spec: str) -> str:
    if not (is_ip(host) or is_hostname(host)):
        raise TargetError(f"{spec!r}: {host!r} is not a host name or an IP address")
    return host


def parse_target(spec: str) -> Target:
    spec = spec.strip()
    lowered = spec.lower()
    if lowered.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        try:
            port = parts.port
        except ValueError:
            raise TargetError(f"{spec!r}: the port is not a number from 1 to 65535") from None
        host = _check_host(parts.hostname or "", spec)
        default_port = 443 if parts.scheme.lower() == "https" else 80
        return Target(spec, "http", host, port or default_port, spec)
    if lowered.startswith("tcp:"):
        match = TCP.match(spec)
        if not match:
            raise TargetError(f"{spec!r}: expected tcp:HOST:PORT (IPv6: tcp:[ADDRESS]:PORT)")
        host = match["v6"] or match["host"]
        if match["v6"] and not is_ip(host):
            raise TargetError(f"{spec!r}: {host!r} is not an IPv6 address")
        port = int(match["port"])
        if not 1 <= port <= 65535:
            raise TargetError(f"{spec!r}: the port is not a number from 1 to 65535")
        return Target(spec, "tcp", _check_host(host, spec), port)
    if lowered.startswith("dns:"):
        name = spec[4:].strip()
        if is_ip(name):
            raise TargetError(f"{spec!r}: a dns: target needs a name, not an address")
        return Target(spec, "dns", _check_host(name, spec))
    raise TargetError(f"{spec!r}: expected an http(s):// URL, tcp:HOST:PORT or dns:NAME")


def parse_targets(specs: list[str] | tuple[str, ...]) -> list[Target]:
    targets = [parse_target(spec) for spec in specs]
    if not targets:
        raise TargetError("at least one target is needed")
    if len(targets) > MAX_TARGETS:
        raise TargetError(f"at most {MAX_TARGETS} targets")
    seen = set()
    for target in targets:
        if target.spec in seen:
            raise TargetError(f"{target.spec!r} is listed twice")
        seen.add(target.spec)
    return targets


def env_targets(name: str, default: str = DEFAULT_TARGETS) -> list[str]:
    """The target list of ``name``, validated now so that a typo stops start-up."""
    specs = env_list(name, default)
    try:
        parse_targets(specs)
    except TargetError as error:
        raise ImproperlyConfigured(f"{name} is invalid: {error}") from None
    return specs


def validate_interval(minutes: int) -> int:
    if minutes not in INTERVAL_MINUTES:
        allowed = ", ".join(str(m) for m in INTERVAL_MINUTES)
        raise ValueError(f"expected a number of minutes that divides an hour: {allowed}")
    return minutes


def env_interval_minutes(name: str, default: int) -> int:
    minutes = env_int(name, default, 1, 60)
    try:
        return validate_interval(minutes)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}={minutes} is invalid: {error}") from None


def check_cron(minutes: int) -> str:
    """The cron expression of a check every ``minutes`` minutes (django-q2 fires at most
    every 30 s, and its smallest interval type is a minute: cron it is)."""
    validate_interval(minutes)
    if minutes == 1:
        return "* * * * *"
    if minutes == 60:
        return "0 * * * *"
    return f"*/{minutes} * * * *"
