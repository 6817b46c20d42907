"""The rule analyser on our own lines (every rule), on the CrowdSec samples copied into
tests/fixtures (MIT), and on the Loghub and fail2ban samples read in place from
../shared/logsamples (skipped when that folder is absent)."""

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from analysis.rules import RuleAnalyser, analyse

FIXTURES = Path(__file__).parent / "fixtures"
OWN = FIXTURES / "logs"
CROWDSEC = FIXTURES / "crowdsec"
SHARED = Path(__file__).parents[1].parent / "shared" / "logsamples"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"{SHARED} is absent: the Loghub and fail2ban samples are read in place, not copied",
)


def lines_of(path: Path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").splitlines()


def summary(path: Path, **thresholds) -> set[tuple[str, str, str]]:
    """(category, key, severity) of every finding in a log file."""
    issues = RuleAnalyser(**thresholds).feed(lines_of(path)).findings()
    return {(issue.category, issue.key, issue.severity) for issue in issues}


# Our own lines, one file per group of rules ---------------------------------------------------


def test_ssh_brute_force_enumeration_probing_and_injected_addresses():
    assert summary(OWN / "ssh.log") == {
        ("brute_force", "203.0.113.10", "high"),  # 1 + "message repeated 20 times"
        ("brute_force", "198.51.100.20", "medium"),  # 6 invalid users: enumeration
        ("brute_force", "192.0.2.31", "medium"),  # not the address injected in the user name
        ("brute_force", "203.0.113.55", "medium"),  # key exchange, banner, timeout probes
        ("brute_force", "198.51.100.70", "medium"),  # dropbear
    }
    issues = {issue.key: issue for issue in analyse(lines_of(OWN / "ssh.log"))}
    assert "user enumeration" in issues["198.51.100.20"].title
    assert issues["203.0.113.10"].events == 21
    assert issues["203.0.113.10"].source_ips == ["203.0.113.10"]
    assert len(issues["203.0.113.10"].evidence) == 2  # every line of it with its address
    assert not any("198.51.100.99" in issue.source_ips for issue in issues.values())


def test_below_the_threshold_nothing_is_reported(settings):
    settings.ANALYSIS_BRUTE_FORCE_THRESHOLD = 30

    # Pre-authentication probing has its own threshold (detections.yaml: probing, 4).
    assert summary(OWN / "ssh.log") == {("brute_force", "203.0.113.55", "medium")}


def test_a_successful_login_after_many_failures_is_critical():
    issues = analyse(lines_of(OWN / "login-after-failures.log"))

    assert {(i.category, i.key, i.severity) for i in issues} == {
        ("brute_force", "203.0.113.50", "medium"),
        ("login_after_failures", "203.0.113.50", "critical"),
    }
    [login] = [i for i in issues if i.category == "login_after_failures"]
    assert login.title == "Successful login as deploy from 203.0.113.50 after 6 failures"
    assert "Accepted password for deploy" in login.evidence[-1]


def test_sudo_and_su_failures():
    assert summary(OWN / "privilege.log") == {
        ("privilege_escalation", "alice", "medium"),  # 3 wrong sudo passwords
        ("privilege_escalation", "mallory", "high"),  # not in sudoers
        ("privilege_escalation", "bob", "medium"),  # 3 failed su (each logged twice)
    }  # carol: one typo; dave: a normal su session


def test_firewall_drops_and_port_scans(settings):
    assert summary(OWN / "firewall.log", firewall_drops=5) == {
        ("port_scan", "203.0.113.66", "medium"),  # UFW, nft and iptables drops, 10 ports
        ("port_scan", "198.51.100.77", "medium"),  # pfSense filterlog: 10 hosts, port 22
        ("port_scan", "203.0.113.99", "medium"),  # reported by scanlogd
        ("firewall_drop", "192.0.2.88", "low"),  # 6 drops on 2 ports: noisy, not a scan
    }
    issues = {
        i.key: i
        for i in RuleAnalyser(firewall_drops=5).feed(lines_of(OWN / "firewall.log")).findings()
    }
    assert "8080" not in issues["203.0.113.66"].description  # the ALLOW line
    assert summary(OWN / "firewall.log") == summary(OWN / "firewall.log", firewall_drops=5) - {
        ("firewall_drop", "192.0.2.88", "low")
    }


def test_kernel_and_disk_errors():
    assert summary(OWN / "system.log") == {
        ("disk_error", "ata3", "medium"),
        ("disk_error", "sdb", "high"),
        ("disk_error", "sdb1", "high"),
        ("disk_error", "read-only", "critical"),
        ("disk_error", "/dev/sdb", "high"),
        ("disk_error", "full", "medium"),
        ("kernel_error", "oom", "high"),
        ("kernel_error", "lockup", "high"),
        ("kernel_error", "hung_task", "medium"),
        ("kernel_error", "hardware", "high"),
    }  # the boot lines at the end are not errors


def test_service_crash_loops():
    assert summary(OWN / "services.log") == {
        ("service_crash", "nginx.service", "high"),  # systemd gave up
        ("service_crash", "worker", "medium"),  # segfaulted 3 times
        ("service_crash", "queue", "high"),  # supervisord: FATAL
    }  # backup.service failed once; certbot.service exited with success


def test_a_benign_log_has_no_findings():
    assert analyse(lines_of(OWN / "benign.log")) == []


def test_every_rule_is_covered_by_our_own_fixtures():
    categories = set()
    for path in OWN.glob("*.log"):
        categories |= {
            issue.category
            for issue in RuleAnalyser(firewall_drops=5).feed(lines_of(path)).findings()
        }
    assert categories == {
        "brute_force",
        "login_after_failures",
        "privilege_escalation",
        "port_scan",
        "firewall_drop",
        "disk_error",
        "kernel_error",
        "service_crash",
    }


# CrowdSec hub samples (copied, MIT) -----------------------------------------------------------


@pytest.mark.parametrize(
    "sample, expected",
    [
        ("ssh-bf/ssh-bf.log", {("brute_force", "35.188.49.176", "medium")}),
        (
            "sshd_banner_exchange/sshd_banner_exchange.log",
            {("brute_force", "59.91.122.57", "medium")},
        ),
        (
            "sshd-bad-keyexchange-bf/sshd-bad-keyexchange-bf.log",
            {
                ("brute_force", "123.57.135.134", "medium"),
                ("brute_force", "206.189.59.169", "medium"),
                ("brute_force", "123.123.123.123", "medium"),
            },
        ),
        (
            "mikrotik-scan-multi_ports/mikrotik-scan-multi_ports.log",
            {("port_scan", "36.97.161.219", "medium")},
        ),
        ("mikrotik-bf/mikrotik-bf.log", {("brute_force", "10.10.0.35", "medium")}),
        ("pfsense-gui-auth/pfsense-gui-auth.log", {("brute_force", "10.0.0.1", "medium")}),
        ("opnsense-gui-auth/opnsense-gui-auth.log", {("brute_force", "1.2.3.4", "medium")}),
        (
            "configserver-lfd-logs/configserver-lfd.log",
            {
                ("brute_force", "93.108.242.140", "medium"),
                ("brute_force", "107.170.39.69", "medium"),
                ("brute_force", "121.177.70.228", "medium"),
            },
        ),
        ("pam-logs/pam-logs.log", {("privilege_escalation", "zbadguy", "high")}),
        # paced attempts (one every 20 minutes): slow brute force, as CrowdSec expects
        ("ssh-time-based-bf/ssh-time-based-bf.log", {("brute_force", "10.0.0.101", "medium")}),
        # pre-authentication timeouts and MAC errors (CVE-2024-6387 attempts): probing
        (
            "ssh-timeout/ssh-timeout.log",
            {
                ("brute_force", "192.168.9.212", "medium"),
                ("brute_force", "192.168.9.213", "medium"),
            },
        ),
        # benign: successful logins, session ends, parser-only samples
        ("sshd-success-logs/sshd-success-logs.log", set()),
        ("sshd-logs-fp/sshd-logs.log", set()),
        ("sshd-logs/sshd-logs.log", set()),
        ("syslog-logs/syslog-logs.log", set()),
        ("iptables-logs/iptables-logs.log", set()),
        ("proxmox-iptables-logs/proxmox-iptables.log", set()),
        ("pf-logs/pf-logs.log", set()),
        ("pfsense-rfc5424-filterlog/pfsense-rfc5424-filterlog.log", set()),
        ("unifi-logs/unifi-logs.log", set()),
        ("mikrotik-logs/mikrotik-logs.log", set()),
    ],
)
def test_crowdsec_samples(sample, expected):
    assert summary(CROWDSEC / sample) == expected


@pytest.mark.parametrize(
    "sample, drops",
    [
        ("iptables-logs/iptables-logs.log", 4),  # one of them a local DNS drop
        # ACCEPT lines are not drops; a line without any action word counts as one
        ("proxmox-iptables-logs/proxmox-iptables.log", 8),
        ("pf-logs/pf-logs.log", 6),  # pass lines are not drops
        ("pfsense-rfc5424-filterlog/pfsense-rfc5424-filterlog.log", 4),
        ("unifi-logs/unifi-logs.log", 2),  # "-A-" rules accept
        ("mikrotik-logs/mikrotik-logs.log", 2),  # the "input:" lines without drop are let in
    ],
)
def test_firewall_formats_are_parsed(sample, drops):
    analyser = RuleAnalyser().feed(lines_of(CROWDSEC / sample))

    assert sum(tally.kinds["drop"] for tally in analyser.firewall.values()) == drops


# Loghub (read in place: research-only licence) --------------------------------------------------


@needs_shared
def test_loghub_openssh_brute_force_sources_match_the_labels():
    """The sources with 5+ failed passwords per Loghub's corrected labels, and no others."""
    labels = SHARED / "loghub-2.0" / "OpenSSH" / "OpenSSH_2k.log_structured_corrected.csv"
    failures: Counter = Counter()
    with labels.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["EventTemplate"].startswith(("Failed password", "Failed none")) or (
                "message repeated" in row["Content"] and "Failed password" in row["Content"]
            ):
                address = re.search(r"from (\d+\.\d+\.\d+\.\d+)", row["Content"])[1]
                repeated = re.search(r"repeated (\d+) times", row["Content"])
                failures[address] += int(repeated[1]) if repeated else 1
    expected = {address for address, count in failures.items() if count >= 5}

    issues = analyse(lines_of(SHARED / "loghub" / "OpenSSH" / "OpenSSH_2k.log"))  # CRLF

    assert {i.key for i in issues if i.category == "brute_force"} == expected
    assert len(expected) == 12
    assert {i.category for i in issues} == {"brute_force"}  # the one accepted login is clean
    top = next(i for i in issues if i.key == "183.62.140.253")
    assert top.severity == "high" and top.events >= 286


@needs_shared
def test_loghub_linux_finds_only_ssh_brute_force():
    issues = analyse(lines_of(SHARED / "loghub" / "Linux" / "Linux_2k.log"))

    assert {i.category for i in issues} == {"brute_force"}  # boot, su sessions: nothing
    assert "150.183.249.110" in {i.key for i in issues}
    assert len(issues) >= 30


@needs_shared
def test_loghub_apache_directory_index_noise_is_not_an_attack():
    assert analyse(lines_of(SHARED / "loghub" / "Apache" / "Apache_2k.log")) == []


# fail2ban test fixtures (read in place: GPL) --------------------------------------------------


def fail2ban_cases(name: str) -> list[tuple[dict, str]]:
    """(failJSON, line) pairs of a fail2ban fixture, without mode-dependent ones."""
    lines = lines_of(SHARED / "fail2ban" / "logs" / name)
    cases = []
    for index, line in enumerate(lines[:-1]):
        if not line.startswith("# failJSON:"):
            continue
        try:
            meta = json.loads(line.split(":", 1)[1])
        except ValueError:
            continue
        sample = lines[index + 1]
        if not sample.startswith("#") and "constraint" not in meta:
            cases.append((meta, sample))
    return cases


@needs_shared
@pytest.mark.parametrize("name", ["sshd", "sshd-journal", "dropbear"])
def test_fail2ban_failures_are_blamed_on_the_right_address(name):
    """Line by line: a failure we count is never blamed on the wrong address (the sshd file
    includes user names crafted to inject one); fail2ban counts more because it also uses
    context (a "Connection closed" after an earlier failure of the same process)."""
    found = wrong = missed = 0
    for meta, line in fail2ban_cases(name):
        analyser = RuleAnalyser().feed([line])
        analyser.findings()
        blamed = {source for source, tally in analyser.logins.items() if tally.attempts}
        if meta.get("match") and meta.get("host"):
            if meta["host"] in blamed:
                found += 1
            elif blamed:
                wrong += 1
            else:
                missed += 1
        elif blamed:  # fail2ban waits for context, or distrusts a "kernel:" in the message
            assert re.search("authentication failure|Too many authentication|kernel:", line)
    assert wrong == 0
    assert found >= {"sshd": 55, "sshd-journal": 45, "dropbear": 7}[name]


@needs_shared
def test_fail2ban_injected_user_names_do_not_shift_the_blame():
    issues = analyse(lines_of(SHARED / "fail2ban" / "logs" / "sshd"))
    blamed = {i.key for i in issues} | {ip for i in issues for ip in i.source_ips}

    assert "10.10.1.1" not in blamed and "10.10.1.2" not in blamed
    assert ("brute_force", "127.0.0.1") in {(i.category, i.key) for i in issues}


@needs_shared
@pytest.mark.parametrize(
    "name, address", [("portsentry", "192.168.56.1"), ("scanlogd", "192.0.2.123")]
)
def test_fail2ban_scan_detector_logs(name, address):
    issues = analyse(lines_of(SHARED / "fail2ban" / "logs" / name))

    assert [(i.category, i.key) for i in issues] == [("port_scan", address)]


def test_speed_is_well_above_a_busy_log(benchmark_lines=20_000):
    """A smoke check of speed (bench/analysis_speed measures it properly)."""
    import time

    lines = (lines_of(OWN / "ssh.log") + lines_of(OWN / "firewall.log")) * (benchmark_lines // 66)
    started = time.perf_counter()
    RuleAnalyser().feed(lines).findings()
    assert len(lines) / (time.perf_counter() - started) > 20_000  # lines per second
