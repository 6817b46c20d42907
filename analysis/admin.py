from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from analysis.choices import Trigger
from analysis.models import AnalysisRun, Finding, LogSource
from analysis.runner import lease_seconds

SETTINGS_FIELDSETS = [
    (None, {"fields": ["enabled", "method", "analysis_frequency"]}),
    (
        "SSH",
        {
            "fields": [
                ("ssh_host", "ssh_port", "ssh_user"),
                "ssh_key_path",
                "ssh_key_passphrase_env",
                "ssh_known_hosts_path",
                "ssh_trust_on_first_use",
            ]
        },
    ),
    ("What to read", {"fields": ["log_command", "log_path"]}),
    ("LLM", {"fields": ["analysis_prompt", "model"]}),
]
STATE_FIELDS = [
    "last_run_at",
    "last_success_at",
    "next_run_at",
    "failure_streak",
    "last_error",
    "cursor",
]


class LogSourceInline(admin.StackedInline):
    """The host's log source, on the host's page."""

    model = LogSource
    fk_name = "host"
    extra = 0
    max_num = 1
    can_delete = True
    verbose_name = "log analysis"
    verbose_name_plural = "log analysis"
    fieldsets = [*SETTINGS_FIELDSETS, ("State", {"fields": STATE_FIELDS[:-1]})]
    readonly_fields = STATE_FIELDS[:-1]


@admin.register(LogSource)
class LogSourceAdmin(admin.ModelAdmin):
    list_display = [
        "host",
        "enabled",
        "method",
        "target",
        "analysis_frequency",
        "last_run_at",
        "last_success_at",
        "failure_streak",
        "last_error",
    ]
    list_filter = ["enabled", "method"]
    search_fields = ["host__host_id", "host__name", "ssh_host", "log_path", "log_command"]
    list_select_related = ["host"]
    fieldsets = [
        (None, {"fields": ["host"]}),
        *SETTINGS_FIELDSETS,
        ("State", {"fields": STATE_FIELDS}),
    ]
    readonly_fields = STATE_FIELDS
    actions = ["analyse_now"]

    @admin.action(description="Analyse the selected sources now")
    def analyse_now(self, request, queryset):
        queued = 0
        for source in queryset.select_related("host"):
            async_task(
                "analysis.tasks.run_source_task",
                source.pk,
                Trigger.ADMIN,
                task_name=f"log analysis {source.host.host_id} (admin)",
                timeout=lease_seconds(),
            )
            queued += 1
        self.message_user(
            request, f"Queued {queued} analysis run(s); see Analysis runs.", messages.SUCCESS
        )


class FindingInline(admin.TabularInline):
    model = Finding.runs.through
    verbose_name = "finding"
    verbose_name_plural = "findings of this run"
    extra = 0
    can_delete = False
    readonly_fields = ["finding"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AnalysisRun)
class AnalysisRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "host",
        "status",
        "trigger",
        "lines_read",
        "findings_count",
        "analyzers",
        "input_tokens",
        "output_tokens",
        "cost",
        "error",
    ]
    list_filter = ["status", "trigger", "analyzers", "started_at", "host"]
    search_fields = ["host__host_id", "error"]
    list_select_related = ["host"]
    date_hierarchy = "started_at"
    inlines = [FindingInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in AnalysisRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_view_permission(request, obj)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = [
        "last_seen_at",
        "host",
        "severity",
        "category",
        "title",
        "count",
        "analyzers",
        "acknowledged_at",
    ]
    list_filter = [
        "severity",
        "category",
        "analyzers",
        ("acknowledged_at", admin.EmptyFieldListFilter),
        "host",
    ]
    search_fields = ["host__host_id", "title", "key", "description"]
    list_select_related = ["host"]
    date_hierarchy = "last_seen_at"
    exclude = ["runs"]
    actions = ["acknowledge"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Finding._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Acknowledge the selected findings")
    def acknowledge(self, request, queryset):
        with transaction.atomic():
            count = queryset.filter(acknowledged_at__isnull=True).update(
                acknowledged_at=timezone.now(), acknowledged_by=str(request.user)[:150]
            )
        self.message_user(request, f"Acknowledged {count} finding(s).", messages.SUCCESS)
