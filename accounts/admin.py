from django.contrib import admin, messages

from accounts.models import MANAGE_LOG_SOURCES, ApiKey
from accounts.permissions import user_may


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_id", "access", "created_by", "created_at", "last_used_at"]
    list_filter = ["access"]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "created_by", "created_at", "last_used_at"]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        """Only who may set up log analysis may hand out a key that may (no way around the
        rule through the admin)."""
        if db_field.name == "access" and not user_may(request.user, MANAGE_LOG_SOURCES):
            kwargs["choices"] = [
                choice for choice in ApiKey.Access.choices if choice[0] != ApiKey.Access.ADMIN
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            key = obj.issue()
            obj.created_by = request.user
            messages.warning(
                request, f"API key for “{obj.name}”: {key} — copy it now, it is not shown again."
            )
        super().save_model(request, obj, form, change)
