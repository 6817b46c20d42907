"""manage.py eval_analysis on labelled cases written here (CrowdSec hub layout, fail2ban's
failJSON annotations), and on ../shared/logsamples when it is there."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

SHARED = Path(__file__).parents[1].parent / "shared" / "logsamples"
CROWDSEC = Path(__file__).parent / "fixtures" / "crowdsec"


def run(*args) -> str:
    out = StringIO()
    call_command("eval_analysis", *map(str, args), stdout=out)
    return out.getvalue()


def test_scores_crowdsec_cases_and_failjson_logs(tmp_path):
    case = tmp_path / "ssh-bf"
    case.mkdir()
    (case / "ssh-bf.log").write_text((CROWDSEC / "ssh-bf" / "ssh-bf.log").read_text())
    (case / "scenario.assert").write_text(
        'len(results) == 1\nresults[0].Overflow.Sources["35.188.49.176"].IP == "35.188.49.176"\n'
    )
    benign = tmp_path / "sshd-success"
    benign.mkdir()
    (benign / "ok.log").write_text(
        (CROWDSEC / "sshd-success-logs" / "sshd-success-logs.log").read_text()
    )
    (benign / "scenario.assert").write_text("len(results) == 0\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "ftpd").write_text(
        "# written for netmon\n"
        '# failJSON: { "match": true, "host": "203.0.113.7" }\n'
        'Mar  3 11:00:00 ftp vsftpd[1]: [bob] FAIL LOGIN: Client "203.0.113.7"\n'
        '# failJSON: { "match": false }\n'
        'Mar  3 11:00:01 ftp vsftpd[2]: [bob] OK LOGIN: Client "192.0.2.99"\n'
        '# filterOptions: [{"mode": "aggressive"}]\n'
        '# failJSON: { "match": true, "host": "198.51.100.8" }\n'
        "Mar  3 11:00:02 ftp vsftpd[3]: something only the aggressive mode counts\n"
    )

    report = json.loads(run(tmp_path, "--json"))
    table = run(tmp_path)

    cases = {c["case"]: c for c in report["cases"]}
    assert cases["crowdsec/ssh-bf"]["found"] == ["35.188.49.176"]
    assert cases["crowdsec/sshd-success"]["false"] == []
    assert cases["fail2ban/logs/ftpd"] == {
        "case": "fail2ban/logs/ftpd",
        "family": "ftp",
        "attack_sources": 1,  # the aggressive-mode block is left out
        "found": ["203.0.113.7"],
        "missed": [],
        "false": [],
        "severe_on_benign": [],
    }
    assert (report["attack_sources"], report["found"], report["false"]) == (2, 2, 0)
    assert "| **all**            | 3 | 2 | 2 | 100.0 % | 0 | 100.0 % | 0 |" in table


def test_refuses_a_directory_without_cases_and_llm_without_endpoint(tmp_path, settings):
    with pytest.raises(CommandError, match="no labelled cases"):
        run(tmp_path)
    (tmp_path / "x").write_text('# failJSON: { "match": true, "host": "192.0.2.1" }\nline\n')
    settings.LLM_API_URL = ""
    with pytest.raises(CommandError, match="needs LLM_API_URL"):
        run(tmp_path, "--analyser", "llm")


def test_the_llm_path_is_scored_against_fake_llm(tmp_path, settings):
    from fakes import FakeLLM

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "sshd").write_text(
        "".join(
            '# failJSON: { "match": true, "host": "203.0.113.9" }\n'
            f"Mar  3 10:00:0{n} h sshd[1]: Failed password for root from 203.0.113.9 port 2 ssh2\n"
            for n in range(5)
        )
    )
    with FakeLLM() as llm:
        settings.LLM_API_URL = f"{llm.url}/v1"
        settings.LLM_API_KEY = "test-key"
        llm.default_answer = json.dumps(
            {
                "findings": [
                    {
                        "severity": "high",
                        "category": "brute_force",
                        "title": "SSH brute force",
                        "description": "five failures",
                        "source_ips": ["203.0.113.9", "not-an-ip"],
                    }
                ]
            }
        )
        report = json.loads(run(tmp_path, "--analyser", "llm", "--json"))

    assert report["found"] == 1 and report["false"] == 0
    assert len(llm.calls) == 1


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (samples read in place)")
def test_on_the_shared_samples_no_benign_sample_gets_a_high_finding_but_one():
    report = json.loads(run(SHARED, "--json"))

    severe = {c["case"]: c["severe_on_benign"] for c in report["cases"] if c["severe_on_benign"]}
    # CrowdSec's pam-logs is a parser test, but its lines are a real pam_tally2 lock-out.
    assert severe == {"crowdsec/pam-logs": ["zbadguy locked out after failed sudo/su passwords"]}
    assert report["found"] / report["attack_sources"] > 0.5
