from django.contrib import admin

from maintenance.models import MaintenanceWindow


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["reason", "starts_at", "ends_at", "recurrence", "everything", "closed_at"]
    list_filter = ["everything"]
    search_fields = ["reason"]
    filter_horizontal = ["hosts"]
    readonly_fields = ["closed_at", "created_by", "created_at"]
