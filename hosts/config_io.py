"""Hosts as YAML: the file read by ``import_hosts`` and written by ``export_hosts``.

An import is planned first: the whole file is parsed and every host validated by the
API's ``HostSerializer`` (after a check that the YAML types are the expected ones), so a
file is refused exactly where the API would refuse the same values; an invalid file raises
``ConfigError`` listing every problem and changes nothing. A valid plan is then applied in
one transaction. Keys left out of a host entry keep the host's current value (the model
default for a new host).

Files are read by ``load_yaml``: YAML's safe subset without anchors, aliases, merge keys
and duplicate keys, because a few hundred bytes of aliases expand to billions of items, and
a repeated key silently replaces the first (a second ``hosts:`` would make ``--prune``
delete every host of the first list).
"""

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction
from rest_framework.settings import api_settings

from analysis import log_config
from hosts.api.serializers import HostSerializer
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
    "max_run_seconds",
    "notes",
    "tags",
    "log_analysis_config",
)
MODEL_FIELDS = tuple(key for key in KEYS if key not in ("paused", "log_analysis_config"))
REQUIRED_KEYS = ("host_id", "name")
TOKEN_FIELDS = ("token_hash", "token_prefix")

# YAML types the serializer would otherwise coerce silently ("12" → 12, 12 → "12", "yes" →
# true): a file says what it means. Everything else is checked by HostSerializer.
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
    "max_run_seconds": int,
}
# Keys whose null means "none" (no maximum run time).
NULLABLE_KEYS = {"max_run_seconds"}
TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false"}
# Deeper than any hosts file needs; bounds the recursion of PyYAML's composer.
MAX_NESTING = 20
SHOWN_HOST_ID_LENGTH = 64


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
            where = f"hosts[{index}] ({_shown(host_id)})"
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


def load_yaml(source: str | bytes | IO[str] | IO[bytes]) -> Any:
    """The data of a YAML document, read with ``StrictLoader``; any problem is a
    ``ConfigError`` naming its line and column."""
    loader = None
    try:
        loader = StrictLoader(source)  # may already read, and fail on, the first bytes
        return loader.get_single_data()
    except KeyProblems as error:
        raise ConfigError([_marked_message(problem) for problem in error.problems]) from None
    except yaml.MarkedYAMLError as error:
        raise ConfigError([_marked_message(error)]) from None
    except yaml.reader.ReaderError as error:
        where = f"character {error.position + 1}"
        raise ConfigError([f"{where}: not readable as YAML text ({error.reason})."]) from None
    except yaml.YAMLError:
        raise ConfigError(["Not a readable YAML file."]) from None
    finally:
        if loader is not None:
            loader.dispose()


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what a hosts file never needs and an attacker uses.

    Anchors and aliases are refused while composing, before anything is expanded; so are
    documents nested deeper than ``MAX_NESTING``. Duplicate and merge (``<<``) keys are
    refused before constructing, naming the key's path. Scalars that PyYAML's constructors
    cannot convert (``0x_``, ``!!bool maybe``, ``2020-99-99``) are YAML errors at their
    place instead of a ValueError from deep inside PyYAML.
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.nesting = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:  # an anchor, or an alias to one
            raise _refusal("YAML anchors and aliases are not allowed", event.start_mark)
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise _refusal(f"nested deeper than {MAX_NESTING} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1

    def construct_document(self, node):
        if problems := self._key_problems(node):
            raise KeyProblems(problems)
        return super().construct_document(node)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            raise _refusal(f"not a valid {node.tag.rpartition(':')[2]}", node.start_mark) from None

    def _key_problems(self, root) -> list[yaml.MarkedYAMLError]:
        """Duplicate and merge keys anywhere in the document, in the order of the file."""
        problems = []
        todo = [(root, "")]
        while todo:
            node, path = todo.pop()
            if isinstance(node, yaml.SequenceNode):
                todo += [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
                continue
            if not isinstance(node, yaml.MappingNode):
                continue
            first_lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                mark = key_node.start_mark
                if key_node.tag == "tag:yaml.org,2002:merge":
                    problems.append(_refusal("YAML merge keys (<<) are not allowed", mark))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a list or mapping as a key: refused by the constructor
                key = self.construct_object(key_node)
                key_path = f"{path}.{key}" if path else str(key)
                if key in first_lines:
                    first = f"first on line {first_lines[key]}"
                    problems.append(_refusal(f"duplicate key '{key_path}' ({first})", mark))
                else:
                    first_lines[key] = mark.line + 1
                todo.append((value_node, key_path))
        return sorted(problems, key=lambda error: error.problem_mark.index)


class KeyProblems(yaml.YAMLError):
    """Every duplicate and merge key of a document, so that all are reported at once."""

    def __init__(self, problems: list[yaml.MarkedYAMLError]) -> None:
        super().__init__(f"{len(problems)} problem(s) with keys")
        self.problems = problems


def _refusal(problem: str, mark) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=problem, problem_mark=mark)


def _marked_message(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
    return f"{where}: {error.problem or error.context}"


def _load(source: str | bytes | IO[str] | IO[bytes]) -> list[Any]:
    data = load_yaml(source)
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
    """The entry's values over the current ones, validated as the API would, and its
    problems by key."""
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
    # Partial for a known host: keys left out keep its values, as in a PATCH.
    serializer = HostSerializer(current, data=given, partial=current is not None)
    if not serializer.is_valid():
        for key, messages in _flat_errors(serializer.errors).items():
            problems.setdefault(key, messages)
    if problems:
        return {}, problems
    attrs = dict(serializer.validated_data)
    paused = attrs.pop("paused", current.paused if current else False)
    has_config = "log_analysis_config" in attrs
    config = attrs.pop("log_analysis_config", None)
    candidate = copy.copy(current) if current else Host()
    for key, value in attrs.items():
        setattr(candidate, key, value)
    values = {**host_values(candidate), "paused": paused}
    if has_config:
        values["log_analysis_config"] = log_config.normalized(config)
    return values, problems


def _flat_errors(errors: dict, prefix: str = "") -> dict[str, list[str]]:
    """A serializer's errors by key; nested ones (``tags[0]``) get a path of their own."""
    flat: dict[str, list[str]] = {}
    for key, detail in errors.items():
        name = NON_FIELD_ERRORS if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
        if prefix:
            name = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}"
        if isinstance(detail, dict):
            flat.update(_flat_errors(detail, name))
        else:
            details = detail if isinstance(detail, list) else [detail]
            flat.setdefault(name, []).extend(str(message) for message in details)
    return flat


def _shown(host_id: str) -> str:
    """A host_id as it can be shown in a one-line message: quoted when it is not plain."""
    shown = host_id[:SHOWN_HOST_ID_LENGTH]
    if shown.isprintable() and shown.strip() == shown and len(host_id) == len(shown):
        return shown
    suffix = "…" if len(host_id) > SHOWN_HOST_ID_LENGTH else ""
    return json.dumps(shown) + suffix


def _type_problem(key: str, value: Any) -> str | None:
    expected = SCALAR_TYPES.get(key)
    if expected is None or (value is None and key in NULLABLE_KEYS):
        return None
    # bool is a subclass of int, but true is no number of seconds.
    if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return None
    nullable = " or null" if key in NULLABLE_KEYS else ""
    return f"Expected {TYPE_NAMES[expected]}{nullable}, got {json.dumps(value, default=str)}."
