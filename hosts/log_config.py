"""The ``log_analysis_config`` block of a host (the spec's JSON shape)."""

from typing import Any

from django.core.exceptions import ValidationError

METHODS = ("ssh", "local", "command")
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "enabled": bool,
    "method": str,
    "ssh_host": str,
    "ssh_port": int,
    "ssh_user": str,
    "ssh_key_path": str,
    "ssh_known_hosts_path": str,
    "log_path": str,
    "log_command": str,
    "analysis_frequency": int,
    "analysis_prompt": str,
    "model": str,
}


def validate_log_analysis_config(value: Any) -> None:
    if value in (None, {}):
        return
    if not isinstance(value, dict):
        raise ValidationError("Expected an object.")
    problems = []
    for key, item in value.items():
        expected = FIELD_TYPES.get(key)
        if expected is None:
            problems.append(f"unknown key '{key}'")
        elif not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
            problems.append(f"'{key}' must be of type {expected.__name__}")
    method = value.get("method", "ssh")
    if method not in METHODS:
        problems.append(f"'method' must be one of {', '.join(METHODS)}")
    if method == "ssh" and value.get("enabled", True) and not value.get("ssh_host"):
        problems.append("'ssh_host' is required for method ssh")
    port = value.get("ssh_port", 22)
    if isinstance(port, int) and not 1 <= port <= 65535:
        problems.append("'ssh_port' must be 1–65535")
    frequency = value.get("analysis_frequency", 1800)
    if isinstance(frequency, int) and not 60 <= frequency <= 7 * 86400:
        problems.append("'analysis_frequency' must be 60–604800 seconds")
    if problems:
        raise ValidationError("; ".join(problems))
