"""The built-in rule analyser: no LLM needed, fast, and a cross-check when one is used.

It reads syslog-style lines (any timestamp prefix) and reports, per source address, user,
device or service:

* ``brute_force``: failed logins (sshd, dropbear, RouterOS, pfSense/OPNsense web GUI) from
  one source, at least ``ANALYSIS_BRUTE_FORCE_THRESHOLD`` (default 5) attempts; several
  invalid user names from one source are named as user enumeration; pre-authentication
  probing (failed key exchange, bad banners, timeouts) counts on its own;
* ``login_after_failures``: a successful login from a source that failed that many times
  before it in the same log (critical: possibly a guessed password);
* ``privilege_escalation``: sudo/su authentication failures of a user (3 or more), a user
  not in sudoers, an account locked by pam_tally/pam_faillock;
* ``port_scan``: one source dropped by the firewall on ``ANALYSIS_PORT_SCAN_THRESHOLD``
  (default 10) or more destination ports or hosts (iptables/nftables/UFW kernel lines,
  Proxmox and UniFi variants, pfSense/OPNsense filterlog, RouterOS), and scans reported by
  portsentry or scanlogd;
* ``firewall_drop``: a source dropped ``ANALYSIS_FIREWALL_DROP_THRESHOLD`` (default 50) or
  more times without looking like a scan;
* ``disk_error`` and ``kernel_error``: I/O and file system errors, read-only remounts,
  SMART failures, RAID disk failures, full disks; OOM kills, panics, BUGs, soft lockups,
  hung tasks, machine checks;
* ``service_crash``: a systemd unit (or supervisord/upstart program, or a segfaulting
  program) failing 3 or more times, or given up on by its supervisor.

Counts are per run, i.e. over the lines that are new since the previous run. Addresses are
taken where sshd puts the client's, so user names like ``x from 10.0.0.1`` cannot shift
the blame (fail2ban's injection cases).
"""

import functools
import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

from analysis.choices import Category
from analysis.findings import EVIDENCE_LINE_CHARS, FoundIssue

IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?"
IP = rf"(?:{IPV4}|{IPV6})"
HOST = r"[A-Za-z0-9_.:\-]+"
AUTH_METHODS = (
    r"(?:password|publickey|keyboard-interactive(?:/pam)?|none|hostbased|gssapi-with-mic)"
)

REPEATED = re.compile(r"message repeated (\d+) times: \[\s*(.*?)\s*\]\s*$")
# User names without spaces are followed by ":" when sshd adds details; otherwise the
# client's address is the last "from" of the line.
FAILED_COLON = re.compile(
    rf"Failed {AUTH_METHODS} for (invalid user )?(\S+) from ({IP})(?: port \d+)?(?: ssh\d?)?:\s"
)
FAILED_END = re.compile(
    rf"Failed {AUTH_METHODS} for (invalid user )?(.*) from ({IP})"
    r"(?: port \d+)?(?: on \S+)?(?: ssh\d?)?\s*(?:\[preauth\])?\s*$"
)
INVALID_USER = re.compile(rf"(?:Invalid|Illegal) user (.*?) from ({IP})(?: port \d+)?\s*$")
CLOSED_INVALID = re.compile(
    rf"(?:Connection closed by|Disconnected from|Disconnecting) invalid user (.*?) ({IP}) port \d+"
)
REFUSED_CONNECT = re.compile(rf"refused connect from \S+ \((?:::ffff:)?({IP})\)")
NOT_ALLOWED = re.compile(rf"User (\S+) from ({HOST}) not allowed because")
PAM_FAILURE = re.compile(r"authentication failure;.*?\brhost=(\S+)(?:\s+user=(\S+))?")
PAM_MORE = re.compile(r"PAM (\d+) more authentication failures?;.*?\brhost=(\S+)(?:\s+user=(\S+))?")
PAM_ERROR = re.compile(
    rf"PAM: (?:(?:Authentication|authentication) (?:failure|error)|User not known to the "
    rf"underlying authentication module) for (?:illegal user )?(.*?)"
    rf" from ({HOST})(?: via \S+)?\s*$"
)
MAX_ATTEMPTS = re.compile(
    rf"maximum authentication attempts exceeded for (invalid user )?(.*) from ({IP})"
)
ROOT_REFUSED = re.compile(rf"ROOT LOGIN REFUSED FROM (?:::ffff:)?({IP})")
PROBE = re.compile(
    rf"(?:Unable to negotiate with ({IP})|banner exchange: Connection from ({IP})"
    rf"|Timeout before authentication for ({IP})"
    rf"|Did not receive identification string from ({IP})"
    rf"|ssh_dispatch_run_fatal: Connection from ({IP})"
    rf"|Bad protocol version identification .* from ({IP}))"
)
ACCEPTED = re.compile(rf"Accepted {AUTH_METHODS} for (\S+) from ({IP})")
DROPBEAR_FAIL = re.compile(
    r"(?:[Bb]ad password attempt for '([^']*)'|[Ll]ogin attempt for nonexistent user)"
    r" from (\S+):\d+"
)
DROPBEAR_OK = re.compile(rf"(?:Password|Pubkey) auth succeeded for '([^']*)' .*?from ({IP}):\d+")
ROUTEROS_FAIL = re.compile(rf"login failure for user (.*?) from ({IP}) via (\S+)")
WEBGUI_FAIL = re.compile(
    rf"(?:webConfigurator authentication error for user '([^']*)'|Web GUI authentication error"
    rf" for '([^']*)') from:? ({IP})"
)
LFD_BLOCK = re.compile(rf"Failed SSH login from ({IP}) .*?: (\d+) in the last")

NETFILTER = re.compile(rf"SRC=({IP}) DST=({IP})")
PROTO = re.compile(r" PROTO=(\w+)")
DPT = re.compile(r" DPT=(\d+)")
ROUTEROS_FW = re.compile(
    rf", proto (\w+)(?: \([^)]*\))?, \[?({IP})\]?(?::\d+)?->\[?({IP})\]?(?::(\d+))?"
)
PORTSENTRY = re.compile(rf"Host: (?:\S+/)?({IP}) Port: (\d+) (TCP|UDP) Blocked")
PORTSENTRY_ALERT = re.compile(
    rf"attackalert: .*? from host: (?:\S+/)?({IP}) to (TCP|UDP) port: (\d+)"
)
SCANLOGD = re.compile(rf"scanlogd: ({IP})(?::\d+)? to ({IP})(?::\d+)? ports ([\d, ]+)")

SUDO_PAM = re.compile(r"pam_unix\((?:sudo|sudo-i|su|su-l):auth\): authentication failure;(.*)")
SU_PAM_OLD = re.compile(r"\bsu\(pam_unix\)\[\d+\]: authentication failure;(.*)")
LOGNAME = re.compile(r"\blogname=(\S*)")
PAM_USER = re.compile(r"\buser=(\S+)")
SUDO_INCORRECT = re.compile(r"sudo(?:\[\d+\])?:\s+(\S+) : (?:(\d+) )?incorrect password attempts?")
SUDO_DENIED = re.compile(r"sudo(?:\[\d+\])?:\s+(\S+) : (user NOT in sudoers|command not allowed)")
SU_FAILED = re.compile(r"\bsu(?:\[\d+\])?: (?:FAILED SU|FAILED su) \(to (\S+)\) (\S+)")
SU_BAD = re.compile(r"\bsu(?:\[\d+\])?: BAD SU (\S+) to (\S+)")
TALLY = re.compile(r"pam_(?:tally2?|faillock)\((?:sudo|su|su-l|sudo-i):auth\): .*?user (\S+)")

# (name, pattern, category, severity, key: a group number or a fixed text)
SYSTEM_PATTERNS: list[tuple[str, re.Pattern[str], str, str, int | str]] = [
    (
        "I/O error",
        re.compile(r"(?:Buffer )?I/O error,? (?:on )?dev(?:ice)? ([A-Za-z0-9]+)"),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "file system error",
        re.compile(r"(?:EXT[234]-fs error|BTRFS (?:error|critical)) \(device ([A-Za-z0-9]+)\)"),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "file system error",
        re.compile(r"XFS \(([A-Za-z0-9]+)\): (?:metadata I/O error|Corruption|log I/O error)"),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "file system remounted read-only",
        re.compile(r"(?:\(([A-Za-z0-9]+)\): )?Remounting filesystem read-only"),
        Category.DISK_ERROR,
        "critical",
        "read-only",
    ),
    (
        "disk medium error",
        re.compile(
            r"\b(sd[a-z]+|nvme\d+n\d+)\b.*?"
            r"(?:Medium Error|Unrecovered read error|critical medium error)"
        ),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "ATA link errors",
        re.compile(r"\b(ata\d+)(?:\.\d+)?: (?:failed command|exception Emask|hard resetting link)"),
        Category.DISK_ERROR,
        "medium",
        1,
    ),
    (
        "NVMe controller error",
        re.compile(r"\b(nvme\d+): (?:I/O \d+ QID \d+ timeout|controller is down|Device not ready)"),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "SMART failure",
        re.compile(
            r"smartd\[\d+\]: Device: (\S+?),? .*?(?:FAILING_NOW|SMART Failure|SMART Prefailure"
            r"|Currently unreadable \(pending\) sectors|Offline uncorrectable sectors)"
        ),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "RAID disk failure",
        re.compile(r"md/raid\d*:(md\d+): (?:Disk failure on|Operation continuing on)"),
        Category.DISK_ERROR,
        "high",
        1,
    ),
    (
        "disk full",
        re.compile(r"No space left on device"),
        Category.DISK_ERROR,
        "medium",
        "full",
    ),
    (
        "out of memory",
        re.compile(r"Out of memory: Kill(?:ed)? process|invoked oom-killer|oom-kill:"),
        Category.KERNEL_ERROR,
        "high",
        "oom",
    ),
    (
        "kernel panic",
        re.compile(r"Kernel panic - not syncing"),
        Category.KERNEL_ERROR,
        "critical",
        "panic",
    ),
    (
        "kernel BUG",
        re.compile(r"kernel BUG at|BUG: unable to handle|\bOops: \d+"),
        Category.KERNEL_ERROR,
        "high",
        "bug",
    ),
    (
        "soft lockup",
        re.compile(
            r"BUG: soft lockup|rcu_sched detected stalls|rcu: INFO: rcu_\w+ detected stalls"
        ),
        Category.KERNEL_ERROR,
        "high",
        "lockup",
    ),
    (
        "hung task",
        re.compile(r"task \S+ blocked for more than \d+ seconds"),
        Category.KERNEL_ERROR,
        "medium",
        "hung_task",
    ),
    (
        "hardware error",
        re.compile(r"\[Hardware Error\]|Machine Check Exception|EDAC \S+: .*?\b(?:CE|UE)\b"),
        Category.KERNEL_ERROR,
        "high",
        "hardware",
    ),
]
# Cheap tests before the patterns above: a line without any of these cannot match.
SYSTEM_NEEDLES = (
    "rror",
    "read-only",
    "Emask",
    "failed command",
    "resetting link",
    "nvme",
    "smartd",
    "md/raid",
    "No space",
    "emory",
    "oom",
    "panic",
    "BUG",
    "Oops",
    "stalls",
    "blocked for",
)

UNIT_EXITED = re.compile(
    r"(\S+\.service): Main process exited, code=(?:exited|killed|dumped), "
    r"status=(\d+|\w+)(?:/(\w+))?"
)
UNIT_FAILED = re.compile(r"(\S+\.service): Failed with result '([^']+)'")
UNIT_RESTART = re.compile(r"(\S+\.service): Scheduled restart job, restart counter is at (\d+)")
UNIT_GAVE_UP = re.compile(r"(\S+\.service): Start request repeated too quickly")
SUPERVISOR = re.compile(
    r"(?:exited: (\S+) \(exit status \d+; not expected\)|gave up: (\S+) entered FATAL state)"
)
RESPAWN = re.compile(
    r"init: (?:Id \"?(\S+?)\"? respawning too fast"
    r"|(\S+) main process \(\d+\) terminated with status)"
)
SEGFAULT = re.compile(r"(\S+?)\[\d+\]: segfault at")


def normal_ip(address: str) -> str:
    return address[7:] if address.startswith("::ffff:") else address


IP_ONLY = re.compile(IP)


@functools.lru_cache(maxsize=8192)
def looks_like_ip(text: str) -> bool:
    return bool(IP_ONLY.fullmatch(text))


def clip(line: str) -> str:
    return line if len(line) <= EVIDENCE_LINE_CHARS else line[: EVIDENCE_LINE_CHARS - 1] + "…"


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

    @property
    def attempts(self) -> int:
        """Attempts, counting each one once although sshd logs it several ways."""
        auth = ("failed", "invalid", "closed", "pam", "maxauth", "refused", "other")
        return max((self.kinds[k] for k in auth), default=0)


class RuleAnalyser:
    def __init__(
        self,
        brute_force: int | None = None,
        port_scan: int | None = None,
        firewall_drops: int | None = None,
        sudo_failures: int = 3,
        crash_failures: int = 3,
    ) -> None:
        self.brute_force = brute_force or settings.ANALYSIS_BRUTE_FORCE_THRESHOLD
        self.port_scan = port_scan or settings.ANALYSIS_PORT_SCAN_THRESHOLD
        self.firewall_drops = firewall_drops or settings.ANALYSIS_FIREWALL_DROP_THRESHOLD
        self.sudo_failures = sudo_failures
        self.crash_failures = crash_failures
        self.logins: dict[str, Tally] = defaultdict(Tally)
        self.accepted: list[tuple[str, str, int, str]] = []  # source, user, failures, line
        self.sshd_addresses: dict[str, str] = {}  # sshd process id → client address
        self.named_failures: list[tuple[str | None, str, str, str, int]] = []
        self.privilege: dict[str, Tally] = defaultdict(Tally)
        self.firewall: dict[str, Tally] = defaultdict(Tally)
        self.system: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.system_meta: dict[tuple[str, str], tuple[str, str]] = {}
        self.system_devices: set[str] = set()
        self.services: dict[str, Tally] = defaultdict(Tally)
        self.lines = 0
        self.matched = 0

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

    def _feed(self, lines: Iterable[str]) -> None:
        # Cheap substring tests pick the one handler that can understand a line.
        for line in lines:
            self.lines += 1
            if "sshd" in line or "dropbear" in line:
                handled = self._ssh(line) or (
                    (".service" in line or "segfault" in line) and self._service(line)
                )
            elif "SRC=" in line:
                handled = self._netfilter(line)
            elif "filterlog" in line:
                handled = self._filterlog(line)
            elif "kernel" in line or line[:1] == "[":
                handled = self._system(line) or ("segfault" in line and self._service(line))
            elif "su" in line and (
                "sudo" in line or "su:" in line or "su(" in line or "su[" in line
            ):
                handled = self._privilege(line)
            elif (
                ".service" in line or "exited: " in line or "gave up: " in line or "init: " in line
            ):
                handled = self._service(line)
            elif (
                "login failure for user" in line
                or "authentication error for" in line
                or "Failed SSH login from" in line
            ):
                handled = self._other_login(line)
            elif "->" in line and " proto " in line:
                handled = self._routeros_firewall(line)
            elif "Port:" in line or "scanlogd" in line or "attackalert" in line:
                handled = self._scan_tools(line)
            elif "No space left" in line or "smartd" in line or "md/raid" in line:
                handled = self._system(line)
            else:
                continue
            if handled:
                self.matched += 1

    def _login_failure(self, source: str, kind: str, user: str, line: str, count: int = 1) -> bool:
        source = normal_ip(source)
        if "sshd" in line:
            # sshd's PAM lines may name the client by its reverse DNS name: they are counted
            # under the address another line of the same sshd process gives, if any.
            if looks_like_ip(source):
                if (pid := _sshd_pid(line)) is not None:
                    self.sshd_addresses[pid] = source
            elif kind == "pam":
                self.named_failures.append((_sshd_pid(line), source, user, line, count))
                return True
        tally = self.logins[source]
        tally.kinds[kind] += count
        if user:
            tally.users[user] += count
        tally.sample(line)
        return True

    def _ssh(self, line: str) -> bool:
        count = 1
        text = line
        if "message repeated" in line and (match := REPEATED.search(line)):
            count, text = int(match[1]), match[2]
        if "Failed " in text:
            match = FAILED_COLON.search(text) or FAILED_END.search(text)
            if match:
                invalid, user, source = match.groups()
                if invalid:
                    self.logins[normal_ip(source)].invalid_users.add(user)
                elif "Failed publickey" in text:
                    return True  # a client offering several keys: not a failure by itself
                return self._login_failure(source, "failed", user, line, count)
        if "nvalid user" in text or "llegal user" in text:
            if match := INVALID_USER.search(text):
                self.logins[normal_ip(match[2])].invalid_users.add(match[1])
                return self._login_failure(match[2], "invalid", match[1], line, count)
            if match := CLOSED_INVALID.search(text):
                self.logins[normal_ip(match[2])].invalid_users.add(match[1])
                return self._login_failure(match[2], "closed", match[1], line, count)
        if "authentication failure" in text:
            if match := PAM_MORE.search(text):
                return self._login_failure(match[2], "pam", match[3] or "", line, int(match[1]))
            match = PAM_FAILURE.search(text) if "rhost=" in text else None
            if match and match[1] not in ("", "::1"):
                return self._login_failure(match[1], "pam", match[2] or "", line, count)
        if "PAM: " in text and (match := PAM_ERROR.search(text)):
            return self._login_failure(match[2], "other", match[1], line, count)
        if "not allowed because" in text and (match := NOT_ALLOWED.search(text)):
            return self._login_failure(match[2], "invalid", match[1], line, count)
        if "maximum authentication" in text and (match := MAX_ATTEMPTS.search(text)):
            return self._login_failure(match[3], "maxauth", match[2], line, count)
        if "ROOT LOGIN REFUSED" in text and (match := ROOT_REFUSED.search(text)):
            return self._login_failure(match[1], "refused", "root", line, count)
        if "refused connect" in text and (match := REFUSED_CONNECT.search(text)):
            return self._login_failure(match[1], "refused", "", line, count)
        if "Accepted " in text and (match := ACCEPTED.search(text)):
            return self._accepted(match[2], match[1], line)
        if "dropbear" in text:
            if (match := DROPBEAR_FAIL.search(text)) and looks_like_ip(normal_ip(match[2])):
                user = match[1] if match[1] is not None else "(nonexistent)"
                return self._login_failure(match[2], "failed", user, line, count)
            if match := DROPBEAR_OK.search(text):
                return self._accepted(match[2], match[1], line)
        if "Failed SSH login from" in text:  # lfd, about sshd
            return self._other_login(text)
        if match := PROBE.search(text):
            source = normal_ip(next(group for group in match.groups() if group))
            tally = self.logins[source]
            tally.kinds["probe"] += count
            tally.sample(line)
            return True
        return False

    def _accepted(self, source: str, user: str, line: str) -> bool:
        source = normal_ip(source)
        failures = self.logins[source].attempts if source in self.logins else 0
        self.accepted.append((source, user, failures, clip(line)))
        return True

    def _other_login(self, line: str) -> bool:
        if match := ROUTEROS_FAIL.search(line):
            self.logins[normal_ip(match[2])].services.add(f"RouterOS ({match[3]})")
            return self._login_failure(match[2], "other", match[1], line)
        if match := WEBGUI_FAIL.search(line):
            self.logins[normal_ip(match[3])].services.add("web GUI")
            return self._login_failure(match[3], "other", match[1] or match[2], line)
        if match := LFD_BLOCK.search(line):  # ConfigServer lfd: already counted and blocked
            return self._login_failure(match[1], "failed", "", line, int(match[2]))
        return False

    def _drop(self, source: str, target: str, port: str | None, protocol: str, line: str) -> bool:
        tally = self.firewall[normal_ip(source)]
        tally.kinds["drop"] += 1
        if port and len(tally.ports) < 70000:
            tally.ports.add(f"{port}/{protocol.lower()}")
        if len(tally.targets) < 10000:
            tally.targets.add(target)
        tally.sample(line)
        return True

    def _netfilter(self, line: str) -> bool:
        match = NETFILTER.search(line)
        if match is None:
            return False
        head = line[: match.start()]
        if "ACCEPT" in head or "ALLOW" in head or "AUDIT" in head or "-A-" in head:
            return True  # logged but let through
        protocol = PROTO.search(line, match.end())
        port = DPT.search(line, match.end())
        return self._drop(
            match[1],
            match[2],
            port[1] if port else None,
            protocol[1] if protocol else "?",
            line,
        )

    def _filterlog(self, line: str) -> bool:
        fields = line.rsplit(None, 1)[-1].split(",")
        if len(fields) < 19 or fields[6] not in ("block", "reject"):
            return len(fields) >= 19
        if fields[8] == "4" and len(fields) > 19:
            protocol, source, target = fields[16], fields[18], fields[19]
            port = fields[21] if protocol in ("tcp", "udp") and len(fields) > 21 else None
        elif fields[8] == "6":
            protocol, source, target = fields[12], fields[15], fields[16]
            port = fields[18] if protocol in ("tcp", "udp") and len(fields) > 18 else None
        else:
            return False
        return self._drop(source, target, port, protocol, line)

    def _routeros_firewall(self, line: str) -> bool:
        match = ROUTEROS_FW.search(line)
        if match is None:
            return False
        head = line[: match.start()].lower()
        if "drop" not in head and "reject" not in head and "block" not in head:
            return True
        return self._drop(match[2], match[3], match[4], match[1], line)

    def _scan_tools(self, line: str) -> bool:
        if match := PORTSENTRY.search(line):
            source, port, protocol = match.groups()
        elif match := PORTSENTRY_ALERT.search(line):
            source, protocol, port = match.groups()
        elif match := SCANLOGD.search(line):
            tally = self.firewall[normal_ip(match[1])]
            tally.flagged = True
            tally.kinds["scan"] += 1
            tally.targets.add(match[2])
            tally.ports.update(f"{p.strip()}/tcp" for p in match[3].split(",") if p.strip())
            tally.sample(line)
            return True
        else:
            return False
        tally = self.firewall[normal_ip(source)]
        tally.flagged = True
        tally.kinds["scan"] += 1
        tally.ports.add(f"{port}/{protocol.lower()}")
        tally.sample(line)
        return True

    def _privilege(self, line: str) -> bool:
        # sudo and su log one attempt several ways (PAM, then their own line): the kinds are
        # counted apart and the largest count is the number of attempts.
        user, kind, count = None, "pam", 1
        if match := SUDO_PAM.search(line) or SU_PAM_OLD.search(line):
            details = match[1]
            logname = LOGNAME.search(details)
            target = PAM_USER.search(details)
            user = (logname[1] if logname and logname[1] else None) or (
                target[1] if target else "?"
            )
        elif match := SUDO_INCORRECT.search(line):
            user, kind, count = match[1], "incorrect", int(match[2] or 1)
        elif match := SUDO_DENIED.search(line):
            user, kind = match[1], "denied"
        elif match := SU_FAILED.search(line):
            user, kind = match[2], "su"
        elif match := SU_BAD.search(line):
            user, kind = match[1], "su"
        elif match := TALLY.search(line):
            user, kind = match[1], "locked" if ("deny" in line or "locked" in line) else "pam"
        if user is None:
            return False
        tally = self.privilege[user]
        tally.kinds[kind] += count
        tally.sample(line)
        return True

    def _system(self, line: str) -> bool:
        if not any(needle in line for needle in SYSTEM_NEEDLES):
            return False
        for name, pattern, category, severity, key in SYSTEM_PATTERNS:
            if match := pattern.search(line):
                which = key if isinstance(key, str) else (match[key] or name)
                if not isinstance(key, str) and match[key]:
                    self.system_devices.add(which)
                identity = (category, which)
                self.system_meta[identity] = (name, severity)
                tally = self.system[identity]
                tally.kinds[name] += 1
                tally.sample(line)
                return True
        return False

    def _service(self, line: str) -> bool:
        if match := UNIT_EXITED.search(line):
            if match[2] in ("0", "SUCCESS") or match[3] == "SUCCESS":
                return True
            return self._crash(match[1], "exited", line)
        if match := UNIT_FAILED.search(line):
            return self._crash(match[1], "failed", line)
        if match := UNIT_RESTART.search(line):
            tally = self.services[match[1]]
            tally.extra["restart"] = max(tally.extra["restart"], int(match[2]))
            tally.sample(line)
            return True
        if match := UNIT_GAVE_UP.search(line):
            self.services[match[1]].flagged = True
            return self._crash(match[1], "gave_up", line)
        if match := SUPERVISOR.search(line):
            if match[2]:
                self.services[match[2]].flagged = True
                return self._crash(match[2], "gave_up", line)
            return self._crash(match[1], "exited", line)
        if match := RESPAWN.search(line):
            if match[1]:
                self.services[match[1]].flagged = True
                return self._crash(match[1], "gave_up", line)
            return self._crash(match[2], "exited", line)
        if match := SEGFAULT.search(line):
            return self._crash(match[1], "segfault", line)
        return False

    def _crash(self, unit: str, kind: str, line: str) -> bool:
        tally = self.services[unit]
        tally.kinds[kind] += 1
        tally.sample(line)
        return True

    # Results

    def _resolve_named_failures(self) -> None:
        for pid, name, user, line, count in self.named_failures:
            source = self.sshd_addresses.get(pid, name) if pid else name
            tally = self.logins[source]
            tally.kinds["pam"] += count
            if user:
                tally.users[user] += count
            tally.sample(line)
        self.named_failures = []

    def findings(self) -> list[FoundIssue]:
        self._resolve_named_failures()
        issues = [
            *self._login_findings(),
            *self._firewall_findings(),
            *self._privilege_findings(),
            *self._system_findings(),
            *self._service_findings(),
        ]
        return issues

    def _login_findings(self) -> Iterable[FoundIssue]:
        threshold = self.brute_force
        for source, tally in self.logins.items():
            attempts, probes = tally.attempts, tally.kinds["probe"]
            ips = [source] if looks_like_ip(source) else []
            services = ", ".join(sorted(tally.services)) or "SSH"
            if attempts >= threshold:
                severity = "high" if attempts >= 4 * threshold else "medium"
                users = ", ".join(f"{user} ({n})" for user, n in tally.users.most_common(5))
                more_users = len(tally.users) - 5
                if more_users > 0:
                    users += f" and {more_users} more"
                enumeration = len(tally.invalid_users) >= threshold
                what = "brute force and user enumeration" if enumeration else "brute force"
                description = (
                    f"{attempts} failed login attempts from {source} ({services}). "
                    f"User names tried: {users or 'not logged'}."
                )
                if tally.invalid_users:
                    description += f" {len(tally.invalid_users)} of them do not exist here."
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
            elif probes >= threshold:
                yield FoundIssue(
                    category=Category.BRUTE_FORCE,
                    severity="medium",
                    title=f"SSH probing from {source}: {probes} connections failed before login",
                    key=source,
                    description=(
                        f"{probes} SSH connections from {source} ended before authentication "
                        "(failed key exchange, bad banners or timeouts): a scanner or an exploit "
                        "attempt against the SSH server."
                    ),
                    evidence=tally.evidence(),
                    source_ips=ips,
                    recommended_action=f"Block {source}; keep the SSH server up to date.",
                    events=probes,
                )
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


def _sshd_pid(line: str) -> str | None:
    start = line.find("sshd")
    if start < 0:
        return None
    opening = line.find("[", start, start + 24)
    closing = line.find("]", opening)
    if opening < 0 or closing < 0:
        return None
    return line[opening + 1 : closing]


def _port_order(port: str) -> tuple[int, str]:
    number, _, protocol = port.partition("/")
    return (int(number) if number.isdigit() else 0, protocol)


def analyse(lines: Iterable[str]) -> list[FoundIssue]:
    return RuleAnalyser().feed(lines).findings()
