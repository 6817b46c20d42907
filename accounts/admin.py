from django.contrib import admin, messages

from accounts.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_id", "access", "created_by", "created_at", "last_used_at"]
    list_filter = ["access"]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "created_by", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.issue()
            obj.created_by = request.user
            messages.warning(
                request, f"API key for “{obj.name}”: {key} — copy it now, it is not shown again."
            )
        super().save_model(request, obj, form, change)
