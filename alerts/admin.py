from django.contrib import admin, messages

from alerts.channel_test import send_test_notification
from alerts.forms import ChannelForm
from alerts.models import Alert, Channel, Delivery


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = [
        "name",
        "kind",
        "target",
        "enabled",
        "min_severity",
        "kinds_label",
        "tags_label",
        "default",
        "broken_label",
    ]
    list_filter = ["kind", "enabled", "default"]
    readonly_fields = ["from_environment", "broken_at", "broken_reason", "created_at"]
    actions = ["send_test_notification", "mark_repaired"]

    @admin.display(description="target")
    def target(self, channel: Channel) -> str:
        return channel.masked_target

    @admin.display(description="alert kinds")
    def kinds_label(self, channel: Channel) -> str:
        return ", ".join(channel.alert_kinds) if channel.alert_kinds else "all"

    @admin.display(description="tags")
    def tags_label(self, channel: Channel) -> str:
        return ", ".join(channel.tags) if channel.tags else "—"

    @admin.display(description="broken", boolean=False)
    def broken_label(self, channel: Channel) -> str:
        return (
            f"since {channel.broken_at:%Y-%m-%d %H:%M}: {channel.broken_reason}"
            if (channel.broken_at)
            else "—"
        )

    @admin.action(description="Mark as repaired (retry its pending alerts)", permissions=["change"])
    def mark_repaired(self, request, queryset):
        count = queryset.update(broken_at=None, broken_reason="", send_after=None)
        self.message_user(request, f"{count} channel(s) will be retried.")

    @admin.action(
        description="Send a test notification to the selected channels", permissions=["change"]
    )
    def send_test_notification(self, request, queryset):
        for channel in queryset:
            result = send_test_notification(channel, str(request.user), "the admin")
            self.message_user(
                request,
                f"{channel.name} ({channel.masked_target}): {result.text}",
                MESSAGE_LEVELS[result.level],
            )


MESSAGE_LEVELS = {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["channel", "state", "attempts", "last_error", "next_attempt_at", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "title", "kind", "severity", "state", "host", "acknowledged_at"]
    list_filter = ["state", "kind", "severity", "created_at"]
    search_fields = ["title", "host__host_id"]
    list_select_related = ["host"]
    inlines = [DeliveryInline]
    readonly_fields = [
        "kind",
        "severity",
        "host",
        "title",
        "description",
        "fields",
        "url",
        "state",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
    ]
    actions = ["acknowledge"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            alert.acknowledge(by=request.user.get_username())
        self.message_user(request, f"Acknowledged {queryset.count()} alert(s).")
