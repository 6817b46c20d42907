from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from connectivity.models import ConnectivityCheck, Outage
from netmon.durations import human_duration


def _ms(value) -> str:
    return "–" if value is None else f"{value} ms"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: they can be looked at and deleted, not made up."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ConnectivityCheck)
class ConnectivityCheckAdmin(ReadOnlyAdmin):
    list_display = ["checked_at", "verdict", "failed_of_total", "duration_ms", "summary", "outage"]
    list_filter = ["link_up", "checked_at"]
    search_fields = ["summary"]
    date_hierarchy = "checked_at"
    fields = [
        "checked_at",
        "link_up",
        "targets_total",
        "targets_failed",
        "duration_ms",
        "summary",
        "outage",
        "results_table",
    ]
    readonly_fields = fields

    @admin.display(description="link", boolean=True, ordering="link_up")
    def verdict(self, check: ConnectivityCheck) -> bool:
        return check.link_up

    @admin.display(description="failed")
    def failed_of_total(self, check: ConnectivityCheck) -> str:
        return f"{check.targets_failed} of {check.targets_total}"

    @admin.display(description="targets")
    def results_table(self, check: ConnectivityCheck) -> str:
        head = "".join(
            f"<th>{name}</th>"
            for name in ("target", "ok", "address", "DNS", "TCP", "HTTP", "latency", "error")
        )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    r["target"],
                    "yes" if r["ok"] else f"no ({r['failed_step']})",
                    r["address"] or "–",
                    _ms(r["dns_ms"]),
                    _ms(r["tcp_ms"]),
                    f"{r['http_status']}, {_ms(r['http_ms'])}" if r["http_status"] else "–",
                    _ms(r["latency_ms"]),
                    r["error"] or "",
                )
                for r in check.results
            ),
        )
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", mark_safe(head), rows
        )


class CheckInline(admin.TabularInline):
    model = ConnectivityCheck
    fields = ["checked_at", "link_up", "targets_failed", "targets_total", "summary"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["checked_at"]


@admin.register(Outage)
class OutageAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "ended_at", "duration_text", "failed_checks", "targets"]
    list_filter = ["started_at"]
    date_hierarchy = "started_at"
    fields = [
        "started_at",
        "ended_at",
        "duration_text",
        "opened_at",
        "failed_checks",
        "failing_targets",
        "start_alerted_at",
        "end_alerted_at",
    ]
    readonly_fields = fields
    inlines = [CheckInline]

    @admin.display(description="duration")
    def duration_text(self, outage: Outage) -> str:
        text = human_duration(outage.duration())
        return f"{text} so far" if outage.ongoing else text

    @admin.display(description="failing targets")
    def targets(self, outage: Outage) -> str:
        return ", ".join(entry["target"] for entry in outage.failing_targets)
