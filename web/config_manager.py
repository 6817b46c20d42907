"""The configuration manager's forms: values shown per host row, what a POST contains,
and the YAML import's preview. Validation is never done here: rows are saved through
``HostConfigSerializer`` and new hosts through ``HostSerializer``, exactly as the API does.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cache
from zoneinfo import available_timezones

from django.http import QueryDict

from hosts.api.serializers import CONFIG_FIELDS
from hosts.config_io import ImportPlan
from hosts.models import Host, default_timezone

TEXT_FIELDS = [name for name in CONFIG_FIELDS if name != "paused"]
ADD_FIELDS = ["host_id", "name", *TEXT_FIELDS, "notes"]
# Optional numbers: an empty input means none (null), not an invalid number.
OPTIONAL_FIELDS = {"max_run_seconds"}
MAX_IMPORT_BYTES = 1_000_000


@dataclass
class ConfigRow:
    """One host of the table: the values its inputs show and the errors next to them."""

    host: Host
    values: dict
    errors: dict[str, list[str]] = field(default_factory=dict)
    status: str = ""
    status_label: str = ""

    @property
    def non_field_errors(self) -> list[str]:
        return [m for k, msgs in self.errors.items() if k not in CONFIG_FIELDS for m in msgs]


# The add form: (name, label, input type, hint).
ADD_FORM = [
    ("name", "Name", "text", ""),
    ("host_id", "Host ID", "text", "1–64 lowercase letters, digits, - or _"),
    ("frequency_seconds", "Frequency (seconds)", "number", ""),
    ("grace_seconds", "Grace (seconds)", "number", ""),
    ("schedule_type", "Schedule", "select", ""),
    ("cron_expression", "Cron expression", "text", "custom schedules only"),
    ("timezone", "Time zone", "text", ""),
    ("max_run_seconds", "Maximum run time (seconds)", "number", "empty: no limit"),
    ("notes", "Notes", "text", ""),
    ("paused", "Start paused", "checkbox", ""),
]


def add_form_fields(values: dict, errors: dict) -> list[dict]:
    return [
        {
            "name": name,
            "label": label,
            "kind": kind,
            "hint": hint,
            "value": "" if values.get(name) is None else values[name],
            "errors": errors.get(name, []),
        }
        for name, label, kind, hint in ADD_FORM
    ]


def host_values(host: Host) -> dict:
    values = {name: getattr(host, name) for name in TEXT_FIELDS}
    for name in OPTIONAL_FIELDS:
        values[name] = "" if values[name] is None else values[name]
    values["paused"] = host.paused
    return values


def new_host_values() -> dict:
    """What the add form shows at first: the model's defaults."""
    host = Host()
    return {
        "host_id": "",
        "name": "",
        **{name: getattr(host, name) for name in TEXT_FIELDS},
        "timezone": default_timezone(),
        "max_run_seconds": "",
        "paused": False,
        "notes": "",
    }


def submitted(post: QueryDict, names: list[str]) -> dict:
    """The fields of a form POST, for a serializer. Fields left out stay unchanged (the
    form always sends them all); ``paused`` is a hidden ``false`` plus a checkbox; an empty
    optional number is none."""
    data = {name: post[name] for name in names if name in post}
    for name in OPTIONAL_FIELDS & data.keys():
        data[name] = data[name].strip() or None
    if "paused" in post:
        data["paused"] = "true" in post.getlist("paused")
    return data


def error_messages(errors: dict) -> dict[str, list[str]]:
    return {
        name: [str(message) for message in (messages if isinstance(messages, list) else [messages])]
        for name, messages in errors.items()
    }


@cache
def timezone_names() -> list[str]:
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


def plan_digest(plan: ImportPlan) -> str:
    """A fingerprint of a plan: applying checks the file still means what the preview said."""
    text = json.dumps(asdict(plan), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_import(post: QueryDict, files) -> tuple[str, str | None]:
    """The YAML text of an upload (or of the text box), and what is wrong with it."""
    upload = files.get("file")
    if upload is not None and upload.size:
        if upload.size > MAX_IMPORT_BYTES:
            return "", f"The file is larger than {MAX_IMPORT_BYTES // 1000} KB."
        raw = upload.read()
    else:
        raw = post.get("yaml", "").encode()
    if not raw.strip():
        return "", "Choose a YAML file or paste its contents."
    if len(raw) > MAX_IMPORT_BYTES:
        return "", f"The text is larger than {MAX_IMPORT_BYTES // 1000} KB."
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", "The file is not UTF-8 text."
    if "\x00" in text:
        return "", "The file is not a text file."
    return text, None


# Log sources (the analysis app) -------------------------------------------------------------

# The form of a host's log source: (key, label, input type, hint), in the order shown.
LOG_SOURCE_FORM = [
    ("enabled", "Analyse this host's log", "checkbox", ""),
    ("method", "Method", "select", ""),
    ("ssh_host", "SSH host", "text", "name or address (method SSH)"),
    ("ssh_port", "SSH port", "number", ""),
    ("ssh_user", "SSH user", "text", ""),
    ("ssh_key", "SSH key", "text", "file name in ANALYSIS_SSH_KEY_DIRS (default data/ssh)"),
    ("log_path", "Log file", "text", "absolute path, read incrementally (instead of a command)"),
    ("log_command", "Command", "text", "e.g. tail -n 1000 /var/log/syslog"),
    ("analysis_frequency", "Analyse every (seconds)", "number", "60 s … 7 days"),
    ("model", "LLM model", "text", "empty: LLM_DEFAULT_MODEL"),
    ("analysis_prompt", "Extra instructions for the LLM", "textarea", ""),
]
LOG_SOURCE_ADVANCED = [
    ("ssh_key_passphrase_env", "Environment variable with the key's passphrase", "text", ""),
    ("ssh_trust_on_first_use", "Trust the host key on first use", "checkbox", ""),
]


def log_source_block(post: QueryDict) -> dict:
    """A ``log_analysis_config`` block from the form: every key, typed as the API expects.

    Numbers that are not numbers stay text, so that the API's validation names them."""
    from analysis.log_config import FIELD_TYPES

    block: dict = {}
    for key, kind in FIELD_TYPES.items():
        if kind is bool:
            block[key] = post.get(key) in ("on", "true")
        elif kind is int:
            raw = post.get(key, "").strip()
            block[key] = int(raw) if raw.lstrip("-").isdigit() and len(raw) < 10 else raw
        else:
            block[key] = post.get(key, "")
    return block


def log_source_fields(values: dict, problems: list[str]) -> tuple[list[dict], list[dict], list]:
    """The form's fields with values and the problems that name them; the other problems."""
    remaining = list(problems)
    sections = []
    for form in (LOG_SOURCE_FORM, LOG_SOURCE_ADVANCED):
        fields = []
        for key, label, kind, hint in form:
            mine = [p for p in remaining if p.startswith(f"'{key}'")]
            remaining = [p for p in remaining if p not in mine]
            fields.append(
                {"name": key, "label": label, "kind": kind, "hint": hint, "value": values.get(key)}
                | {"errors": mine}
            )
        sections.append(fields)
    return sections[0], sections[1], remaining


def log_source_section(hosts: list[Host]) -> dict | None:
    """The log sources of these hosts (one query), for the manager; None without the app."""
    from django.apps import apps

    if not apps.is_installed("analysis"):
        return None
    from analysis.models import LogSource

    sources = {
        source.host_id: source
        for source in LogSource.objects.filter(host__in=[host.pk for host in hosts])
    }
    return {
        "configured": [(host, sources[host.pk]) for host in hosts if host.pk in sources],
        "unconfigured": [host for host in hosts if host.pk not in sources],
    }
