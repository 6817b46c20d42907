"""The rule engine: runs the rule packs (analysis/rule_loader.py) over log lines and turns
what they count into findings.

A line is offered to the packs in order; a pack looks at it only when it contains one of
the pack's needles (plain substring tests: most lines are dismissed in a few of them, which
keeps the engine above 100,000 lines a second), and the first of its rules whose needles
and pattern match decides what the line is. An **event** is counted on a tally:

* ``auth.failure`` / ``auth.probe`` / ``auth.success`` per client address, with the user,
  the service, the kind (sshd logs one attempt several ways: ``failed``, ``invalid``,
  ``pam`` … are counted apart, and the largest is the number of attempts) and the time;
* ``firewall.drop`` / ``firewall.scan`` per source, with destination ports and hosts;
* ``privilege.failure`` per user; ``system`` per category and device; ``service.failure``
  per unit; ``alert`` per rule and source, with the rule's own threshold and window.

What becomes a finding is decided at the end (``findings()``) by the detections of
``rule_packs/detections.yaml``: brute force (attempts per source, "slow" when never that
many within the burst window, user enumeration when many unknown users were tried),
slow brute force below the threshold but paced over a long window, distributed brute force
(many sources against one user), probing, logins after failures, port scans, firewall
noise, privilege failures, system errors and crash loops. Counts are per run, i.e. over the
lines that are new since the previous run.
"""

import contextlib
import functools
import gc
import ipaddress
import itertools
import re
import statistics
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

from analysis import rule_loader
from analysis.choices import Category
from analysis.findings import EVIDENCE_LINE_CHARS, FoundIssue
from analysis.rule_loader import IP, Rule, RuleSet

REPEATED = re.compile(r"message repeated (\d+) times: \[\s*(.*?)\s*\]\s*$")
IP_ONLY = re.compile(IP)
ADDRESS_HINT = re.compile(
    r"(?i)(?:\bfrom|\brhost=|\bclient\b:?|\bip\b[:=]?|\bsrc="
    r"|\bremote(?:[_ ]?(?:ip|addr(?:ess)?|host))?[:=]?"
    r"|\baddress\b:?|\bhost\b[:=]|\bpeer\b:?)\s*[\[(\"'<]?(?:::ffff:)?"
    rf"({IP})"
)
ANY_ADDRESS = re.compile(rf"(?<![\w.:])(?:::ffff:)?({IP})(?![\w.:]*\w)")
SYSLOG_TIME = re.compile(r"(?:<\d+>\d* ?)?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)")
ISO_TIME = re.compile(r"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)")
CLF_TIME = re.compile(r"\[(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d)")
MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def normal_ip(address: str) -> str:
    return address[7:] if address.startswith("::ffff:") else address


@functools.lru_cache(maxsize=8192)
def looks_like_ip(text: str) -> bool:
    return bool(IP_ONLY.fullmatch(text))


@functools.lru_cache(maxsize=8192)
def is_address(text: str) -> bool:
    """Strictly an IPv4 or IPv6 address (``10:06:00`` looks like one to the pattern)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def clip(line: str) -> str:
    return line if len(line) <= EVIDENCE_LINE_CHARS else line[: EVIDENCE_LINE_CHARS - 1] + "…"


def line_time(line: str) -> float | None:
    """Seconds on a scale that orders the line's timestamp (syslog, ISO 8601, nginx, common
    log format), or None. Months count 31 days: only differences within a run matter."""
    head = line[:64]
    if match := SYSLOG_TIME.match(head) or SYSLOG_TIME.search(head, 0, 40):
        month = MONTHS.get(match[1])
        if month is not None:
            day, hour, minute, second = (int(match[n]) for n in range(2, 6))
            return (((month * 31 + day) * 24 + hour) * 60 + minute) * 60 + second
    if match := ISO_TIME.search(head):
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return ((((year * 12 + month) * 31 + day) * 24 + hour) * 60 + minute) * 60 + second
    if match := CLF_TIME.search(head):
        month = MONTHS.get(match[2], 1)
        day, year, hour, minute, second = (int(match[n]) for n in (1, 3, 4, 5, 6))
        return ((((year * 12 + month) * 31 + day) * 24 + hour) * 60 + minute) * 60 + second
    return None


def peak(times: list[float], window: float) -> int:
    """The most events within any ``window`` seconds."""
    ordered = sorted(times)
    best = 0
    for start, value in enumerate(ordered):
        best = max(best, bisect_right(ordered, value + window, lo=start) - start)
    return best


@dataclass(slots=True)
class Tally:
    """Events of one kind of issue from one source: counts by sub-kind and sample lines."""

    kinds: Counter = field(default_factory=Counter)
    users: Counter = field(default_factory=Counter)
    invalid_users: set = field(default_factory=set)
    ports: set = field(default_factory=set)
    targets: set = field(default_factory=set)
    services: set = field(default_factory=set)
    samples: list = field(default_factory=list)
    times: list = field(default_factory=list)  # the lines' heads: see moments()
    last: str = ""
    flagged: bool = False  # reported as such by the log's own tool (scanlogd, systemd …)
    extra: Counter = field(default_factory=Counter)

    def sample(self, line: str) -> None:
        if len(self.samples) < 4:
            self.samples.append(clip(line))
        else:
            self.last = line

    def evidence(self) -> list[str]:
        lines = list(self.samples)
        if self.last:
            lines.append(clip(self.last))
        return lines

    def moments(self) -> list[float]:
        """The times of the events that have a timestamp (parsed now: only the tallies
        whose windows matter get here, which keeps the timestamp parser off the hot path)."""
        return [t for t in map(line_time, self.times) if t is not None]

    @property
    def attempts(self) -> int:
        """Attempts, counting each one once although sshd logs it several ways."""
        auth = ("failed", "invalid", "closed", "pam", "maxauth", "refused", "other")
        return max((self.kinds[k] for k in auth), default=0)


@dataclass(slots=True)
class Event:
    """A line a rule understood (kept when asked: the LLM's context, the evaluation)."""

    line: int  # 1-based, in the order fed
    rule: str
    event: str
    source: str = ""
    user: str = ""
    count: int = 1


def _filterlog(text: str) -> dict | str | None:
    """pfSense/OPNsense filterlog CSV: the fields of a block, "pass", or None."""
    fields = text.rsplit(None, 1)[-1].split(",")
    if len(fields) < 19:
        return None
    if fields[6] not in ("block", "reject"):
        return "pass"
    if fields[8] == "4" and len(fields) > 19:
        protocol, source, target = fields[16], fields[18], fields[19]
        port = fields[21] if protocol in ("tcp", "udp") and len(fields) > 21 else None
    elif fields[8] == "6":
        protocol, source, target = fields[12], fields[15], fields[16]
        port = fields[18] if protocol in ("tcp", "udp") and len(fields) > 18 else None
    else:
        return None
    return {"src": source, "dst": target, "port": port, "proto": protocol}


PARSERS = {"filterlog": _filterlog}
PARSER_GROUPS = {"filterlog": frozenset({"src", "dst", "port", "proto"})}


class _Compiled:
    """A rule with what the hot loop needs at hand."""

    __slots__ = ("groups", "handler", "needles", "parser", "pattern", "rule")

    def __init__(self, rule: Rule, handler) -> None:
        self.rule = rule
        self.needles = rule.needles
        self.pattern = rule.pattern
        self.parser = PARSERS[rule.parser] if rule.parser else None
        self.groups = (
            PARSER_GROUPS[rule.parser] if rule.parser else frozenset(rule.pattern.groupindex)
        )
        self.handler = handler


class RuleAnalyser:
    def __init__(
        self,
        brute_force: int | None = None,
        port_scan: int | None = None,
        firewall_drops: int | None = None,
        sudo_failures: int | None = None,
        crash_failures: int | None = None,
        rules: RuleSet | None = None,
        record_events: bool = False,
    ) -> None:
        self.rules = rules or rule_loader.active()
        detections = self.rules.detections
        self.detections = detections

        def setting(section: str, key: str, given: int | None, default) -> int:
            if given:
                return given
            value = detections.get(section, {}).get(key, "setting")
            return default if value == "setting" else value

        self.brute_force = setting(
            "brute_force", "count", brute_force, settings.ANALYSIS_BRUTE_FORCE_THRESHOLD
        )
        self.port_scan = setting(
            "port_scan", "count", port_scan, settings.ANALYSIS_PORT_SCAN_THRESHOLD
        )
        self.firewall_drops = setting(
            "firewall_drop", "count", firewall_drops, settings.ANALYSIS_FIREWALL_DROP_THRESHOLD
        )
        self.sudo_failures = setting("privilege", "count", sudo_failures, 3)
        self.crash_failures = setting("service_crash", "count", crash_failures, 3)
        self.record_events = record_events
        self.events: list[Event] = []
        self.logins: dict[str, Tally] = defaultdict(Tally)
        self.accepted: list[tuple[str, str, int, str]] = []  # source, user, failures, line
        self.sshd_addresses: dict[str, str] = {}  # sshd process id → client address
        self.named_failures: list[tuple[str | None, str, str, str, int, str]] = []
        self.privilege: dict[str, Tally] = defaultdict(Tally)
        self.firewall: dict[str, Tally] = defaultdict(Tally)
        self.system: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.system_meta: dict[tuple[str, str], tuple[str, str]] = {}
        self.system_devices: set[str] = set()
        self.services: dict[str, Tally] = defaultdict(Tally)
        self.alerts: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.lines = 0
        self.matched = 0
        handlers = {
            "auth.failure": self._auth_failure,
            "auth.probe": self._auth_probe,
            "auth.success": self._auth_success,
            "firewall.drop": self._firewall_drop,
            "firewall.scan": self._firewall_scan,
            "firewall.pass": self._consume,
            "privilege.failure": self._privilege,
            "system": self._system,
            "service.failure": self._service,
            "alert": self._alert,
            "ignore": self._consume,
        }
        self._packs = []
        claims: dict[str, list] = defaultdict(list)
        safety_net = []
        for pack in self.rules.packs:
            compiled = [_Compiled(rule, handlers[rule.event]) for rule in pack.rules]
            if not compiled:
                continue
            needles = pack.needles or tuple(dict.fromkeys(n for r in pack.rules for n in r.needles))
            entry = (needles, compiled, pack.exclusive, pack.passes)
            self._packs.append(entry)
            for program in pack.programs:
                claims[program].append(entry)
            if pack.name == rule_loader.SAFETY_NET:
                safety_net.append(entry)
        # program → the packs its lines go to: those claiming it, then the safety net
        self._claims = {name: (*entries, *safety_net) for name, entries in claims.items()}
        self._routes: dict[str, tuple] = {}

    # Feeding lines

    def feed(self, lines: Iterable[str]) -> "RuleAnalyser":
        # Many small containers are made and none refer to each other in cycles: the cyclic
        # garbage collector only costs time here (about a fifth of it).
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._feed(lines)
        finally:
            if collecting:
                gc.enable()
        return self

    def _route(self, program: str) -> tuple:
        """The packs for lines of ``program``: those claiming it (also as postfix of
        postfix/smtpd, openvpn of openvpn@server, dovecot of dovecot-auth), else all."""
        route = self._routes.get(program)
        if route is None:
            name = program.lower()
            claims = self._claims
            route = claims.get(name) or claims.get(re.split(r"[/@]", name, maxsplit=1)[0])
            if route is None:
                route = claims.get(name.split("-", 1)[0], self._packs)
            if len(self._routes) < 10000:
                self._routes[program] = route
        return route

    def _feed(self, lines: Iterable[str]) -> None:
        all_packs = self._packs
        route = self._route
        number = self.lines
        for line in lines:
            number += 1
            text, count = line, 1
            if "message repeated" in line and (match := REPEATED.search(line)):
                count, text = int(match[1]), match[2]
            program = program_of(line)
            packs = route(program) if program else all_packs
            contains = line.__contains__
            for needles, rules, exclusive, passes in packs:
                # any(map(…)) runs the substring tests without a bytecode loop per needle
                if not any(map(contains, needles)):
                    continue
                if self._match(rules, text, line, count, number):
                    self.matched += 1
                    break
                if exclusive and not any(map(contains, passes)):
                    break
        self.lines = number

    def _match(self, rules: list[_Compiled], text: str, line: str, count: int, number: int):
        contains = text.__contains__
        for compiled in rules:
            if compiled.needles and not any(map(contains, compiled.needles)):
                continue
            if compiled.parser is not None:
                match = compiled.parser(text)
                if match is None:
                    continue
                if match == "pass":
                    return True
            else:
                match = compiled.pattern.search(text)
                if match is None:
                    continue
                rule = compiled.rule
                if rule.before_any or rule.not_before:
                    head = text[: match.start()]
                    lowered = head.lower()
                    if rule.not_before and any(word in head for word in rule.not_before):
                        return True  # e.g. a firewall line of a packet let through
                    if rule.before_any and not any(word in lowered for word in rule.before_any):
                        return True
            if compiled.handler(compiled, match, line, count, number):
                return True
        return False

    def _field(self, compiled: _Compiled, match, name: str) -> str:
        if name in compiled.groups:
            return match[name] or ""
        return ""

    def _record(self, compiled, number, source="", user="", count=1) -> None:
        if self.record_events:
            rule = compiled.rule
            self.events.append(Event(number, rule.id, rule.event, source, user or "", count))

    def _source(self, compiled: _Compiled, match, line: str) -> str:
        if compiled.rule.address == "auto":
            return auto_address(line)
        return normal_ip(self._field(compiled, match, "src"))

    def _service_name(self, compiled: _Compiled, match, line: str) -> str:
        service = compiled.rule.service
        if "{" in service:
            values = {name: self._field(compiled, match, name) for name in compiled.groups}
            values["program"] = program_of(line)
            with contextlib.suppress(ValueError, IndexError):
                service = service.format_map(defaultdict(str, values))
        return service

    def _auth_failure(self, compiled: _Compiled, match, line: str, count: int, number: int):
        rule = compiled.rule
        source = self._source(compiled, match, line)
        if not source:
            return False
        user = self._field(compiled, match, "user")
        if "count" in compiled.groups and match["count"]:
            count *= int(match["count"])
        if not looks_like_ip(source):
            if rule.names == "drop":
                return False
            if rule.names == "defer":
                # PAM lines may name the client by its reverse DNS name: they are counted
                # under the address another line of the same process gives, if any.
                pid = _pid(line, rule.pid) if rule.pid else None
                service = self._service_name(compiled, match, line)
                self.named_failures.append((pid, source, user, line, count, service))
                self._record(compiled, number, source, user, count)
                return True
        elif rule.pid and (pid := _pid(line, rule.pid)) is not None:
            self.sshd_addresses[pid] = source
        tally = self.logins[source]
        if rule.invalid_user or self._field(compiled, match, "invalid"):
            tally.invalid_users.add(user)
        tally.kinds[rule.kind] += count
        if user:
            tally.users[user] += count
        if rule.service:
            tally.services.add(self._service_name(compiled, match, line))
        tally.times.append(line[:64])  # parsed only if a window is needed (times())
        tally.sample(line)
        self._record(compiled, number, source, user, count)
        return True

    def _auth_probe(self, compiled: _Compiled, match, line: str, count: int, number: int):
        source = self._source(compiled, match, line)
        if not source:
            return False
        tally = self.logins[source]
        tally.kinds["probe"] += count
        if compiled.rule.service:
            tally.extra[self._service_name(compiled, match, line)] += count
        tally.sample(line)
        self._record(compiled, number, source, "", count)
        return True

    def _auth_success(self, compiled: _Compiled, match, line: str, count: int, number: int):
        source = self._source(compiled, match, line)
        if not source:
            return False
        user = self._field(compiled, match, "user")
        failures = self.logins[source].attempts if source in self.logins else 0
        self.accepted.append((source, user, failures, clip(line)))
        self._record(compiled, number, source, user)
        return True

    def _firewall_drop(self, compiled: _Compiled, match, line: str, count: int, number: int):
        source = normal_ip(self._field(compiled, match, "src"))
        if not source:
            return False
        tally = self.firewall[source]
        tally.kinds["drop"] += 1
        port = self._field(compiled, match, "port")
        if port and len(tally.ports) < 70000:
            tally.ports.add(f"{port}/{(self._field(compiled, match, 'proto') or '?').lower()}")
        target = self._field(compiled, match, "dst")
        if target and len(tally.targets) < 10000:
            tally.targets.add(target)
        tally.sample(line)
        self._record(compiled, number, source)
        return True

    def _firewall_scan(self, compiled: _Compiled, match, line: str, count: int, number: int):
        source = normal_ip(self._field(compiled, match, "src"))
        tally = self.firewall[source]
        tally.flagged = True
        tally.kinds["scan"] += 1
        protocol = (self._field(compiled, match, "proto") or "tcp").lower()
        if port := self._field(compiled, match, "port"):
            tally.ports.add(f"{port}/{protocol}")
        for port in self._field(compiled, match, "ports").split(","):
            if port.strip():
                tally.ports.add(f"{port.strip()}/{protocol}")
        if target := self._field(compiled, match, "dst"):
            tally.targets.add(target)
        tally.sample(line)
        self._record(compiled, number, source)
        return True

    def _consume(self, compiled: _Compiled, match, line: str, count: int, number: int):
        return True

    def _privilege(self, compiled: _Compiled, match, line: str, count: int, number: int):
        # sudo and su log one attempt several ways (PAM, then their own line): the kinds are
        # counted apart and the largest count is the number of attempts.
        user = self._field(compiled, match, "user") or "?"
        if "count" in compiled.groups and match["count"]:
            count *= int(match["count"])
        tally = self.privilege[user]
        tally.kinds[compiled.rule.kind] += count
        tally.sample(line)
        self._record(compiled, number, "", user, count)
        return True

    def _system(self, compiled: _Compiled, match, line: str, count: int, number: int):
        rule = compiled.rule
        device = self._field(compiled, match, "device")
        which = rule.key or device or rule.title
        if not rule.key and device:
            self.system_devices.add(which)
        identity = (rule.category, which)
        self.system_meta[identity] = (rule.title, rule.severity)
        tally = self.system[identity]
        tally.kinds[rule.title] += count
        tally.sample(line)
        self._record(compiled, number)
        return True

    def _service(self, compiled: _Compiled, match, line: str, count: int, number: int):
        kind = compiled.rule.kind
        unit = self._field(compiled, match, "unit")
        if not unit:
            return False
        tally = self.services[unit]
        if kind == "restart":
            restarts = int(self._field(compiled, match, "count") or 1)
            tally.extra["restart"] = max(tally.extra["restart"], restarts)
        else:
            tally.kinds[kind] += 1
            if kind == "gave_up":
                tally.flagged = True
        tally.sample(line)
        self._record(compiled, number)
        return True

    def _alert(self, compiled: _Compiled, match, line: str, count: int, number: int):
        rule = compiled.rule
        source = (
            self._source(compiled, match, line) if rule.address or "src" in compiled.groups else ""
        )
        if rule.address and not source:
            return False
        key = source or self._service_name_for(rule.key, compiled, match, line)
        tally = self.alerts[(rule.id, key)]
        tally.kinds["alert"] += count
        if user := self._field(compiled, match, "user"):
            tally.users[user] += count
        tally.times.extend([line[:64]] * min(count, 1000))
        tally.sample(line)
        self._record(compiled, number, source, user, count)
        return True

    def _service_name_for(self, text: str, compiled: _Compiled, match, line: str) -> str:
        if "{" not in text:
            return text
        values = {name: self._field(compiled, match, name) for name in compiled.groups}
        return text.format_map(defaultdict(str, values))

    # Results

    def _resolve_named_failures(self) -> None:
        for pid, name, user, line, count, service in self.named_failures:
            source = self.sshd_addresses.get(pid, name) if pid else name
            tally = self.logins[source]
            tally.kinds["pam"] += count
            if user:
                tally.users[user] += count
            if service:
                tally.services.add(service)
            tally.sample(line)
        self.named_failures = []

    def findings(self) -> list[FoundIssue]:
        self._resolve_named_failures()
        return [
            *self._login_findings(),
            *self._firewall_findings(),
            *self._privilege_findings(),
            *self._system_findings(),
            *self._service_findings(),
            *self._alert_findings(),
        ]

    def _login_findings(self) -> Iterable[FoundIssue]:
        threshold = self.brute_force
        burst = self.detections["brute_force"]["burst_window"]
        severe = self.detections["brute_force"]["severe_factor"] * threshold
        slow = self.detections["slow_brute_force"]
        probing = self.detections["probing"]["count"]
        reported: set[str] = set()
        for source, tally in self.logins.items():
            attempts, probes = tally.attempts, tally.kinds["probe"]
            ips = [source] if looks_like_ip(source) else []
            services = ", ".join(sorted(tally.services)) or "SSH"
            paced = False
            moments = tally.moments() if attempts >= slow["count"] else []
            if attempts < threshold and attempts >= slow["count"]:
                paced = _paced(moments, slow)
            if attempts >= threshold or paced:
                reported.add(source)
                severity = "high" if attempts >= severe else "medium"
                users = ", ".join(f"{user} ({n})" for user, n in tally.users.most_common(5))
                more_users = len(tally.users) - 5
                if more_users > 0:
                    users += f" and {more_users} more"
                enumeration = len(tally.invalid_users) >= min(threshold, attempts)
                slowly = paced or (
                    len(moments) >= 2 and peak(moments, burst) * attempts < threshold * len(moments)
                )
                what = "slow brute force" if slowly else "brute force"
                if enumeration:
                    what += " and user enumeration"
                description = (
                    f"{attempts} failed login attempts from {source} ({services}). "
                    f"User names tried: {users or 'not logged'}."
                )
                if tally.invalid_users:
                    description += f" {len(tally.invalid_users)} of them do not exist here."
                if slowly:
                    description += (
                        f" Paced: never {threshold} within {burst / 60:g} minutes, which "
                        "slips under per-minute limits such as fail2ban's defaults."
                    )
                yield FoundIssue(
                    category=Category.BRUTE_FORCE,
                    severity=severity,
                    title=f"{services} {what} from {source}: {attempts} failed logins",
                    key=source,
                    description=description,
                    evidence=tally.evidence(),
                    source_ips=ips,
                    recommended_action=(
                        f"Block {source} at the firewall (or let fail2ban/CrowdSec do it); allow "
                        "key authentication only and no root login; check that no account "
                        "with a weak password exists."
                    ),
                    events=attempts,
                )
            elif probes >= probing:
                reported.add(source)
                kinds = ", ".join(sorted(tally.extra)) or "SSH"
                yield FoundIssue(
                    category=Category.BRUTE_FORCE,
                    severity="medium",
                    title=(
                        f"{kinds} probing from {source}: {probes} connections failed before login"
                    ),
                    key=source,
                    description=(
                        f"{probes} connections from {source} ended before authentication "
                        "(failed key exchange, bad banners or timeouts): a scanner or an exploit "
                        "attempt against the server (such as CVE-2024-6387 against OpenSSH)."
                    ),
                    evidence=tally.evidence(),
                    source_ips=ips,
                    recommended_action=f"Block {source}; keep the server up to date.",
                    events=probes,
                )
        yield from self._distributed_findings(reported)
        seen = set()
        for source, user, failures, line in self.accepted:
            if failures < threshold or source in seen:
                continue
            seen.add(source)
            yield FoundIssue(
                category=Category.LOGIN_AFTER_FAILURES,
                severity="critical",
                title=f"Successful login as {user} from {source} after {failures} failures",
                key=source,
                description=(
                    f"{source} logged in as {user} after {failures} failed attempts in the same "
                    "log: the password may have been guessed."
                ),
                evidence=[*self.logins[source].evidence()[:3], line],
                source_ips=[source] if looks_like_ip(source) else [],
                recommended_action=(
                    f"Check the session of {user} from {source} now, change the account's "
                    "password, review what it did (last, auth.log, shell history) and block "
                    f"{source}."
                ),
                events=failures + 1,
            )

    def _distributed_findings(self, reported: set[str]) -> Iterable[FoundIssue]:
        """Many sources, each below the threshold, failing against the same user: a botnet
        sharing out the attempts so that no single address stands out."""
        rule = self.detections["distributed"]
        per_user: dict[str, dict[str, int]] = defaultdict(dict)
        for source, tally in self.logins.items():
            if source in reported or not looks_like_ip(source):
                continue
            for user, count in tally.users.items():
                per_user[user][source] = count
        for user, sources in per_user.items():
            attempts = sum(sources.values())
            if len(sources) < rule["sources"] or attempts < rule["attempts"]:
                continue
            ordered = sorted(sources, key=lambda s: (-sources[s], s))
            evidence = [line for s in ordered[:4] for line in self.logins[s].evidence()[:1]]
            yield FoundIssue(
                category=Category.BRUTE_FORCE,
                severity="medium",
                title=(
                    f"Distributed brute force against {user}: {attempts} failed logins from "
                    f"{len(sources)} addresses"
                ),
                key=f"user:{user}",
                description=(
                    f"{len(sources)} addresses failed to log in as {user} {attempts} times, "
                    f"each fewer than {self.brute_force} times (so none is reported alone): "
                    f"{', '.join(ordered[:10])}{' …' if len(ordered) > 10 else ''}."
                ),
                evidence=evidence,
                source_ips=ordered[:20],
                recommended_action=(
                    f"Make sure {user} cannot log in with a password from outside (keys only, "
                    "or a VPN in front); rate-limit by country or network if it goes on."
                ),
                events=attempts,
            )

    def _firewall_findings(self) -> Iterable[FoundIssue]:
        for source, tally in self.firewall.items():
            ports, targets = len(tally.ports), len(tally.targets)
            ips = [source] if looks_like_ip(source) else []
            events = tally.kinds["drop"] + tally.kinds["scan"]
            if tally.flagged or ports >= self.port_scan or targets >= self.port_scan:
                wide = ports >= 10 * self.port_scan or targets >= 10 * self.port_scan
                sample_ports = ", ".join(sorted(tally.ports, key=_port_order)[:12])
                if ports > 12:
                    sample_ports += ", …"
                yield FoundIssue(
                    category=Category.PORT_SCAN,
                    severity="high" if wide else "medium",
                    title=f"Port scan from {source}: {ports} port(s) on {max(targets, 1)} host(s)",
                    key=source,
                    description=(
                        f"{source} was blocked {events} times on {ports} destination ports "
                        f"({sample_ports}) of {max(targets, 1)} host(s)."
                    ),
                    evidence=tally.evidence(),
                    source_ips=ips,
                    recommended_action=(
                        f"Nothing got through if only blocked lines were logged; block {source} "
                        "entirely if it keeps scanning, and check which of these ports are open."
                    ),
                    events=events,
                )
            elif tally.kinds["drop"] >= self.firewall_drops:
                yield FoundIssue(
                    category=Category.FIREWALL_DROP,
                    severity="low",
                    title=f"Firewall dropped {source} {tally.kinds['drop']} times",
                    key=source,
                    description=(
                        f"{tally.kinds['drop']} packets from {source} were dropped "
                        f"(ports: {', '.join(sorted(tally.ports, key=_port_order)[:8])})."
                    ),
                    evidence=tally.evidence(),
                    source_ips=ips,
                    recommended_action="Usually background noise; look closer if it is a host of "
                    "your own network.",
                    events=tally.kinds["drop"],
                )

    def _privilege_findings(self) -> Iterable[FoundIssue]:
        for user, tally in self.privilege.items():
            failures = max(tally.kinds["pam"], tally.kinds["incorrect"], tally.kinds["su"])
            denied, locked = tally.kinds["denied"], tally.kinds["locked"]
            if not (denied or locked or failures >= self.sudo_failures):
                continue
            if denied:
                title = f"{user} tried to use sudo without permission"
            elif locked:
                title = f"{user} locked out after failed sudo/su passwords"
            else:
                title = f"{failures} failed sudo/su passwords by {user}"
            yield FoundIssue(
                category=Category.PRIVILEGE_ESCALATION,
                severity="high" if denied or locked else "medium",
                title=title,
                key=user,
                description=(
                    f"{failures} failed sudo/su authentications, {denied} denied commands and "
                    f"{locked} lock-outs for {user}."
                ),
                evidence=tally.evidence(),
                recommended_action=(
                    f"Ask {user} whether it was them; if not, the account is compromised: lock it "
                    "and review its recent activity."
                ),
                events=failures + denied + locked,
            )

    def _system_findings(self) -> Iterable[FoundIssue]:
        for (category, which), tally in self.system.items():
            name, severity = self.system_meta[(category, which)]
            events = sum(tally.kinds.values())
            where = f" on {which}" if which in self.system_devices else ""
            kinds = ", ".join(f"{kind} ×{n}" for kind, n in tally.kinds.most_common())
            disk = category == Category.DISK_ERROR
            yield FoundIssue(
                category=category,
                severity=severity,
                title=f"{name[0].upper()}{name[1:]}{where} ({events}×)",
                key=which,
                description=f"{kinds}.",
                evidence=tally.evidence(),
                recommended_action=(
                    "Check the disk's health (smartctl -a), back up what matters and plan to "
                    "replace it; check the file system."
                    if disk
                    else "Look at the kernel log around these lines (journalctl -k) and at the "
                    "hardware or the workload behind them."
                ),
                events=events,
            )

    def _service_findings(self) -> Iterable[FoundIssue]:
        for unit, tally in self.services.items():
            kinds = tally.kinds
            failures = max(
                kinds["exited"], kinds["failed"], kinds["segfault"], tally.extra["restart"]
            )
            if not tally.flagged and failures < self.crash_failures:
                continue
            what = "crashed" if kinds["segfault"] else "failed"
            if tally.flagged:
                title = f"{unit} given up on after {failures} failure(s)"
                description = (
                    f"{unit} failed {failures} time(s) and its supervisor stopped restarting it."
                )
            else:
                title = f"{unit} {what} {failures} times"
                description = f"{unit} {what} {failures} times in this log."
            yield FoundIssue(
                category=Category.SERVICE_CRASH,
                severity="high" if tally.flagged else "medium",
                title=title,
                key=unit,
                description=description,
                evidence=tally.evidence(),
                recommended_action=f"Look at why {unit} stops (journalctl -u {unit}) and fix it.",
                events=max(failures, 1),
            )

    def _alert_findings(self) -> Iterable[FoundIssue]:
        for (rule_id, key), tally in self.alerts.items():
            rule = self.rules.rule(rule_id)
            if rule is None:
                continue
            count = tally.kinds["alert"]
            within = count
            if rule.window and count >= rule.count:
                moments = tally.moments()
                if len(moments) == len(tally.times):
                    within = peak(moments, rule.window)
            if within < rule.count:
                continue
            values = defaultdict(str, src=key, count=str(count))
            yield FoundIssue(
                category=rule.category,
                severity=rule.severity,
                title=rule.title.format_map(values)[:200],
                key=f"{rule.pack}:{key}" if not looks_like_ip(key) else key,
                description=(rule.description or rule.title).format_map(values)
                + f" ({count} line(s), rule {rule_id}).",
                evidence=tally.evidence(),
                source_ips=[key] if looks_like_ip(key) else [],
                recommended_action=rule.action.format_map(values),
                events=count,
            )


def _paced(times: list[float], slow: dict) -> bool:
    """Attempts spread over a long window at a steady pace: never a burst."""
    if len(times) < slow["count"]:
        return False
    ordered = sorted(times)
    if ordered[-1] - ordered[0] > slow["window"] or ordered[-1] - ordered[0] < slow["min_span"]:
        return False
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return statistics.median(gaps) >= slow["min_gap"]


def _pid(line: str, program: str) -> str | None:
    start = line.find(program)
    if start < 0:
        return None
    opening = line.find("[", start, start + len(program) + 16)
    closing = line.find("]", opening)
    if opening < 0 or closing < 0:
        return None
    return line[opening + 1 : closing]


def auto_address(line: str) -> str:
    """The client's address in a line of an unknown format: the one after from, rhost=,
    client … when there is one, else the only address of the line (two: ambiguous)."""
    for match in ADDRESS_HINT.finditer(line):
        if is_address(match[1]):
            return match[1]
    found = {m[1] for m in ANY_ADDRESS.finditer(line) if is_address(m[1])}
    return found.pop() if len(found) == 1 else ""


def program_of(line: str) -> str:
    """The syslog program of a line: the word before the first ": " (sshd of
    "… sshd[42]: …", postfix/smtpd, su of "su(pam_unix)[9]: …"), or ""."""
    colon = line.find(": ", 0, 160)
    if colon <= 0:
        return ""
    program = line[line.rfind(" ", 0, colon) + 1 : colon].partition("[")[0].partition("(")[0]
    return program if program[:1].isalpha() else ""


def _port_order(port: str) -> tuple[int, str]:
    number, _, protocol = port.partition("/")
    return (int(number) if number.isdigit() else 0, protocol)


def analyse(lines: Iterable[str]) -> list[FoundIssue]:
    return RuleAnalyser().feed(lines).findings()
