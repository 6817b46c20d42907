"""The ``log_analysis_config`` block of a host (the spec's JSON shape) and its mapping to
:class:`analysis.models.LogSource`, the single place where it is stored.

The host API and the YAML import/export read and write the block through
:func:`config_of` and :func:`to_source`; :func:`validate_log_analysis_config` checks it
first, so the API, the admin and an import accept and refuse the same things.
"""

import re
from typing import Any

from django.core.exceptions import ValidationError

METHODS = ("ssh", "local", "command")
DEFAULT_COMMAND = "tail -n 1000 /var/log/syslog"
DEFAULT_FREQUENCY = 1800
MIN_FREQUENCY, MAX_FREQUENCY = 60, 7 * 86400
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")

FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "enabled": bool,
    "method": str,
    "ssh_host": str,
    "ssh_port": int,
    "ssh_user": str,
    "ssh_key_path": str,
    "ssh_key_passphrase_env": str,
    "ssh_known_hosts_path": str,
    "ssh_trust_on_first_use": bool,
    "log_path": str,
    "log_command": str,
    "analysis_frequency": int,
    "analysis_prompt": str,
    "model": str,
}
MAX_LENGTHS = {
    "ssh_host": 255,
    "ssh_user": 100,
    "ssh_key_path": 500,
    "ssh_known_hosts_path": 500,
    "log_path": 500,
    "log_command": 1000,
    "analysis_prompt": 4000,
    "model": 100,
}
# Always written out; the other keys only when they differ from "not set" (blank, port 22,
# trust on first use off), so a block reads back as it was written.
ALWAYS_SHOWN = ("enabled", "method", "log_command", "analysis_frequency")
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "method": "ssh",
    "ssh_host": "",
    "ssh_port": 22,
    "ssh_user": "",
    "ssh_key_path": "",
    "ssh_key_passphrase_env": "",
    "ssh_known_hosts_path": "",
    "ssh_trust_on_first_use": False,
    "log_path": "",
    "log_command": DEFAULT_COMMAND,
    "analysis_frequency": DEFAULT_FREQUENCY,
    "analysis_prompt": "",
    "model": "",
}
# What the collection state (cursor) depends on: changing one of these starts afresh.
TARGET_KEYS = ("method", "ssh_host", "ssh_port", "log_path", "log_command")


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
        elif key in MAX_LENGTHS and len(item) > MAX_LENGTHS[key]:
            problems.append(f"'{key}' must be at most {MAX_LENGTHS[key]} characters")
    if problems:  # the checks below assume the right types
        raise ValidationError("; ".join(problems))
    problems = source_problems({**DEFAULTS, **value})
    if problems:
        raise ValidationError("; ".join(problems))


def source_problems(values: dict[str, Any]) -> list[str]:
    """What is wrong with a complete set of values (also used by ``LogSource.clean``)."""
    problems = []
    method = values["method"]
    if method not in METHODS:
        problems.append(f"'method' must be one of {', '.join(METHODS)}")
    if method == "ssh" and values["enabled"] and not values["ssh_host"]:
        problems.append("'ssh_host' is required for method ssh")
    if method == "local" and values["enabled"] and not values["log_path"]:
        problems.append("'log_path' is required for method local")
    if values["log_path"] and not values["log_path"].startswith("/"):
        problems.append("'log_path' must be an absolute path")
    if method != "local" and not values["log_path"] and not values["log_command"].strip():
        problems.append("'log_command' must not be empty")
    if any(ch in values["log_command"] for ch in "\0\r\n"):
        problems.append("'log_command' must be one line")
    if not 1 <= values["ssh_port"] <= 65535:
        problems.append("'ssh_port' must be 1–65535")
    if not MIN_FREQUENCY <= values["analysis_frequency"] <= MAX_FREQUENCY:
        problems.append(f"'analysis_frequency' must be {MIN_FREQUENCY}–{MAX_FREQUENCY} seconds")
    env_name = values["ssh_key_passphrase_env"]
    if env_name and not ENV_NAME.match(env_name):
        problems.append("'ssh_key_passphrase_env' must be the name of an environment variable")
    return problems


def normalized(data: dict[str, Any] | None) -> dict[str, Any]:
    """A valid block as :func:`config_of` would read it back after :func:`to_source`."""
    if not data:
        return {}
    values = {**DEFAULTS, **data}
    return {
        key: values[key] for key in DEFAULTS if key in ALWAYS_SHOWN or values[key] != DEFAULTS[key]
    }


def from_source(source) -> dict[str, Any]:
    """A LogSource as a ``log_analysis_config`` block."""
    if source is None:
        return {}
    return normalized({key: getattr(source, key) for key in DEFAULTS})


def config_of(host) -> dict[str, Any]:
    """The block of a host: ``{}`` when it has no log source."""
    if host.pk is None:
        return {}
    from analysis.models import LogSource

    try:
        return from_source(host.log_source)
    except LogSource.DoesNotExist:
        return {}


def to_source(host, data: dict[str, Any] | None):
    """Store a validated block for a saved host; ``{}`` removes its log source.

    The whole block is replaced (keys left out get their defaults). The collection state
    is kept unless what is read changed (method, host, port, path or command).
    """
    from analysis.models import LogSource

    if not data:
        LogSource.objects.filter(host=host).delete()
        host._state.fields_cache.pop("log_source", None)
        return None
    values = {**DEFAULTS, **data}
    source = LogSource.objects.filter(host=host).first() or LogSource(host=host)
    retarget = source.pk is not None and any(
        getattr(source, key) != values[key] for key in TARGET_KEYS
    )
    for key, value in values.items():
        setattr(source, key, value)
    if retarget:
        source.reset_cursor()
    source.save()
    host._state.fields_cache["log_source"] = source
    return source
