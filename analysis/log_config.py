"""The ``log_analysis_config`` block of a host (the spec's JSON shape) and its mapping to
:class:`analysis.models.LogSource`, the single place where it is stored.

The host API and the YAML import/export read and write the block through
:func:`config_of` and :func:`to_source`; :func:`clean_log_analysis_config` checks it first
and gives it back in its stored form, so the API, the admin and an import accept and
refuse the same things.

Nothing in the block is a path netmon reads for itself: the SSH key is a *name* in
ANALYSIS_SSH_KEY_DIRS (``analysis.ssh_keys``), host keys are pinned by netmon
(``analysis.host_keys``), and methods that read from this server (``local``, ``command``)
are refused while ANALYSIS_ALLOW_LOCAL_SOURCES is off, so that none is stored to run once
it is turned on.
"""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from analysis.ssh_keys import KEY_NAME, key_directories, name_of_key_path

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
    "ssh_key": str,
    "ssh_key_passphrase_env": str,
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
    "ssh_key": 100,
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
    "ssh_key": "",
    "ssh_key_passphrase_env": "",
    "ssh_trust_on_first_use": False,
    "log_path": "",
    "log_command": DEFAULT_COMMAND,
    "analysis_frequency": DEFAULT_FREQUENCY,
    "analysis_prompt": "",
    "model": "",
}
# What the collection state (cursor) depends on: changing one of these starts afresh.
TARGET_KEYS = ("method", "ssh_host", "ssh_port", "log_path", "log_command")
LOCAL_METHODS = ("local", "command")
# The product spec's key path: accepted on input when it names a file in a key directory,
# stored (and read back) as that file's name in ``ssh_key``.
KEY_PATH = "ssh_key_path"
KEY_PATH_MAX_LENGTH = 500
WITHDRAWN_KEYS = {
    "ssh_known_hosts_path": "'ssh_known_hosts_path' is no longer accepted: netmon pins SSH "
    "host keys itself (trust on first use, or added in the admin under SSH host keys)",
}


def clean_log_analysis_config(value: Any) -> dict[str, Any]:
    """The block in its stored form (``ssh_key_path`` becomes ``ssh_key``); raises
    ValidationError listing every problem."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise ValidationError("Expected an object.")
    value = dict(value)
    key_path = value.pop(KEY_PATH, None)
    problems = [WITHDRAWN_KEYS[key] for key in value if key in WITHDRAWN_KEYS]
    for key, item in value.items():
        expected = FIELD_TYPES.get(key)
        if key in WITHDRAWN_KEYS:
            continue
        if expected is None:
            problems.append(f"unknown key '{key}'")
        elif not isinstance(item, expected) or (expected is int and isinstance(item, bool)):
            problems.append(f"'{key}' must be of type {expected.__name__}")
        elif key in MAX_LENGTHS and len(item) > MAX_LENGTHS[key]:
            problems.append(f"'{key}' must be at most {MAX_LENGTHS[key]} characters")
    if key_path is not None:
        problems += _take_key_path(value, key_path)
    if problems:  # the checks below assume the right types
        raise ValidationError("; ".join(problems))
    problems = source_problems({**DEFAULTS, **value})
    if problems:
        raise ValidationError("; ".join(problems))
    return value


def _take_key_path(value: dict[str, Any], key_path: Any) -> list[str]:
    """Put the name of the key file ``key_path`` names into ``value`` as ``ssh_key``."""
    if "ssh_key" in value:
        return ["give either 'ssh_key' or 'ssh_key_path'"]
    if not isinstance(key_path, str):
        return ["'ssh_key_path' must be of type str"]
    if len(key_path) > KEY_PATH_MAX_LENGTH:
        return [f"'ssh_key_path' must be at most {KEY_PATH_MAX_LENGTH} characters"]
    name = name_of_key_path(key_path) if key_path else ""
    if name is None:
        return [
            "'ssh_key_path' must be a file directly inside one of the key directories "
            f"({', '.join(key_directories())}, ANALYSIS_SSH_KEY_DIRS); or give the key's "
            "file name as 'ssh_key'"
        ]
    value["ssh_key"] = name
    return []


def source_problems(values: dict[str, Any]) -> list[str]:
    """What is wrong with a complete set of values (also used by ``LogSource.clean``)."""
    problems = []
    method = values["method"]
    if method not in METHODS:
        problems.append(f"'method' must be one of {', '.join(METHODS)}")
    elif method in LOCAL_METHODS and not settings.ANALYSIS_ALLOW_LOCAL_SOURCES:
        problems.append(
            f"'method' {method} reads from this server and is off: set "
            "ANALYSIS_ALLOW_LOCAL_SOURCES=true"
        )
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
    if values["ssh_key"] and not KEY_NAME.match(values["ssh_key"]):
        problems.append(
            "'ssh_key' must be the name of a file in the key directories (ANALYSIS_SSH_KEY_DIRS), "
            "not a path"
        )
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
