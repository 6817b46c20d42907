"""Score the log analysers on labelled samples: recall, precision and false findings per
case and per service family.

Layouts understood in DIR (searched recursively):

* **CrowdSec hub tests**: a directory with ``*.log`` files and a ``scenario.assert``
  (the addresses of ``Source.IP`` / ``Overflow.Sources`` are the expected attackers); or
  an ``EXPECTED_ALERTS.csv`` (test_dir, …, source) beside such directories, as in
  ``../shared/logsamples/crowdsec-hub``. A case without expected alert is benign.
* **fail2ban test logs**: files with ``# failJSON: {…}`` lines; the line after each is a
  sample, ``"match": true`` with its ``host`` an attack, ``"match": false`` benign.
  Blocks for another filter mode (``# filterOptions``) or with a ``constraint`` are left out.
* **Loghub**: ``Apache/Apache_2k.log`` is benign; ``OpenSSH/OpenSSH_2k.log`` with Loghub's
  structured labels: the addresses with at least ANALYSIS_BRUTE_FORCE_THRESHOLD failed
  passwords are the attackers.

An attack source counts as found when a finding names it (CrowdSec, Loghub: the alert is
the unit) or, for fail2ban's one-line samples, when the analyser counted a failure of
that address (its threshold then decides about the finding). A false finding names an
address that is no attacker of the case; on benign samples every finding is false, and a
high or critical one is listed apart.
"""

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.findings import FoundIssue
from analysis.rule_engine import RuleAnalyser, is_address

ASSERT_SOURCE = re.compile(r"""(?:Source\.IP\s*==\s*|Sources\[\s*)["']([0-9A-Fa-f.:]+)["']""")
FAMILIES = [  # (family, words in a case's name)
    ("sshd", ("ssh", "dropbear", "lfd", "configserver")),
    (
        "firewall",
        (
            "iptables",
            "pf-",
            "pfsense-rfc",
            "filterlog",
            "scan",
            "portsentry",
            "unifi",
            "palo",
            "mikrotik-logs",
            "proxmox-iptables",
            "routeros-fw",
        ),
    ),
    ("vpn", ("vpn", "ipsec", "strongswan", "wireguard")),
    ("ftp", ("ftp",)),
    (
        "mail",
        (
            "postfix",
            "dovecot",
            "exim",
            "courier",
            "cyrus",
            "sendmail",
            "qmail",
            "sieve",
            "pop3",
            "imap",
            "assp",
            "domino",
            "perdition",
            "smtp",
            "roundcube",
            "squirrelmail",
            "horde",
            "sogo",
            "openwebmail",
        ),
    ),
    ("databases", ("mysql", "mongodb", "mssql", "postgres", "redis")),
    ("smb", ("smb", "samba", "windows")),
    ("hypervisors-nas", ("proxmox", "synology", "truenas", "esxi", "qnap")),
    ("pbx", ("asterisk", "freeswitch", "sip")),
    (
        "web",
        (
            "nginx",
            "apache",
            "http",
            "gui",
            "webmin",
            "mikrotik-bf",
            "routeros",
            "php",
            "drupal",
            "grafana",
            "gitlab",
            "lighttpd",
            "haproxy",
            "traefik",
            "wordpress",
            "directadmin",
            "froxlor",
            "centreon",
            "monit",
            "zoneminder",
            "guacamole",
            "bitwarden",
            "vaultwarden",
            "openhab",
            "tine20",
            "groupoffice",
            "suhosin",
        ),
    ),
    ("honeypots-tarpits", ("cowrie", "endlessh", "honeypot")),
    ("sudo-su-pam", ("pam", "sudo", "selinux", "auditd")),
    ("system", ("syslog", "kernel", "tcpdump", "suricata")),
]


def family_of(name: str) -> str:
    lowered = name.lower()
    for family, words in FAMILIES:
        if any(word in lowered for word in words):
            return family
    return "other"


@dataclass
class Case:
    name: str
    kind: str  # crowdsec, fail2ban, loghub
    lines: list[str]
    attackers: set[str] = field(default_factory=set)
    benign_lines: set[int] = field(default_factory=set)  # fail2ban: 1-based, match false
    line_level: bool = False  # fail2ban: a counted failure of the host is enough

    @property
    def family(self) -> str:
        return family_of(self.name)


@dataclass
class Score:
    case: Case
    found: set[str] = field(default_factory=set)
    false: set[str] = field(default_factory=set)
    severe_false: list[str] = field(default_factory=list)  # high/critical on benign input
    findings: int = 0

    @property
    def missed(self) -> set[str]:
        return self.case.attackers - self.found


def read_lines(path: Path) -> list[str]:
    return [line for line in path.read_bytes().decode("utf-8", "replace").splitlines()]


def crowdsec_cases(root: Path) -> list[Case]:
    cases: dict[Path, Case] = {}
    for assertion in root.rglob("scenario.assert"):
        folder = assertion.parent
        logs = sorted(folder.glob("*.log"))
        if logs:
            lines = [line for log in logs for line in read_lines(log)]
            attackers = set(ASSERT_SOURCE.findall(assertion.read_text(errors="replace")))
            cases[folder] = Case(f"crowdsec/{folder.name}", "crowdsec", lines, attackers)
    for table in root.rglob("EXPECTED_ALERTS.csv"):
        with table.open(newline="") as handle:
            for row in csv.DictReader(handle):
                folder = table.parent / row["test_dir"]
                if (folder / "scenario.assert").is_file():
                    continue  # read from the assertion itself above
                if folder not in cases:
                    logs = [folder / name for name in row["log_files"].split(";") if name]
                    lines = [line for log in logs if log.is_file() for line in read_lines(log)]
                    cases[folder] = Case(f"crowdsec/{folder.name}", "crowdsec", lines)
                if row.get("source"):
                    cases[folder].attackers.add(row["source"])
    return list(cases.values())


def fail2ban_cases(root: Path) -> list[Case]:
    cases = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".csv", ".tsv", ".md", ".yaml", ".assert"):
            continue
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if "# failJSON:" not in text:
            continue
        lines, attackers, benign = [], set(), set()
        pending, other_mode = None, False
        for raw in text.splitlines():
            if raw.startswith("# filterOptions:"):
                other_mode = not _normal_mode(raw.split(":", 1)[1])
                continue
            if raw.startswith("# failJSON:"):
                try:
                    pending = json.loads(raw.split(":", 1)[1])
                except ValueError:
                    pending = None
                continue
            if raw.startswith("#") or not raw.strip():
                continue
            meta, pending = pending, None
            if meta is None or other_mode or "constraint" in meta:
                continue
            lines.append(raw)
            if meta.get("match") and isinstance(meta.get("host"), str):
                if is_address(meta["host"]):
                    attackers.add(meta["host"])
            elif not meta.get("match"):
                benign.add(len(lines))
        if lines:
            name = f"fail2ban/{path.relative_to(root).as_posix()}"
            cases.append(Case(name, "fail2ban", lines, attackers, benign, line_level=True))
    return cases


def _normal_mode(options: str) -> bool:
    """Whether a fail2ban block's filterOptions include the filter's normal mode."""
    try:
        parsed = json.loads(options)
    except ValueError:
        return False
    parsed = parsed if isinstance(parsed, list) else [parsed]
    return any(isinstance(o, dict) and o.get("mode", "normal") == "normal" for o in parsed)


def loghub_cases(root: Path, threshold: int) -> list[Case]:
    cases = []
    for apache in root.rglob("Apache_2k.log"):
        cases.append(Case(f"loghub/{apache.parent.name}", "loghub", read_lines(apache)))
    for log in root.rglob("OpenSSH_2k.log"):
        labels = sorted(log.parent.glob("OpenSSH_2k.log_structured*.csv"))
        if not labels or any(c.name == "loghub/OpenSSH" for c in cases):
            continue
        failures: dict[str, int] = defaultdict(int)
        with labels[-1].open(newline="") as handle:
            for row in csv.DictReader(handle):
                content = row.get("Content", "")
                if "Failed password" in content or "Failed none" in content:
                    address = re.search(r"from (\d+\.\d+\.\d+\.\d+)", content)
                    repeated = re.search(r"repeated (\d+) times", content)
                    if address:
                        failures[address[1]] += int(repeated[1]) if repeated else 1
        attackers = {a for a, n in failures.items() if n >= threshold}
        cases.append(Case("loghub/OpenSSH", "loghub", read_lines(log), attackers))
    return cases


def discover(root: Path) -> list[Case]:
    threshold = settings.ANALYSIS_BRUTE_FORCE_THRESHOLD
    return [*crowdsec_cases(root), *fail2ban_cases(root), *loghub_cases(root, threshold)]


def named_sources(issues: list[FoundIssue]) -> set[str]:
    return {ip for issue in issues for ip in issue.source_ips} | {
        issue.key for issue in issues if is_address(issue.key)
    }


def rule_result(case: Case) -> tuple[list[FoundIssue], dict[str, set[int]]]:
    analyser = RuleAnalyser(record_events=True).feed(case.lines)
    issues = analyser.findings()
    counted: dict[str, set[int]] = defaultdict(set)
    for event in analyser.events:
        if event.source and event.event != "auth.success":
            counted[event.source].add(event.line)
    return issues, counted


def score(case: Case, issues: list[FoundIssue], counted: dict[str, set[int]]) -> Score:
    result = Score(case, findings=len(issues))
    named = named_sources(issues)
    if case.line_level:
        seen = set(counted) | named
        result.found = case.attackers & seen
        result.false = {
            source
            for source, lines in counted.items()
            if source not in case.attackers and lines & case.benign_lines
        }
        benign = [case.lines[n - 1] for n in sorted(case.benign_lines)]
        if benign:
            result.severe_false = [
                i.title
                for i in RuleAnalyser().feed(benign).findings()
                if i.severity in ("high", "critical")
            ]
    else:
        result.found = case.attackers & named
        result.false = named - case.attackers
        if not case.attackers:
            result.false |= {i.key for i in issues if not i.source_ips}
            result.severe_false = [i.title for i in issues if i.severity in ("high", "critical")]
    return result


class Command(BaseCommand):
    help = (
        "Score the log analysers on labelled samples (CrowdSec hub tests, fail2ban's "
        "failJSON logs, Loghub): recall, precision and false findings per case and family."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory")
        parser.add_argument("--analyser", choices=("rules", "llm", "both"), default="rules")
        parser.add_argument("--cases", action="store_true", help="print every case's line")
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args, directory: str, analyser: str, cases: bool, json: bool, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{directory}: no such directory")
        found_cases = discover(root)
        if not found_cases:
            raise CommandError(f"{directory}: no labelled cases (CrowdSec, fail2ban, Loghub)")
        if analyser != "rules":
            from analysis.llm import llm_configured

            if not llm_configured():
                raise CommandError("--analyser llm needs LLM_API_URL (and LLM_API_KEY) set")
        scores = [self._score(case, analyser) for case in found_cases]
        if json:
            self.stdout.write(_json(scores))
            return
        self._print(scores, cases)

    def _score(self, case: Case, analyser: str) -> Score:
        issues, counted = rule_result(case) if analyser != "llm" else ([], {})
        if analyser in ("llm", "both") and case.lines:
            from analysis.llm import LLMClient
            from analysis.prompt import analyse_with_llm
            from analysis.runner import cross_check

            client = LLMClient.from_settings()
            result = analyse_with_llm(client, f"evaluation ({case.name})", case.lines)
            issues = result.issues if analyser == "llm" else cross_check(issues, result.issues)[0]
            if analyser == "llm":
                counted = {}
        return score(case, issues, counted)

    def _print(self, scores: list[Score], each: bool) -> None:
        write = self.stdout.write
        if each:
            write(f"{'case':48} {'attackers':>9} {'found':>5} {'false':>5} severe")
            for s in scores:
                write(
                    f"{s.case.name[:48]:48} {len(s.case.attackers):>9} {len(s.found):>5} "
                    f"{len(s.false):>5} {len(s.severe_false)}"
                    + (f"  missed: {', '.join(sorted(s.missed)[:5])}" if s.missed else "")
                )
            write("")
        write(
            f"| {'family':18} | cases | attack sources | found | recall | false | precision "
            "| high/critical on benign |"
        )
        write("|---|---|---|---|---|---|---|---|")
        families: dict[str, list[Score]] = defaultdict(list)
        for s in scores:
            families[s.case.family].append(s)
        for family in sorted(families):
            write(_row(family, families[family]))
        write(_row("**all**", scores))
        severe = [(s.case.name, t) for s in scores for t in s.severe_false]
        for name, title in severe:
            write(f"high/critical on benign input: {name}: {title}")


def _totals(scores: list[Score]) -> tuple[int, int, int, int]:
    attackers = sum(len(s.case.attackers) for s in scores)
    found = sum(len(s.found) for s in scores)
    false = sum(len(s.false) for s in scores)
    severe = sum(len(s.severe_false) for s in scores)
    return attackers, found, false, severe


def _row(label: str, scores: list[Score]) -> str:
    attackers, found, false, severe = _totals(scores)
    recall = f"{100 * found / attackers:.1f} %" if attackers else "–"
    precision = f"{100 * found / (found + false):.1f} %" if found + false else "–"
    return (
        f"| {label:18} | {len(scores)} | {attackers} | {found} | {recall} | {false} | "
        f"{precision} | {severe} |"
    )


def _json(scores: list[Score]) -> str:
    attackers, found, false, severe = _totals(scores)
    return json.dumps(
        {
            "attack_sources": attackers,
            "found": found,
            "false": false,
            "severe_on_benign": severe,
            "cases": [
                {
                    "case": s.case.name,
                    "family": s.case.family,
                    "attack_sources": len(s.case.attackers),
                    "found": sorted(s.found),
                    "missed": sorted(s.missed),
                    "false": sorted(s.false),
                    "severe_on_benign": s.severe_false,
                }
                for s in scores
            ],
        },
        indent=2,
    )
