"""The alerts of log analysis: a finding at or above ANALYSIS_ALERT_MIN_SEVERITY, more of
them than a run may alert, a source whose runs keep failing, its recovery, and a changed SSH
host key. The monitor loop queues them from the findings and run events (analysis/events.py).

Finding texts come from logs (and from an LLM that read them), errors from hosts and
providers: they go into the alerts as data (alerts/markup.py), which each transport renders
for its medium (escaped for Discord, as written for webhooks and email), on top of the
Discord channel's empty ``allowed_mentions``.
"""

from django.conf import settings

from alerts.choices import AlertKind, Severity
from alerts.markup import Part, Text, code, code_block, em, strong
from alerts.outbox import dashboard_url, queue_alert
from alerts.transports import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT
from analysis.choices import ALERT_SEVERITY
from hosts.alerting import host_text

# Room left in the description for the text around the evidence block
EVIDENCE_BUDGET = DESCRIPTION_LIMIT - 1200


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def evidence_lines(lines: list[str], budget: int = EVIDENCE_BUDGET) -> list[str]:
    """Evidence lines for a code block that fits ``budget`` characters, fence included."""
    shown, used = [], 8  # ```\n … \n```
    for line in lines:
        line = _cut(line, 300)
        if used + len(line) + 1 > budget:
            shown.append(f"… {len(lines) - len(shown)} more line(s)")
            break
        shown.append(line)
        used += len(line) + 1
    return shown


def finding_url(finding) -> str:
    return dashboard_url(f"/admin/analysis/finding/{finding.pk}/change/")


def queue_finding_alert(finding, reason: str = ""):
    host = finding.host
    description: list[Part] = [_cut(finding.description, 1500)]
    if finding.recommended_action:
        action = _cut(finding.recommended_action, 600)
        description += ["\n\n", strong("Recommended action:"), " ", action]
    if reason:
        description += ["\n\n", em(reason)]
    evidence = evidence_lines(finding.evidence)
    if evidence:
        description += ["\n\n", strong("Evidence"), "\n", code_block(evidence)]
    fields: list[tuple[str, Text]] = [
        ("Host", host_text(host)),
        ("Severity", finding.get_severity_display()),
        ("Category", finding.category),
        ("Found by", finding.analyzers.replace("+", " + ")),
        ("Seen", f"{finding.count} run(s), {finding.events} event(s)"),
    ]
    if finding.source_ips:
        fields.append(("Source", _cut(", ".join(finding.source_ips), FIELD_VALUE_LIMIT)))
    return queue_alert(
        AlertKind.FINDING,
        ALERT_SEVERITY[finding.severity],
        _cut(f"{host.name}: {finding.title}", 250),
        description,
        fields,
        host,
        finding_url(finding),
    )


def queue_summary_alert(run, count: int) -> None:
    """When a run had more findings to alert than ANALYSIS_MAX_ALERTS_PER_RUN."""
    host = run.host
    queue_alert(
        AlertKind.FINDING,
        Severity.WARNING,
        f"{host.name}: {count} more log findings",
        [
            "The log analysis of ",
            code(host.host_id),
            f" found {count} more findings at or above {settings.ANALYSIS_ALERT_MIN_SEVERITY} "
            f"than ANALYSIS_MAX_ALERTS_PER_RUN={settings.ANALYSIS_MAX_ALERTS_PER_RUN} lets "
            "through in one run. See the findings list.",
        ],
        [("Host", host.host_id), ("Run", str(run.pk))],
        host,
        dashboard_url(f"/admin/analysis/finding/?host__id__exact={host.pk}"),
    )


def _runs_url(run) -> str:
    return dashboard_url(f"/admin/analysis/analysisrun/?host__id__exact={run.host.pk}")


def _source_fields(run, streak: int) -> list[tuple[str, Text]]:
    return [
        ("Host", host_text(run.host)),
        ("Reads", [code(_cut(run.target, FIELD_VALUE_LIMIT - 2))]),
        ("Failed runs in a row", str(streak)),
        ("Last run", str(run.pk)),
    ]


def queue_failing_alert(run, streak: int) -> None:
    """``streak``: the failed runs in a row when ``run`` reached ANALYSIS_FAILURE_ALERT_AFTER."""
    what = "Log collection" if run.error_stage == "collection" else "Log analysis"
    queue_alert(
        AlertKind.LOG_ANALYSIS_FAILED,
        Severity.WARNING,
        f"{what} failing for {run.host.name}",
        f"The last {streak} runs failed. Latest error: {_cut(run.error, 1500)}"
        "\n\nNo further alert is sent until it works again.",
        _source_fields(run, streak),
        run.host,
        _runs_url(run),
    )


def queue_recovered_alert(run) -> None:
    queue_alert(
        AlertKind.LOG_ANALYSIS_OK,
        Severity.INFO,
        f"Log analysis working again for {run.host.name}",
        [
            f"Run {run.pk} read and analysed the log of ",
            code(run.host.host_id),
            " again.",
        ],
        _source_fields(run, 0)[:2],
        run.host,
        _runs_url(run),
    )


def host_key_details(change) -> dict[str, str]:
    """What the host-key alert says of ``change`` (an ``analysis.ssh.HostKeyChanged``), kept
    on the run's event: the pinned key may be replaced before the alert is written."""
    pinned, presented = (
        f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"
        for key in (change.pinned, change.presented)
    )
    return {"endpoint": f"{change.host}:{change.port}", "pinned": pinned, "presented": presented}


def queue_host_key_changed_alert(run, endpoint: str, pinned: str, presented: str) -> None:
    """A server presented another host key than the pinned one: a security event, sent on
    the first run that sees it (not after ANALYSIS_FAILURE_ALERT_AFTER), once per change."""
    queue_alert(
        AlertKind.LOG_ANALYSIS_FAILED,
        Severity.ERROR,
        f"SSH host key changed for {run.host.name} ({endpoint})",
        [
            "The SSH server at ",
            code(endpoint),
            " presented another host key than the one netmon pinned: a reinstalled host, "
            "or someone in between. netmon refused it before authenticating: no key, command "
            "or data was sent.\n\n",
            strong("Pinned:"),
            " ",
            code(pinned),
            "\n",
            strong("Presented:"),
            " ",
            code(presented),
            "\n\nIf the change is expected, compare the new fingerprint with the host's own "
            "(ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and accept it in the admin (SSH host "
            "keys). Until then every run of this source fails.",
        ],
        [("Host", host_text(run.host)), ("SSH server", [code(endpoint)]), ("Run", str(run.pk))],
        run.host,
        dashboard_url("/admin/analysis/sshhostkey/"),
    )
