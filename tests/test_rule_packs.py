"""The rule packs (analysis/rule_packs/*.yaml): every pack on its own fixture, written for
netmon from each service's documented log format (tests/fixtures/logs/packs/, documentation
addresses), and the loader's checks of packs an operator writes (ANALYSIS_RULES_DIR)."""

from pathlib import Path

import pytest

from analysis import rule_loader
from analysis.rule_engine import RuleAnalyser, auto_address
from analysis.rule_loader import RulePackError

PACKS = Path(__file__).parent / "fixtures" / "logs" / "packs"
OWN = Path(__file__).parent / "fixtures" / "logs"


def summary(path: Path, **thresholds) -> set[tuple[str, str, str]]:
    issues = RuleAnalyser(**thresholds).feed(path.read_text().splitlines()).findings()
    return {(str(issue.category), issue.key, issue.severity) for issue in issues}


@pytest.mark.parametrize(
    "fixture, expected",
    [
        (  # OpenVPN, FortiGate SSL VPN (key=value), strongSwan EAP
            "vpn",
            {
                ("brute_force", "203.0.113.21", "medium"),
                ("brute_force", "198.51.100.31", "medium"),
                ("brute_force", "192.0.2.41", "medium"),
            },
        ),
        (  # vsftpd, ProFTPD, Pure-FTPd
            "ftp",
            {
                ("brute_force", "203.0.113.22", "medium"),
                ("brute_force", "198.51.100.32", "medium"),
                ("brute_force", "192.0.2.42", "medium"),
            },
        ),
        (  # Postfix SASL, Dovecot IMAP, Exim authenticator
            "mail",
            {
                ("brute_force", "203.0.113.23", "medium"),
                ("brute_force", "198.51.100.33", "medium"),
                ("brute_force", "192.0.2.43", "medium"),
            },
        ),
        (  # MySQL, PostgreSQL, MongoDB 4.4+ JSON
            "databases",
            {
                ("brute_force", "203.0.113.24", "medium"),
                ("brute_force", "198.51.100.34", "medium"),
                ("brute_force", "192.0.2.44", "medium"),
            },
        ),
        ("smb", {("brute_force", "203.0.113.25", "medium")}),  # Samba auth audit
        (  # Proxmox VE, Synology DSM
            "hypervisors-nas",
            {("brute_force", "203.0.113.26", "medium"), ("brute_force", "198.51.100.36", "medium")},
        ),
        (  # Asterisk chan_sip, FreeSWITCH
            "pbx",
            {("brute_force", "203.0.113.27", "medium"), ("brute_force", "198.51.100.37", "medium")},
        ),
        (  # Webmin, nginx basic auth, SQL injection and sensitive-file probing
            "web",
            {
                ("brute_force", "203.0.113.28", "medium"),
                ("brute_force", "198.51.100.38", "medium"),
                ("web_attack", "192.0.2.48", "medium"),
                ("web_attack", "192.0.2.49", "medium"),
            },
        ),
        (  # cowrie logins (every one counts), an endlessh tarpit catch (low)
            "honeypots",
            {("brute_force", "203.0.113.29", "medium"), ("brute_force", "198.51.100.39", "low")},
        ),
        (  # daemons no pack names: the safety net
            "generic",
            {("brute_force", "203.0.113.30", "medium"), ("brute_force", "198.51.100.40", "medium")},
        ),
    ],
)
def test_each_pack_finds_its_attackers_and_nothing_in_the_benign_lines(fixture, expected):
    assert summary(PACKS / f"{fixture}.log") == expected


def test_firewall_appliances_fortigate_and_cisco_asa():
    assert summary(PACKS / "firewall-vendors.log", port_scan=5) == {
        ("port_scan", "203.0.113.31", "medium"),  # FortiGate deny on 6 ports; accept ignored
        ("port_scan", "198.51.100.41", "medium"),  # ASA 106023 on 5 ports
    }


def test_the_shipped_packs_cover_every_family_and_are_all_exercised():
    """Every pack has a fixture here or in tests/fixtures/logs (sshd, firewall, sudo,
    system: tests/test_analysis_rules.py), and every pack's rules load."""
    rules = rule_loader.load()
    assert [p.name for p in rules.packs] == [
        "sshd",
        "firewall",
        "privilege",
        "system",
        "vpn",
        "ftp",
        "mail",
        "databases",
        "smb",
        "hypervisors-nas",
        "pbx",
        "web",
        "honeypots",
        "generic",
    ]
    used = set()
    for path in [*PACKS.glob("*.log"), *OWN.glob("*.log")]:
        analyser = RuleAnalyser(firewall_drops=5, record_events=True)
        analyser.feed(path.read_text().splitlines())
        used |= {rules.rule(event.rule).pack for event in analyser.events}
    assert used == {p.name for p in rules.packs}


def test_the_generic_safety_net_takes_the_clients_address_not_any_address():
    assert auto_address("x: login failed for bob from 203.0.113.5 via 192.0.2.1") == ("203.0.113.5")
    assert auto_address("x: authentication failed, peer 198.51.100.2") == "198.51.100.2"
    assert auto_address("copy 192.0.2.1 to 192.0.2.2 failed: bad password") == ""  # ambiguous
    assert auto_address("failed at 10:06:00 for 192.0.2.7") == "192.0.2.7"  # not a time


def test_distributed_brute_force_against_one_user():
    lines = [
        f"Mar  3 10:{n:02d}:00 h sshd[{n}]: Failed password for root from 203.0.113.{n} port 2"
        for n in range(1, 13)
        for _ in range(2)
    ]
    issues = RuleAnalyser().feed(lines).findings()

    assert [(i.category, i.key) for i in issues] == [("brute_force", "user:root")]
    assert len(issues[0].source_ips) == 12 and issues[0].events == 24


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_an_operator_pack_adds_rules_and_overrides_a_shipped_rule(tmp_path):
    write(
        tmp_path,
        "myapp.yaml",
        """\
pack: myapp
family: web
needles: [myapp]
rules:
  - id: myapp.bad-token
    match: 'myapp: bad token from (?P<src>%{IP})'
    event: auth.failure
    service: My app
  - id: webmin.invalid-login      # replaces the shipped rule of this id, in its pack
    needles: [Invalid login as]
    match: 'Invalid login as (?P<user>\\S+) from (?P<src>%{IP})'
    event: auth.failure
    service: Webmin (mine)
""",
    )
    rules = rule_loader.load(tmp_path)
    lines = [f"Mar  3 10:00:0{n} h myapp: bad token from 192.0.2.5" for n in range(5)] + [
        f"Mar  3 10:00:0{n} gw webmin[1]: Invalid login as root from 192.0.2.6" for n in range(5)
    ]
    issues = RuleAnalyser(rules=rules).feed(lines).findings()

    assert {(i.key, i.title.split(" brute")[0]) for i in issues} == {
        ("192.0.2.5", "My app"),
        ("192.0.2.6", "Webmin (mine)"),
    }
    assert rules.rule("webmin.invalid-login").pack == "web"
    assert rules.packs[-1].name == "generic"  # the safety net stays last


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("pack: x\nrules: [\n", 3, "not valid YAML"),
        (
            "pack: x\nneedles: [x]\nrules:\n  - id: a\n    event: nope\n    match: x\n",
            4,
            "event must be one of",
        ),
        (
            "pack: x\nneedles: [x]\nrules:\n  - id: a\n    event: auth.failure\n    match: 'x'\n",
            4,
            "needs the named group(s) src",
        ),
        (
            "pack: x\nneedles: [x]\nrules:\n  - id: a\n    event: ignore\n    match: '(x'\n",
            4,
            "not a valid regular expression",
        ),
        (
            "pack: x\nrules:\n  - id: a\n    event: ignore\n    match: x\n",
            3,
            "needles are required",
        ),
        (
            "pack: x\nneedles: [x]\nrules:\n  - id: a\n    event: ignore\n    match: '%{IPX}'\n",
            4,
            "unknown placeholder",
        ),
        (
            "pack: x\nneedles: [x]\nrules:\n\n  - id: a\n    event: system\n    match: x\n",
            5,
            "category is required",
        ),
        (
            "pack: x\nneedles: [x]\nrules:\n  - id: sshd.failed\n    event: ignore\n    match: x\n"
            "  - id: sshd.failed\n    event: ignore\n    match: y\n",
            7,
            "id also used",
        ),
        ("detections:\n  brute_force:\n    burst_window: soon\n", 3, "not a duration"),
    ],
)
def test_a_broken_operator_pack_is_refused_with_its_file_and_line(tmp_path, text, line, message):
    name = "detections.yaml" if text.startswith("detections") else "mine.yaml"
    path = write(tmp_path, name, text)

    with pytest.raises(RulePackError) as raised:
        rule_loader.load(tmp_path)

    assert str(raised.value).startswith(f"{path}:{line}")
    assert message in str(raised.value)


def test_an_operator_detections_file_changes_single_values(tmp_path):
    write(tmp_path, "detections.yaml", "detections:\n  probing:\n    count: 2\n")
    rules = rule_loader.load(tmp_path)
    lines = [
        f"Mar  3 10:00:0{n} h sshd[1]: Did not receive identification string from 192.0.2.9"
        for n in range(2)
    ]

    assert rules.detections["probing"]["count"] == 2
    assert rules.detections["brute_force"]["burst_window"] == 600
    assert [i.key for i in RuleAnalyser(rules=rules).feed(lines).findings()] == ["192.0.2.9"]
    assert RuleAnalyser().feed(lines).findings() == []
