"""What ``serve`` reports of its children reaches ``/api/v1/health``, without process ids.

The supervisor writes its state file as it does under ``serve`` (tests/test_serve.py runs
the real thing, signals included); here only the reading side is under test.
"""

import pytest
from rest_framework.test import APIClient

from netmon.supervisor import STATE_VARIABLE, Child, Supervisor


@pytest.fixture
def supervisor(tmp_path, monkeypatch) -> Supervisor:
    children = [Child("web", ["gunicorn"]), Child("worker", ["qcluster"])]
    supervisor = Supervisor(children, tmp_path / "state.json", tmp_path)
    monkeypatch.setenv(STATE_VARIABLE, str(supervisor.state_path))
    return supervisor


def supervisor_check() -> tuple[dict, dict]:
    body = APIClient().get("/api/v1/health").json()
    return body["checks"]["supervisor"], body.get("supervisor", {})


@pytest.mark.django_db
def test_a_child_waiting_for_its_restart_degrades_the_report(supervisor):
    web, worker = supervisor.children
    web.restarts, web.last_exit, web.last_exit_at = 2, "exited with status 1", "2026-12-01"
    worker.last_exit = "was killed by SIGKILL"
    supervisor.write_state()

    check, children = supervisor_check()

    assert check == {
        "ok": False,
        "detail": "not running, restarting: web, worker",
        "critical": False,
    }
    assert children["web"]["restarts"] == 2
    assert children["worker"]["last_exit"] == "was killed by SIGKILL"
    assert all("pid" not in child for child in children.values())


@pytest.mark.django_db
def test_an_unreadable_state_file_says_so(supervisor):
    supervisor.state_path.write_text("{not json")

    check, children = supervisor_check()

    assert check["ok"] is False and "cannot read" in check["detail"]
    assert children == {}
