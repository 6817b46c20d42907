from django.contrib import admin, messages
from django.db import transaction

from analysis.admin import LogSourceInline
from hosts.models import Host, LongRun, ReceptionGap, StatusChange


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = [
        "host_id",
        "name",
        "status_label",
        "last_heartbeat_at",
        "schedule_label",
        "frequency_seconds",
        "grace_seconds",
        "next_deadline",
    ]
    list_filter = ["status", "schedule_type", "timezone"]
    search_fields = ["host_id", "name", "notes"]
    readonly_fields = [
        "status",
        "token_prefix",
        "last_heartbeat_at",
        "next_expected_at",
        "next_deadline",
        "status_changed_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["host_id", "name", "notes", "tags"]}),
        (
            "Schedule",
            {
                "fields": [
                    "frequency_seconds",
                    "grace_seconds",
                    "max_run_seconds",
                    "schedule_type",
                    "cron_expression",
                    "timezone",
                ]
            },
        ),
        ("State", {"fields": readonly_fields}),
    ]
    actions = ["pause_hosts", "resume_hosts", "rotate_tokens"]
    inlines = [LogSourceInline]

    @admin.display(description="status", ordering="status")
    def status_label(self, host: Host) -> str:
        return host.display_status()

    @admin.display(description="schedule", ordering="schedule_type")
    def schedule_label(self, host: Host) -> str:
        if host.schedule_type == "custom":
            return f"cron {host.cron_expression} ({host.timezone})"
        if host.schedule_type == "business_hours":
            return f"business hours ({host.timezone})"
        return "always"

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        return [*fields, "host_id"] if obj else fields

    def save_model(self, request, obj, form, change):
        if not change:
            token = obj.set_new_token()
            messages.warning(
                request,
                f"Token for {obj.host_id}: {token} — copy it now, it is not shown again.",
            )
        super().save_model(request, obj, form, change)

    @admin.action(description="Pause monitoring of the selected hosts", permissions=["change"])
    def pause_hosts(self, request, queryset):
        with transaction.atomic():
            for host in queryset.select_for_update():
                host.pause(f"paused in the admin by {request.user}")
        self.message_user(request, f"Paused {queryset.count()} host(s).")

    @admin.action(description="Resume monitoring of the selected hosts", permissions=["change"])
    def resume_hosts(self, request, queryset):
        with transaction.atomic():
            for host in queryset.select_for_update():
                host.resume(f"resumed in the admin by {request.user}")
        self.message_user(request, f"Resumed {queryset.count()} host(s).")

    @admin.action(description="Rotate the token of the selected hosts", permissions=["change"])
    def rotate_tokens(self, request, queryset):
        with transaction.atomic():
            for host in queryset.select_for_update():
                token = host.rotate_token()
                messages.warning(
                    request,
                    f"New token for {host.host_id}: {token} — copy it now, it is not shown again.",
                )


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    list_display = ["host", "at", "from_status", "to_status", "reason", "alerted_at"]
    list_filter = ["to_status", "at"]
    search_fields = ["host__host_id", "reason"]
    list_select_related = ["host"]
    readonly_fields = [
        "host",
        "at",
        "from_status",
        "to_status",
        "previous_since",
        "reason",
        "alerted_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LongRun)
class LongRunAdmin(admin.ModelAdmin):
    """Runs that took longer than their host's maximum: written and alerted by netmon."""

    list_display = ["host", "run_started_at", "run_id", "duration_seconds", "limit_seconds"]
    list_filter = ["at"]
    search_fields = ["host__host_id", "run_id"]
    list_select_related = ["host"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReceptionGap)
class ReceptionGapAdmin(admin.ModelAdmin):
    """Times netmon could not receive heartbeats: written by the monitor loop, read here."""

    list_display = ["started_at", "ended_at", "cause", "hosts_rescheduled"]
    list_filter = ["cause"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
