"""Rule packs: the rule analyser's detection rules as data (YAML), loaded and checked.

netmon ships one pack per service family in ``analysis/rule_packs/``; operators add or
override packs in ``ANALYSIS_RULES_DIR``. A pack there with the name of a shipped pack
replaces it; a rule there with the id of a shipped rule replaces that rule where it stands
(its pack keeps its place); ``disable:`` drops shipped rules by id. Packs are checked when
netmon starts (analysis/apps.py): a mistake stops it with the file and line, rather than
silently detecting less.

A pack::

    pack: ftp                     # unique name
    family: ftp                   # service family, for the evaluation's table
    description: vsftpd, ProFTPD and Pure-FTPd login failures
    needles: [vsftpd, proftpd]    # a line contains one of these, or the pack skips it
    rules:
      - id: vsftpd.fail-login     # unique over all packs
        needles: [FAIL LOGIN]     # optional: the rule is tried only on lines with one
        match: 'FAIL LOGIN: Client "(?:::ffff:)?(?P<src>%{IP})"'
        event: auth.failure       # see EVENTS
        service: FTP (vsftpd)

``match`` is a Python regular expression searched in the line; ``%{IP}``, ``%{IPV4}``,
``%{HOST}`` and ``%{AUTH_METHODS}`` stand for netmon's patterns. Named groups give the
fields: ``src`` (the client's address), ``user``, ``port``, ``dst``, ``proto``, ``count``
(the line stands for that many events), ``unit``, ``device``, ``invalid`` (non-empty: the
user does not exist). The first rule of the first pack that matches a line decides it.
The windows and thresholds of what is counted are in ``detections.yaml``; rules of event
``alert`` carry their own (``threshold: {count: 3, window: 10m}``).
"""

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from analysis.choices import Category, FindingSeverity

BUILTIN_DIR = Path(__file__).parent / "rule_packs"
DETECTIONS_FILE = "detections.yaml"
SAFETY_NET = "generic"  # the pack that stays last, whatever the operator adds

IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?"
IP = rf"(?:{IPV4}|{IPV6})"
PLACEHOLDERS = {
    "IPV4": IPV4,
    "IPV6": IPV6,
    "IP": IP,
    "HOST": r"[A-Za-z0-9_.:\-]+",
    "AUTH_METHODS": (
        r"(?:password|publickey|keyboard-interactive(?:/pam)?|none|hostbased|gssapi-with-mic)"
    ),
}
PLACEHOLDER = re.compile(r"%\{([A-Z_0-9]+)\}")

# event → (kinds allowed, the default kind, named groups required)
EVENTS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "auth.failure": (
        ("failed", "invalid", "closed", "pam", "maxauth", "refused", "other"),
        "failed",
        ("src",),
    ),
    "auth.probe": (("probe",), "probe", ("src",)),
    "auth.success": (("success",), "success", ("src",)),
    "firewall.drop": (("drop",), "drop", ("src",)),
    "firewall.scan": (("scan",), "scan", ("src",)),
    "firewall.pass": (("pass",), "pass", ()),
    "privilege.failure": (("pam", "incorrect", "denied", "su", "locked"), "pam", ("user",)),
    "system": (("error",), "error", ()),
    "service.failure": (
        ("exited", "failed", "segfault", "restart", "gave_up"),
        "exited",
        ("unit",),
    ),
    "alert": (("alert",), "alert", ()),
    "ignore": (("ignore",), "ignore", ()),
}
PARSERS = ("filterlog",)
NAMES = ("drop", "keep", "defer")  # what a non-address ``src`` means: see RuleAnalyser
RULE_KEYS = {
    "id",
    "needles",
    "match",
    "parser",
    "event",
    "kind",
    "service",
    "category",
    "severity",
    "title",
    "key",
    "names",
    "pid",
    "before_any",
    "not_before",
    "invalid_user",
    "address",
    "threshold",
    "description",
    "action",
}
PACK_KEYS = {
    "pack",
    "family",
    "description",
    "needles",
    "programs",
    "exclusive",
    "exclusive_except",
    "rules",
    "disable",
    "__line__",
}
DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)?$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class RulePackError(ValueError):
    """A pack that cannot be used; the message starts with ``file:line:``."""


@dataclass(slots=True)
class Rule:
    id: str
    pack: str
    event: str
    kind: str
    needles: tuple[str, ...]
    pattern: re.Pattern[str] | None
    parser: str | None = None
    service: str = ""
    category: str = ""
    severity: str = ""
    title: str = ""
    key: str = ""
    names: str = "drop"
    pid: str = ""
    before_any: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    invalid_user: bool = False
    address: str = ""  # "auto": the client's address is looked for in the whole line
    count: int = 1  # alert: events needed
    window: float = 0.0  # alert: within this many seconds (0: the whole run)
    description: str = ""
    action: str = ""
    where: str = ""  # file:line, for messages


@dataclass
class Pack:
    name: str
    family: str
    description: str
    needles: tuple[str, ...]
    rules: list[Rule] = field(default_factory=list)
    where: str = ""
    # A line with one of the pack's needles that no rule matches goes to no other pack
    # (unless it contains one of ``passes``): cheaper, and such lines are the pack's.
    exclusive: bool = False
    passes: tuple[str, ...] = ()
    # Syslog program names (``sshd`` of "host sshd[42]: …") whose lines go to this pack
    # (and the safety net) only, without testing every pack's needles.
    programs: tuple[str, ...] = ()


@dataclass
class RuleSet:
    packs: list[Pack]
    detections: dict

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for p in self.packs for r in p.rules if r.id == rule_id), None)


class _LineLoader(yaml.SafeLoader):
    """Safe YAML whose mappings remember their line (``__line__``), for the messages."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _read(path: Path) -> dict:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark else 1
        raise RulePackError(f"{path}:{line}: not valid YAML ({error.problem})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RulePackError(f"{path}:1: cannot be read ({error.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise RulePackError(f"{path}:1: expected a mapping (pack: …, rules: […])")
    return data


def duration(value, where: str) -> float:
    """Seconds of ``30``, ``90s``, ``10m``, ``2h`` or ``1d``."""
    match = DURATION.match(str(value).strip())
    if not match or isinstance(value, bool):
        raise RulePackError(f"{where}: {value!r} is not a duration (e.g. 90s, 10m, 24h)")
    return float(int(match[1]) * UNITS[match[2]])


def _strings(value, name: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RulePackError(f"{where}: {name} must be a list of non-empty strings")
    return tuple(value)


def expand(pattern: str, where: str) -> str:
    def replace(match: re.Match) -> str:
        if match[1] not in PLACEHOLDERS:
            raise RulePackError(
                f"{where}: unknown placeholder %{{{match[1]}}} (known: "
                f"{', '.join(sorted(PLACEHOLDERS))})"
            )
        return PLACEHOLDERS[match[1]]

    return PLACEHOLDER.sub(replace, pattern)


def _rule(item, pack: str, path: Path) -> Rule:
    line = item.get("__line__", 1) if isinstance(item, dict) else 1
    where = f"{path}:{line}"
    if not isinstance(item, dict):
        raise RulePackError(f"{where}: a rule must be a mapping")
    unknown = set(item) - RULE_KEYS - {"__line__"}
    if unknown:
        raise RulePackError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.\-]{0,99}", rule_id):
        raise RulePackError(f"{where}: id must be lower-case letters, digits, '.', '-', '_'")
    where = f"{where} (rule {rule_id})"
    event = item.get("event")
    if event not in EVENTS:
        raise RulePackError(f"{where}: event must be one of {', '.join(EVENTS)}")
    kinds, default_kind, required = EVENTS[event]
    kind = item.get("kind", default_kind)
    if kind not in kinds:
        raise RulePackError(f"{where}: kind of {event} must be one of {', '.join(kinds)}")
    parser = item.get("parser")
    pattern = None
    if parser is not None:
        if parser not in PARSERS:
            raise RulePackError(f"{where}: parser must be one of {', '.join(PARSERS)}")
        if "match" in item:
            raise RulePackError(f"{where}: a rule has either match or parser")
    else:
        text = item.get("match")
        if not isinstance(text, str) or not text:
            raise RulePackError(f"{where}: match (a regular expression) is required")
        try:
            pattern = re.compile(expand(text, where))
        except re.error as error:
            raise RulePackError(
                f"{where}: match is not a valid regular expression ({error})"
            ) from None
        auto = item.get("address") == "auto"
        missing = [
            name
            for name in required
            if name not in pattern.groupindex and not (auto and name == "src")
        ]
        if missing:
            raise RulePackError(
                f"{where}: match needs the named group(s) {', '.join(missing)} for {event}"
            )
    rule = Rule(
        id=rule_id,
        pack=pack,
        event=event,
        kind=kind,
        needles=_strings(item["needles"], "needles", where) if "needles" in item else (),
        pattern=pattern,
        parser=parser,
        where=where,
    )
    for name in ("service", "title", "key", "description", "action", "pid"):
        if name in item:
            if not isinstance(item[name], str):
                raise RulePackError(f"{where}: {name} must be a string")
            setattr(rule, name, item[name])
    if "category" in item:
        if item["category"] not in Category.values:
            raise RulePackError(f"{where}: category must be one of {', '.join(Category.values)}")
        rule.category = item["category"]
    if "severity" in item:
        if item["severity"] not in FindingSeverity.values:
            raise RulePackError(
                f"{where}: severity must be one of {', '.join(FindingSeverity.values)}"
            )
        rule.severity = item["severity"]
    if event in ("system", "alert"):
        for name in ("category", "severity", "title"):
            if not getattr(rule, name):
                raise RulePackError(f"{where}: {name} is required for {event}")
        has_src = (pattern and "src" in pattern.groupindex) or item.get("address") == "auto"
        if event == "alert" and not has_src and not rule.key:
            raise RulePackError(f"{where}: an alert needs a src group or a key")
    if "names" in item:
        if item["names"] not in NAMES:
            raise RulePackError(f"{where}: names must be one of {', '.join(NAMES)}")
        rule.names = item["names"]
    for name in ("before_any", "not_before"):
        if name in item:
            setattr(rule, name, _strings(item[name], name, where))
    if "invalid_user" in item:
        if not isinstance(item["invalid_user"], bool):
            raise RulePackError(f"{where}: invalid_user must be true or false")
        rule.invalid_user = item["invalid_user"]
    if "address" in item:
        if item["address"] != "auto":
            raise RulePackError(f"{where}: address can only be auto (else use a src group)")
        rule.address = "auto"
    if "threshold" in item:
        threshold = item["threshold"]
        if event != "alert" or not isinstance(threshold, dict):
            raise RulePackError(f"{where}: threshold ({{count, window}}) is for alert rules")
        count = threshold.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise RulePackError(f"{where}: threshold.count must be a whole number ≥ 1")
        rule.count = count
        if "window" in threshold:
            rule.window = duration(threshold["window"], where)
    return rule


def _pack(path: Path) -> tuple[Pack, tuple[str, ...]]:
    data = _read(path)
    where = f"{path}:{data.get('__line__', 1)}"
    unknown = set(data) - PACK_KEYS
    if unknown:
        raise RulePackError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = data.get("pack")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,49}", name):
        raise RulePackError(
            f"{where}: pack (its name: lower-case letters, digits, - _) is required"
        )
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise RulePackError(f"{where}: rules must be a list")
    pack = Pack(
        name=name,
        family=str(data.get("family") or name),
        description=str(data.get("description") or ""),
        needles=_strings(data["needles"], "needles", where) if "needles" in data else (),
        rules=[_rule(item, name, path) for item in rules],
        where=where,
    )
    if "exclusive" in data:
        if not isinstance(data["exclusive"], bool) or not pack.needles:
            raise RulePackError(f"{where}: exclusive must be true or false, with pack needles")
        pack.exclusive = data["exclusive"]
    if "programs" in data:
        pack.programs = tuple(p.lower() for p in _strings(data["programs"], "programs", where))
    if "exclusive_except" in data:
        pack.passes = _strings(data["exclusive_except"], "exclusive_except", where)
    ids: dict[str, str] = {}
    for rule in pack.rules:
        if not rule.needles and not pack.needles:
            raise RulePackError(f"{rule.where}: needles are required (on the rule or its pack)")
        if rule.id in ids:
            raise RulePackError(f"{rule.where}: id also used at {ids[rule.id]}")
        ids[rule.id] = rule.where
    disable = _strings(data["disable"], "disable", where) if "disable" in data else ()
    return pack, disable


def _detections(path: Path, base: dict | None) -> dict:
    data = _read(path)
    where = f"{path}:{data.get('__line__', 1)}"
    values = data.get("detections")
    if not isinstance(values, dict):
        raise RulePackError(f"{where}: expected detections: {{name: {{setting: value}}}}")
    result = {name: dict(section) for name, section in (base or {}).items()}
    for name, section in values.items():
        if name == "__line__":
            continue
        line = section.get("__line__", 1) if isinstance(section, dict) else 1
        here = f"{path}:{line} ({name})"
        if base is not None and name not in base:
            raise RulePackError(f"{here}: unknown detection (known: {', '.join(sorted(base))})")
        if not isinstance(section, dict):
            raise RulePackError(f"{here}: expected a mapping of settings")
        target = result.setdefault(name, {})
        for key, value in section.items():
            if key == "__line__":
                continue
            if base is not None and key not in base[name]:
                raise RulePackError(f"{here}: unknown setting {key}")
            if key.endswith(("window", "gap", "span")):
                target[key] = duration(value, here)
            elif value == "setting" or (
                isinstance(value, int) and not isinstance(value, bool) and value >= 1
            ):
                target[key] = value
            else:
                raise RulePackError(f"{here}: {key} must be a whole number ≥ 1 or 'setting'")
    return result


def load(user_dir: Path | None = None, builtin_dir: Path = BUILTIN_DIR) -> RuleSet:
    """The shipped packs, with the operator's (``user_dir``) merged in. Raises
    RulePackError naming the file and line of the first problem."""
    packs: dict[str, Pack] = {}
    rule_ids: dict[str, str] = {}
    for path in sorted(builtin_dir.glob("*.yaml")):
        if path.name == DETECTIONS_FILE:
            continue
        pack, _ = _pack(path)
        if pack.name in packs:
            raise RulePackError(f"{pack.where}: pack {pack.name} is defined twice")
        for rule in pack.rules:
            if rule.id in rule_ids:
                raise RulePackError(f"{rule.where}: id also used at {rule_ids[rule.id]}")
            rule_ids[rule.id] = rule.where
        packs[pack.name] = pack
    detections = _detections(builtin_dir / DETECTIONS_FILE, None)
    if user_dir is not None:
        for path in sorted(Path(user_dir).glob("*.yaml")):
            if path.name == DETECTIONS_FILE:
                detections = _detections(path, detections)
                continue
            _merge(packs, *_pack(path))
    ordered = [p for p in packs.values() if p.name != SAFETY_NET]
    ordered += [p for p in packs.values() if p.name == SAFETY_NET]
    seen: dict[str, str] = {}
    for pack in ordered:
        for rule in pack.rules:
            if rule.id in seen:
                raise RulePackError(f"{rule.where}: id also used at {seen[rule.id]}")
            seen[rule.id] = rule.where
    return RuleSet(ordered, detections)


def _merge(packs: dict[str, Pack], pack: Pack, disable: tuple[str, ...]) -> None:
    """An operator's pack: replaces the shipped pack of its name; otherwise its rules
    replace shipped rules of the same id in place, and the others form a new pack."""
    for rule_id in disable:
        found = False
        for other in packs.values():
            kept = [r for r in other.rules if r.id != rule_id]
            found = found or len(kept) != len(other.rules)
            other.rules = kept
        if not found:
            raise RulePackError(f"{pack.where}: disable: no rule {rule_id}")
    if pack.name in packs:
        packs[pack.name] = pack
        return
    new_rules = []
    for rule in pack.rules:
        replaced = False
        for other in packs.values():
            for index, existing in enumerate(other.rules):
                if existing.id == rule.id:
                    if not rule.needles and not other.needles:
                        raise RulePackError(f"{rule.where}: needles are required")
                    rule.pack = other.name
                    other.rules[index] = rule
                    replaced = True
        if not replaced:
            new_rules.append(rule)
    if new_rules or not pack.rules:
        pack.rules = new_rules
        packs[pack.name] = pack


@functools.lru_cache(maxsize=4)
def _cached(user_dir: str | None) -> RuleSet:
    return load(Path(user_dir) if user_dir else None)


def active() -> RuleSet:
    """The rules in force: shipped packs and those of ANALYSIS_RULES_DIR (read once)."""
    user_dir = settings.ANALYSIS_RULES_DIR
    return _cached(str(user_dir) if user_dir else None)
