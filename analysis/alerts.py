"""The alerts of log analysis: a finding at or above ANALYSIS_ALERT_MIN_SEVERITY, a source
whose runs keep failing, and its recovery. Queue them inside the run's transaction.

Finding texts come from logs (and from an LLM that read them): mentions are defused
(``@everyone``, ``@here``, ``<@…>``) and code fences cannot be closed from inside, on top of
the channel's empty ``allowed_mentions``.
"""

import re

from django.conf import settings

from alerts.choices import AlertKind, Severity
from alerts.outbox import dashboard_url, queue_alert
from alerts.transports import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT
from analysis.choices import ALERT_SEVERITY

ZWSP = "\u200b"
MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>", re.IGNORECASE)
# Room left in the description for the text around the evidence block
EVIDENCE_BUDGET = DESCRIPTION_LIMIT - 1200


def defuse(text: str) -> str:
    """Text that Discord shows as written but never turns into a mention or a code fence."""
    text = MENTION.sub(lambda m: f"@{ZWSP}{m[1]}" if m[1] else f"<{ZWSP}{m[2]}{m[3]}>", text)
    return text.replace("```", f"`{ZWSP}`{ZWSP}`")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evidence_block(lines: list[str], budget: int = EVIDENCE_BUDGET) -> str:
    """Evidence lines in a code block that fits ``budget`` characters, fence included."""
    shown, used = [], 8  # ```\n … \n```
    for line in lines:
        line = _cut(defuse(line), 300)
        if used + len(line) + 1 > budget:
            shown.append(f"… {len(lines) - len(shown)} more line(s)")
            break
        shown.append(line)
        used += len(line) + 1
    return "```\n" + "\n".join(shown) + "\n```" if shown else ""


def finding_url(finding) -> str:
    return dashboard_url(f"/admin/analysis/finding/{finding.pk}/change/")


def queue_finding_alert(finding, reason: str = ""):
    host = finding.host
    description = _cut(defuse(finding.description), 1500)
    if finding.recommended_action:
        description += "\n\n**Recommended action:** " + _cut(
            defuse(finding.recommended_action), 600
        )
    if reason:
        description += f"\n\n_{reason}_"
    block = evidence_block(finding.evidence)
    if block:
        description += "\n\n**Evidence**\n" + block
    fields = [
        ("Host", f"{defuse(host.name)} (`{host.host_id}`)"),
        ("Severity", finding.get_severity_display()),
        ("Category", finding.category),
        ("Found by", finding.analyzers.replace("+", " + ")),
        ("Seen", f"{finding.count} run(s), {finding.events} event(s)"),
    ]
    if finding.source_ips:
        fields.append(("Source", _cut(defuse(", ".join(finding.source_ips)), FIELD_VALUE_LIMIT)))
    return queue_alert(
        AlertKind.FINDING,
        ALERT_SEVERITY[finding.severity],
        _cut(f"{host.name}: {defuse(finding.title)}", 250),
        description,
        fields,
        host,
        finding_url(finding),
    )


def queue_summary_alert(host, count: int, run) -> None:
    """When a run has more findings to alert than ANALYSIS_MAX_ALERTS_PER_RUN."""
    queue_alert(
        AlertKind.FINDING,
        Severity.WARNING,
        f"{host.name}: {count} more log findings",
        f"The log analysis of `{host.host_id}` found {count} more findings at or above "
        f"{settings.ANALYSIS_ALERT_MIN_SEVERITY} than ANALYSIS_MAX_ALERTS_PER_RUN="
        f"{settings.ANALYSIS_MAX_ALERTS_PER_RUN} lets through in one run. See the findings list.",
        [("Host", host.host_id), ("Run", str(run.pk))],
        host,
        dashboard_url(f"/admin/analysis/finding/?host__id__exact={host.pk}"),
    )


def _source_fields(source, run) -> list[tuple[str, str]]:
    return [
        ("Host", f"{defuse(source.host.name)} (`{source.host.host_id}`)"),
        ("Reads", _cut(f"`{source.target}`", FIELD_VALUE_LIMIT)),
        ("Failed runs in a row", str(source.failure_streak)),
        ("Last run", str(run.pk) if run and run.pk else "-"),
    ]


def queue_failing_alert(source, run, stage: str, error: str) -> None:
    what = "Log collection" if stage == "collection" else "Log analysis"
    queue_alert(
        AlertKind.LOG_ANALYSIS_FAILED,
        Severity.WARNING,
        f"{what} failing for {source.host.name}",
        f"The last {source.failure_streak} runs failed. Latest error: "
        f"{_cut(defuse(error), 1500)}\n\nNo further alert is sent until it works again.",
        _source_fields(source, run),
        source.host,
        dashboard_url(f"/admin/analysis/analysisrun/?host__id__exact={source.host.pk}"),
    )


def queue_recovered_alert(source, run) -> None:
    queue_alert(
        AlertKind.LOG_ANALYSIS_OK,
        Severity.INFO,
        f"Log analysis working again for {source.host.name}",
        f"Run {run.pk if run else '-'} read and analysed the log of `{source.host.host_id}` again.",
        _source_fields(source, run)[:2],
        source.host,
        dashboard_url(f"/admin/analysis/analysisrun/?host__id__exact={source.host.pk}"),
    )
