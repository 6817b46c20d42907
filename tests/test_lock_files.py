"""The lock files in requirements/ agree with pyproject.toml.

bootstrap.sh (start.sh, test.sh) and the Dockerfile install only what the lock files pin,
so a dependency added to pyproject.toml without running scripts/lock.sh would be missing
everywhere at once; and the dev file must pin the runtime packages to the runtime file's
versions, or tests would run other versions than the image.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every package the lock file pins."""
    found, current = {}, None
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            found[current] = (match[2], [])
        elif line.strip().startswith("--hash=sha256:") and current:
            found[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        elif not line.startswith(" "):
            current = None
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


LOCKS = {
    "runtime": project()["dependencies"],
    "dev": project()["dependencies"] + project()["optional-dependencies"]["dev"],
}


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_dependency_is_pinned_to_a_version_pyproject_allows(name):
    pinned = pins(ROOT / "requirements" / f"{name}.txt")
    for line in LOCKS[name]:
        requirement = Requirement(line)
        package = canonicalize_name(requirement.name)
        assert package in pinned, f"{requirement.name} is not in requirements/{name}.txt"
        version = pinned[package][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{name}.txt pins {requirement.name}=={version}, "
            f"pyproject.toml asks for {requirement.specifier}: run scripts/lock.sh"
        )
        for extra in requirement.extras:  # psycopg[binary] → psycopg-binary
            assert canonicalize_name(f"{requirement.name}-{extra}") in pinned


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_pin_carries_hashes(name):
    pinned = pins(ROOT / "requirements" / f"{name}.txt")
    assert pinned
    unhashed = [package for package, (_, hashes) in pinned.items() if not hashes]
    assert unhashed == []
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for _, hashes in pinned.values() for h in hashes)


def test_the_dev_lock_runs_the_runtime_versions():
    runtime = pins(ROOT / "requirements" / "runtime.txt")
    dev = pins(ROOT / "requirements" / "dev.txt")
    moved = {
        package: (version, dev.get(package, ("missing",))[0])
        for package, (version, _) in runtime.items()
        if dev.get(package, ("missing",))[0] != version
    }
    assert moved == {}


def test_the_image_and_bootstrap_install_from_the_lock_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --requirement requirements/runtime.txt" in dockerfile
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "lock=requirements/${extras:-runtime}.txt" in bootstrap
    assert '--require-hashes --requirement "$lock"' in bootstrap
