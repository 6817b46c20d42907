from django.contrib import admin

from heartbeats.models import Heartbeat


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
