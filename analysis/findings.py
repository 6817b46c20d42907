"""A finding as the analysers produce it (before it is stored), and how findings merge."""

from dataclasses import dataclass, field

from analysis.choices import SEVERITY_RANK

MAX_EVIDENCE = 8
EVIDENCE_LINE_CHARS = 500


@dataclass
class FoundIssue:
    category: str
    severity: str
    title: str
    key: str  # what makes it the same issue next time, e.g. "ssh:203.0.113.7"
    description: str = ""
    evidence: list[str] = field(default_factory=list)
    source_ips: list[str] = field(default_factory=list)
    recommended_action: str = ""
    events: int = 1
    analyzers: tuple[str, ...] = ("rules",)

    def as_dict(self) -> dict:
        return {
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "key": self.key,
            "description": self.description,
            "evidence": self.evidence,
            "source_ips": self.source_ips,
            "recommended_action": self.recommended_action,
            "events": self.events,
            "analyzers": list(self.analyzers),
        }


def identity(issue: FoundIssue) -> tuple[str, str]:
    return issue.category, issue.key


def merge_into(target: FoundIssue, other: FoundIssue) -> None:
    """Fold ``other`` (the same issue, seen by another chunk or analyser) into ``target``."""
    if SEVERITY_RANK[other.severity] > SEVERITY_RANK[target.severity]:
        target.severity = other.severity
    for line in other.evidence:
        if line not in target.evidence and len(target.evidence) < MAX_EVIDENCE:
            target.evidence.append(line)
    for address in other.source_ips:
        if address not in target.source_ips:
            target.source_ips.append(address)
    if "llm" in other.analyzers and "rules" in target.analyzers:
        # The rule analyser's counts stay; the LLM's explanation is added.
        if other.description and other.description not in target.description:
            target.description = f"{target.description}\n\nLLM: {other.description}".strip()
        target.recommended_action = target.recommended_action or other.recommended_action
    elif other.analyzers == target.analyzers:
        target.events += other.events
    target.analyzers = tuple(sorted(set(target.analyzers) | set(other.analyzers)))


def merge(issues: list[FoundIssue]) -> list[FoundIssue]:
    """One issue per (category, key), most severe first."""
    merged: dict[tuple[str, str], FoundIssue] = {}
    for issue in issues:
        if (found := merged.get(identity(issue))) is None:
            merged[identity(issue)] = issue
        else:
            merge_into(found, issue)
    return sorted(merged.values(), key=lambda i: (-SEVERITY_RANK[i.severity], i.category, i.key))
