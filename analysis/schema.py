"""The JSON answer asked of the LLM, and its validation (by hand: the schema is small, and
the checks go beyond JSON Schema: evidence must be lines of the log, addresses must parse).

    {"findings": [{"severity": "info|low|medium|high|critical",
                   "category": "brute_force|…|other",
                   "title": "…", "description": "…",
                   "evidence": ["a log line", …], "source_ips": ["203.0.113.7", …],
                   "recommended_action": "…"}]}
"""

import ipaddress
import json
import re

from analysis.choices import Category, FindingSeverity
from analysis.findings import EVIDENCE_LINE_CHARS, MAX_EVIDENCE, FoundIssue

MAX_FINDINGS = 50
LIMITS = {"title": 200, "description": 2000, "recommended_action": 1000}
REQUIRED = ("severity", "category", "title", "description")
OPTIONAL_LISTS = ("evidence", "source_ips")
FENCED = re.compile(r"```(?:json)?\s*(\{.*\})\s*```", re.DOTALL)
SLUG = re.compile(r"[^a-z0-9]+")

ANSWER_SCHEMA = (
    '{"findings": [{"severity": "info|low|medium|high|critical", '
    f'"category": "{"|".join(Category.values)}", '
    '"title": "at most 120 characters", "description": "what happened and why it matters", '
    '"evidence": ["up to 5 log lines copied exactly"], "source_ips": ["addresses involved"], '
    '"recommended_action": "what the operator should do"}]}'
)


class InvalidAnswer(ValueError):
    pass


def _load(text: str) -> object:
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    if match := FENCED.search(text):
        try:
            return json.loads(match[1])
        except ValueError:
            pass
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(text[start : end + 1])
        except ValueError as error:
            raise InvalidAnswer(f"not valid JSON: {error}") from None
    raise InvalidAnswer("not a JSON object")


def parse_answer(text: str, log_text: str) -> tuple[list[FoundIssue], list[str]]:
    """The findings of an answer, and notes on what was dropped; raises InvalidAnswer.

    Structure and types must be right; contents are cleaned: evidence that is not a line
    of ``log_text`` and addresses that do not parse are dropped, long texts are cut.
    """
    data = _load(text)
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise InvalidAnswer('expected an object with a "findings" list')
    items = data["findings"]
    if len(items) > MAX_FINDINGS:
        raise InvalidAnswer(f"more than {MAX_FINDINGS} findings")
    issues, notes = [], []
    dropped_evidence = dropped_addresses = 0
    for index, item in enumerate(items):
        where = f"findings[{index}]"
        if not isinstance(item, dict):
            raise InvalidAnswer(f"{where}: expected an object")
        for key in REQUIRED:
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise InvalidAnswer(f"{where}.{key}: expected a non-empty string")
        action = item.get("recommended_action", "")
        if not isinstance(action, str):
            raise InvalidAnswer(f"{where}.recommended_action: expected a string")
        for key in OPTIONAL_LISTS:
            value = item.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidAnswer(f"{where}.{key}: expected a list of strings")
        severity = item["severity"].strip().lower()
        if severity not in FindingSeverity.values:
            # The answer is quoted only when it is a short word: it may repeat log text.
            shown = repr(severity) if severity.isalpha() and len(severity) <= 20 else "the value"
            raise InvalidAnswer(
                f"{where}.severity: {shown} is not one of {', '.join(FindingSeverity.values)}"
            )
        category = SLUG.sub("_", item["category"].strip().lower()).strip("_")
        if category not in Category.values:
            category = Category.OTHER
        evidence = []
        for line in item.get("evidence", []):
            line = line.strip()
            if len(line) >= 8 and line in log_text and line not in evidence:
                evidence.append(line[:EVIDENCE_LINE_CHARS])
            else:
                dropped_evidence += 1
        addresses = []
        for address in item.get("source_ips", []):
            try:
                normal = str(ipaddress.ip_address(address.strip()))
            except ValueError:
                dropped_addresses += 1
                continue
            if normal not in addresses:
                addresses.append(normal)
        title = _cut(item["title"], LIMITS["title"])
        issues.append(
            FoundIssue(
                category=category,
                severity=severity,
                title=title,
                key=addresses[0] if addresses else SLUG.sub("-", title.lower()).strip("-")[:100],
                description=_cut(item["description"], LIMITS["description"]),
                evidence=evidence[:MAX_EVIDENCE],
                source_ips=addresses[:20],
                recommended_action=_cut(action, LIMITS["recommended_action"]),
                events=max(1, len(evidence)),
                analyzers=("llm",),
            )
        )
    if dropped_evidence:
        notes.append(f"{dropped_evidence} evidence line(s) of the LLM not found in the log")
    if dropped_addresses:
        notes.append(f"{dropped_addresses} source address(es) of the LLM not valid")
    return issues, notes


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
