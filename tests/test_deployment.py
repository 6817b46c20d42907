"""The container files and the ``netmon-run`` entry point.

No Docker engine runs here, so the image is never built: what can be checked without
one is — the Dockerfile and compose.yaml statically (hadolint, docker-compose's own
validation, their content), the build context (.dockerignore keeps what the image
needs), and the health-check script both files call (netmon/healthcheck.py), run against
real serve processes: all roles, the web role alone, a role without a web server.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.processes import (
    MANAGE,
    ROOT,
    free_port,
    http_status,
    process_database,
    process_env,
    running,
    tagged_processes,
    wait_for_exit,
    wait_until,
    wait_until_healthy,
)

NETMON_RUN = Path(sys.executable).parent / "netmon-run"


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    joined = dockerfile().replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and line[0] != "#"]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


HEALTHCHECK_SCRIPT = ["python", "-m", "netmon.healthcheck"]


def dockerfile_healthcheck() -> list[str]:
    [line] = [i for i in instructions() if i.startswith("HEALTHCHECK")]
    return ["CMD", *json.loads(line.split(" CMD ", 1)[1])]


def compose_healthcheck(service: str) -> list[str]:
    return compose()["services"][service]["healthcheck"]["test"]


def runnable(test: list[str]) -> list[str]:
    """A health-check ``CMD`` array made runnable here: our python instead of the image's."""
    assert test[0] == "CMD" and test[1:4] == HEALTHCHECK_SCRIPT, test
    return [sys.executable, *test[2:]]


def run_check(command: list[str], temp_dir: Path, **variables: str) -> int:
    """Exit status of a health check run as the container runs it: in serve's temporary
    directory (where serve keeps its state) and with only the variables given."""
    env = {"PATH": os.environ["PATH"], "TMPDIR": str(temp_dir), **variables}
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=30)
    return result.returncode


# The Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_and_non_root():
    lines = instructions()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in lines
    [user] = [line for line in lines if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid not in ("root", "0")
    assert 'ENTRYPOINT ["python", "manage.py", "serve"]' in lines
    assert any("WEB_BIND=0.0.0.0:8080" in line for line in lines if line.startswith("ENV "))
    assert 'VOLUME ["/app/data"]' in lines


def test_no_secret_is_baked_into_the_image():
    env_lines = [line for line in instructions() if line.startswith(("ENV ", "ARG "))]
    assert not any("SECRET_KEY" in line or "PASSWORD" in line for line in env_lines)
    # The throwaway key is given to the collectstatic step only, whose data dir is removed.
    [build_step] = [line for line in instructions() if "collectstatic" in line]
    assert build_step.startswith("RUN ") and "SECRET_KEY=" in build_step
    assert "rm -rf /tmp/build-data" in build_step


def test_no_frontend_is_pulled_to_parse_the_dockerfile():
    # "# syntax=…" makes BuildKit fetch that frontend image from Docker Hub on every build.
    assert not re.search(r"^#\s*syntax\s*=", dockerfile(), re.MULTILINE | re.IGNORECASE)


def test_the_dockerfile_and_every_netmon_service_use_the_same_health_check_script():
    services = compose()["services"]
    checks = {name: compose_healthcheck(name) for name in ("netmon", "web", "worker", "monitor")}

    assert dockerfile_healthcheck() == ["CMD", *HEALTHCHECK_SCRIPT]
    assert "curl" not in dockerfile()
    assert checks == {
        "netmon": ["CMD", *HEALTHCHECK_SCRIPT],
        "web": ["CMD", *HEALTHCHECK_SCRIPT, "--web-only"],
        "worker": ["CMD", *HEALTHCHECK_SCRIPT],
        "monitor": ["CMD", *HEALTHCHECK_SCRIPT],
    }
    assert not any(service.get("healthcheck", {}).get("disable") for service in services.values())


def test_the_health_check_does_not_import_django():
    code = "import sys, netmon.healthcheck; print(sorted(m for m in sys.modules if 'django' in m))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )

    assert result.stdout.strip() == "[]", result.stderr


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _matches(pattern: str, path: str) -> bool:
    """Go's filepath.Match as Docker uses it, plus ``**`` for any number of directories."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] in "*?":
            regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.fullmatch(regex, path) is not None


def in_build_context(path: str) -> bool:
    """Whether ``path`` (relative to the project) reaches the build, by .dockerignore's rules:
    the last matching pattern wins, and a pattern that matches a directory covers its files."""
    parts = path.split("/")
    included = True
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(_matches(pattern, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            included = negated
    return included


def test_the_build_context_has_what_the_image_needs_and_no_local_state():
    apps = sorted(path.parent.name for path in ROOT.glob("*/apps.py"))
    needed = [
        "manage.py",
        "pyproject.toml",
        "README.md",  # the package's readme: pip install needs it
        "scripts/client-heartbeat.sh",  # served at /scripts/client-heartbeat.sh
        *(str(path.relative_to(ROOT)) for path in (ROOT / "templates").rglob("*.html")),
        ".env.example",
        *(f"{app}/models.py" for app in apps),
    ]
    left_out = [
        ".env",
        ".env.production",
        "data/db.sqlite",
        "data/secret_key",
        ".venv/bin/python",
        ".git/config",
        "netmon/__pycache__/settings.cpython-311.pyc",
        "staticfiles/staticfiles.json",
        "tests/test_metrics.py",
        "id_ed25519",
        "compose.override.yaml",  # a local override: ports, secrets, paths of this machine
        "compose.prod.yaml",
    ]

    assert "netmon" in apps and "hosts" in apps
    assert [path for path in needed if not in_build_context(path)] == []
    assert [path for path in left_out if in_build_context(path)] == []


# compose.yaml ------------------------------------------------------------------------------


def test_the_default_is_one_container_with_the_data_volume_only():
    services = compose()["services"]
    netmon = services["netmon"]

    assert "profiles" not in netmon
    assert netmon["ports"] == ["${NETMON_PORT:-8080}:8080"]
    assert netmon["env_file"] == ".env"
    assert netmon["restart"] == "unless-stopped"
    # Nothing else of the host: the engine would create a missing ~/.ssh as root. The SSH
    # keys of log analysis are in ./data/ssh, the default ANALYSIS_SSH_KEY_DIRS.
    for name in ("netmon", "web", "worker", "monitor"):
        assert services[name]["volumes"] == ["./data:/app/data"], name
    assert netmon["environment"]["WEB_BIND"] == "0.0.0.0:8080"
    assert "command" not in netmon  # the image's entrypoint: serve, all three roles
    others = [name for name, service in services.items() if "profiles" not in service]
    assert others == ["netmon"]


def test_one_service_builds_the_image_the_others_run():
    # `--profile scale up --build` would otherwise build the same image once per service.
    services = compose()["services"]
    builders = [name for name, service in services.items() if "build" in service]

    assert builders == ["netmon"]
    image = services["netmon"]["image"]
    assert [services[name]["image"] for name in ("web", "worker", "monitor")] == [image] * 3


def test_the_scale_profile_splits_the_roles_and_migrates_once():
    services = compose()["services"]
    scaled = {name for name, service in services.items() if service.get("profiles") == ["scale"]}

    assert scaled == {"web", "worker", "monitor", "postgres", "redis"}
    commands = {name: services[name]["command"] for name in ("web", "worker", "monitor")}
    assert commands == {
        "web": ["--only", "web"],
        "worker": ["--only", "worker", "--no-migrate"],
        "monitor": ["--only", "monitor", "--no-migrate"],
    }
    for name in ("worker", "monitor"):
        assert services[name]["depends_on"]["web"] == {"condition": "service_healthy"}
    assert services["worker"]["deploy"]["replicas"] == "${NETMON_WORKERS:-2}"
    for name in ("web", "worker", "monitor"):
        environment = services[name]["environment"]
        assert environment["TASK_BROKER"] == "redis"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["DATABASE_URL"].startswith("postgres://netmon:")
        assert services[name]["restart"] == "unless-stopped"


def test_docker_tools_validate_both_files():
    missing = [tool for tool in ("docker-compose",) if shutil.which(tool) is None]
    hadolint = shutil.which("hadolint") or (ROOT / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        missing.append("hadolint")
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (.ci/run installs them)")

    result = subprocess.run(
        [str(ROOT / "scripts" / "check-container.sh")], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr


# Against a real server ---------------------------------------------------------------------


@pytest.mark.process
def test_netmon_run_serves_from_anywhere_and_the_health_checks_agree(tmp_path):
    if not NETMON_RUN.exists():
        pytest.skip(f"{NETMON_RUN} is not installed yet: pip install -e . (test.sh does)")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    temp_dir = tmp_path / "tmp"  # serve's state, not shared with other serves on this machine
    temp_dir.mkdir()
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url, TMPDIR=str(temp_dir))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        all_roles_check = runnable(dockerfile_healthcheck())
        web_role_check = runnable(compose_healthcheck("web"))
        # Not the image's 8080 nor serve's default: the check must find serve's --bind.
        command = [str(NETMON_RUN), "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]
        log = tmp_path / "netmon-run.log"
        with running(command, env, log, cwd=elsewhere) as process:
            wait_until_healthy(base, process, log, timeout=60)
            assert http_status(f"{base}/scripts/client-heartbeat.sh") == 200
            assert run_check(all_roles_check, temp_dir) == 0
            assert run_check(all_roles_check, temp_dir, WEB_BIND="0.0.0.0:8080") == 0
            assert run_check(web_role_check, temp_dir) == 0

            process.send_signal(signal.SIGTERM)
            assert wait_for_exit(process, timeout=40) == 0, log.read_text()
            assert tagged_processes(env) == []
        # Nothing answers on the address any more (and no serve is left to ask).
        nobody = {"WEB_BIND": f"0.0.0.0:{port}"}
        assert run_check(all_roles_check, temp_dir, **nobody) != 0
        assert run_check(web_role_check, temp_dir, **nobody) != 0

        # The web role alone, its address from WEB_BIND: it answers 503 (no task cluster),
        # alive for compose's web check, which lets workers and monitor start, unhealthy
        # for the all-in-one container.
        web_only = [*MANAGE, "serve", "--only", "web", "--no-migrate", "--web-workers", "1"]
        web_env = process_env(tmp_path, database_url, TMPDIR=str(temp_dir),
                              WEB_BIND=f"127.0.0.1:{port}")  # fmt: skip
        with running(web_only, web_env, tmp_path / "web.log"):
            wait_until(lambda: http_status(f"{base}/api/v1/health") == 503, 30, "health 503")
            assert run_check(web_role_check, temp_dir) == 0
            assert run_check(all_roles_check, temp_dir) != 0
            # Told the address explicitly, without serve's state to go by.
            elsewhere_tmp = tmp_path / "other-tmp"
            elsewhere_tmp.mkdir()
            assert run_check([*web_role_check, "--bind", f"127.0.0.1:{port}"], elsewhere_tmp) == 0
            assert run_check(web_role_check, elsewhere_tmp, WEB_BIND="127.0.0.1:1") != 0


@pytest.mark.process
def test_a_container_without_a_web_server_is_healthy_while_its_roles_run(tmp_path):
    """``--only monitor``: no HTTP to ask; the check goes by serve's state, so the
    container is healthy while serve and its monitor loop run, and not once serve is gone."""
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    check = runnable(compose_healthcheck("monitor"))
    nothing_listens = {"WEB_BIND": f"127.0.0.1:{free_port()}"}
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url, TMPDIR=str(temp_dir))
        assert run_check(check, temp_dir, **nothing_listens) != 0  # no serve yet

        log = tmp_path / "monitor.log"
        with running([*MANAGE, "serve", "--only", "monitor", "--no-migrate"], env, log) as serve:
            wait_until(
                lambda: run_check(check, temp_dir, **nothing_listens) == 0,
                60,
                f"the health check to pass\n{log}",
            )
            serve.send_signal(signal.SIGTERM)
            assert wait_for_exit(serve, timeout=40) == 0, log.read_text()
        assert run_check(check, temp_dir, **nothing_listens) != 0
