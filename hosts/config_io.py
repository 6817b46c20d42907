"""Hosts as YAML: the file read by ``import_hosts`` and written by ``export_hosts``.

An import is planned first: the whole file is parsed and every host validated with
``Host.full_clean``, so an invalid file raises ``ConfigError`` listing every problem and
changes nothing. A valid plan is then applied in one transaction. Keys left out of a host
entry keep the host's current value (the model default for a new host).
"""

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from analysis import log_config
from hosts.models import Host

KEYS = (
    "host_id",
    "name",
    "frequency_seconds",
    "grace_seconds",
    "schedule_type",
    "cron_expression",
    "timezone",
    "paused",
    "notes",
    "tags",
    "log_analysis_config",
)
MODEL_FIELDS = tuple(key for key in KEYS if key not in ("paused", "log_analysis_config"))
REQUIRED_KEYS = ("host_id", "name")
TOKEN_FIELDS = ("token_hash", "token_prefix")

# YAML types the model would otherwise coerce silently (true → 1, 2.5 → 2, 12 → "12").
# Tags are checked by the model itself, log_analysis_config by analysis.log_config.
SCALAR_TYPES: dict[str, type] = {
    "host_id": str,
    "name": str,
    "frequency_seconds": int,
    "grace_seconds": int,
    "schedule_type": str,
    "cron_expression": str,
    "timezone": str,
    "paused": bool,
    "notes": str,
}
TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}


class ConfigError(Exception):
    """An invalid hosts file; ``errors`` holds one message per problem, with its location."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass
class ImportPlan:
    creates: list[dict[str, Any]] = field(default_factory=list)  # every key of each new host
    updates: dict[str, list[FieldChange]] = field(default_factory=dict)  # by host_id
    unchanged: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


def plan_import(source: str | bytes | IO[str] | IO[bytes], prune: bool = False) -> ImportPlan:
    """Validate a whole hosts file against the database; with ``prune``, plan to delete
    the hosts it does not list."""
    entries = _load(source)
    existing = {host.host_id: host for host in Host.objects.select_related("log_source")}
    plan = ImportPlan()
    errors: list[str] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        host_id = entry.get("host_id") if isinstance(entry, dict) else None
        current = existing.get(host_id) if isinstance(host_id, str) else None
        values, problems = _validate(entry, current)
        if isinstance(host_id, str):
            where = f"hosts[{index}] ({host_id})"
            if host_id in first_index:
                problems.setdefault("host_id", []).append(
                    f"Duplicate of hosts[{first_index[host_id]}]."
                )
            first_index.setdefault(host_id, index)
        else:
            where = f"hosts[{index}]"
        for key, messages in problems.items():
            prefix = where if key == NON_FIELD_ERRORS else f"{where}.{key}"
            errors += [f"{prefix}: {message}" for message in messages]
        if problems:
            continue
        if current is None:
            plan.creates.append(values)
            continue
        before = host_values(current)
        changes = [FieldChange(key, before[key], values[key]) for key in KEYS]
        changes = [change for change in changes if change.old != change.new]
        if changes:
            plan.updates[host_id] = changes
        else:
            plan.unchanged.append(host_id)
    if errors:
        raise ConfigError(errors)
    if prune:
        plan.deletes = [host_id for host_id in existing if host_id not in first_index]
    return plan


@transaction.atomic
def apply_import(plan: ImportPlan) -> dict[str, str]:
    """Apply a plan; returns the tokens of the new hosts by host_id (shown once, never stored)."""
    tokens = {}
    for values in plan.creates:
        host = Host(**{name: values[name] for name in MODEL_FIELDS})
        tokens[host.host_id] = host.set_new_token()
        host.save()
        if values["log_analysis_config"]:
            log_config.to_source(host, values["log_analysis_config"])
        if values["paused"]:
            host.pause("created paused by a YAML import")
    for host_id, changes in plan.updates.items():
        host = Host.objects.select_for_update().get(host_id=host_id)
        new_values = {change.field: change.new for change in changes}
        paused = new_values.pop("paused", None)
        config = new_values.pop("log_analysis_config", None)
        for name, value in new_values.items():
            setattr(host, name, value)
        host.save()
        if "log_analysis_config" in {change.field for change in changes}:
            log_config.to_source(host, config)
        host.set_paused(paused, "by a YAML import")
    Host.objects.filter(host_id__in=plan.deletes).delete()
    return tokens


def export_hosts(hosts: Iterable[Host]) -> str:
    data = {"hosts": [host_values(host) for host in hosts]}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def host_values(host: Host) -> dict[str, Any]:
    """A host as it appears in a hosts file."""
    values = {key: getattr(host, key) for key in KEYS if key != "log_analysis_config"}
    return {**values, "log_analysis_config": log_config.config_of(host)}


def _load(source: str | bytes | IO[str] | IO[bytes]) -> list[Any]:
    try:
        data = yaml.safe_load(source)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ConfigError([f"{where}: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"Not a readable YAML file: {error}"]) from None
    if not isinstance(data, dict) or "hosts" not in data:
        raise ConfigError(["Expected a mapping with a 'hosts' list at the top level."])
    errors = [
        f"{key}: Unknown top-level key; only 'hosts' is expected." for key in data if key != "hosts"
    ]
    if not isinstance(data["hosts"], list):
        errors.append("hosts: Expected a list of hosts (write 'hosts: []' for none).")
    if errors:
        raise ConfigError(errors)
    return data["hosts"]


def _validate(entry: Any, current: Host | None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The entry's values over the current ones, cleaned, and its problems by key."""
    if not isinstance(entry, dict):
        return {}, {NON_FIELD_ERRORS: ["Expected a mapping of host settings."]}
    problems: dict[str, list[str]] = {}
    for key, value in entry.items():
        if key not in KEYS:
            problems[str(key)] = [f"Unknown key; expected one of {', '.join(KEYS)}."]
        elif message := _type_problem(key, value):
            problems[key] = [message]
    for key in REQUIRED_KEYS:
        if key not in entry:
            problems[key] = ["This field is required."]
    given = {key: value for key, value in entry.items() if key in KEYS and key not in problems}
    paused = given.pop("paused", current.paused if current else False)
    has_config = "log_analysis_config" in given
    config = given.pop("log_analysis_config", None)
    if has_config:
        try:
            log_config.validate_log_analysis_config(config)
        except ValidationError as error:
            problems["log_analysis_config"] = error.messages
    candidate = copy.copy(current) if current else Host()
    for key, value in given.items():
        setattr(candidate, key, value)
    try:
        candidate.full_clean(exclude=[*TOKEN_FIELDS, *problems])
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            problems.setdefault(key, messages)
    values = {**host_values(candidate), "paused": paused}
    if has_config and "log_analysis_config" not in problems:
        values["log_analysis_config"] = log_config.normalized(config)
    return values, problems


def _type_problem(key: str, value: Any) -> str | None:
    expected = SCALAR_TYPES.get(key)
    if expected is None:
        return None
    # bool is a subclass of int, but true is no number of seconds.
    if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return None
    return f"Expected {TYPE_NAMES[expected]}, got {json.dumps(value, default=str)}."
