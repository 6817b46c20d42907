from django.contrib import admin

from heartbeats.models import Heartbeat, PingKey, Run


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["host", "received_at", "source_ip", "user_agent"]
    list_filter = ["received_at"]
    search_fields = ["host__host_id", "source_ip"]
    list_select_related = ["host"]
    readonly_fields = ["host", "received_at", "source_ip", "user_agent", "body"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PingKey)
class PingKeyAdmin(admin.ModelAdmin):
    """Ping keys are made by ``manage.py create_ping_key`` (the key is shown once there);
    here they are listed and revoked (deleted)."""

    list_display = ["name", "key_prefix", "created_at"]
    readonly_fields = ["name", "key_prefix", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["host", "run_id", "started_at", "finished_at", "duration_seconds", "failed"]
    list_filter = ["failed", "started_at"]
    search_fields = ["host__host_id", "run_id"]
    list_select_related = ["host"]
    readonly_fields = [*list_display, "exit_status"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
