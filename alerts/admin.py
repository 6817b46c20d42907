import math

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from alerts.choices import AlertKind, Severity
from alerts.delivery import deliver_now
from alerts.models import Alert, Channel, Delivery
from alerts.outbox import queue_alert
from alerts.transports import Outcome


class TagLinesField(forms.CharField):
    """A list of tags edited as text, one per line (a tag never holds a line break)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in super().to_python(value).splitlines() if line.strip()]


class ChannelForm(forms.ModelForm):
    # A CharField: Apprise URLs have their service's scheme. Channel.clean validates the
    # URL for the kind.
    url = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook URL, or Apprise URL (a secret: never shown again in full)",
    )

    # The routing rules as a person edits them: kinds as checkboxes, tags one per line (a
    # tag may hold a comma or a space, never a line break). Channel.clean validates them.
    alert_kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: all kinds.",
    )
    tags = TagLinesField(
        required=False,
        help_text="One host tag per line: the alerts of hosts with one of them come here.",
    )

    class Meta:
        model = Channel
        fields = [
            "name",
            "kind",
            "url",
            "email_to",
            "enabled",
            "min_severity",
            "alert_kinds",
            "tags",
            "default",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.url:
            self.fields["url"].required = False
            self.fields[
                "url"
            ].help_text = f"Currently {self.instance.masked_target}. Leave empty to keep it."

    def clean_url(self) -> str:
        return self.cleaned_data["url"] or (self.instance.url if self.instance.pk else "")


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

    def save_model(self, request, obj, form, change):
        if change and form.has_changed():
            obj.broken_at, obj.broken_reason = None, ""  # give the new settings a chance
        super().save_model(request, obj, form, change)

    @admin.action(description="Mark as repaired (retry its pending alerts)", permissions=["change"])
    def mark_repaired(self, request, queryset):
        count = queryset.update(broken_at=None, broken_reason="", send_after=None)
        self.message_user(request, f"{count} channel(s) will be retried.")

    @admin.action(
        description="Send a test notification to the selected channels", permissions=["change"]
    )
    def send_test_notification(self, request, queryset):
        """Queue a test for each selected channel alone (routing aside: a channel that serves
        only some tags could not be tested otherwise) and send it at once, so that the page
        shows what the channel answered instead of "queued"."""
        for channel in queryset:
            with transaction.atomic():
                alert = queue_alert(
                    AlertKind.SYSTEM,
                    Severity.INFO,
                    "Test notification from netmon",
                    f"Sent from the admin by {request.user} at {timezone.now():%Y-%m-%d %H:%M} "
                    f"UTC to test the channel {channel.name}.",
                    channels=[channel],
                )
            # Outside the transaction: the request may take the channel's whole timeout.
            outcome = deliver_now(alert.deliveries.get())
            level, result = channel_test_result(channel, outcome)
            self.message_user(request, f"{channel.name} ({channel.masked_target}): {result}", level)


def channel_test_result(channel: Channel, outcome: Outcome | None) -> tuple[int, str]:
    """The admin message level and text for a channel test's outcome (``deliver_now``)."""
    channel.refresh_from_db()
    if outcome is not None and outcome.sent:
        return messages.SUCCESS, "delivered"
    if outcome is not None and outcome.kind in ("payload", "broken"):
        label = "refused" if outcome.kind == "payload" else "broken"
        return messages.ERROR, f"{label}: {outcome.error}"
    if outcome is None and channel.broken_at is not None:
        return messages.ERROR, f"broken: {channel.broken_reason} (mark it as repaired to send)"
    # Pending: the monitor loop sends it, but not to a disabled channel.
    waits = "" if channel.enabled else "; the channel is disabled: it waits until enabled"
    wait = (channel.send_after - timezone.now()).total_seconds() if channel.send_after else 0
    if outcome is None:
        busy = f"may send again in {math.ceil(wait)} s" if wait > 0 else "is busy"
        return messages.WARNING, f"still pending (the channel {busy}){waits}"
    if outcome.kind == "rate_limited":
        return messages.WARNING, f"rate limited, will retry in {math.ceil(max(wait, 0))} s{waits}"
    return messages.ERROR, f"failing: {outcome.error} (it stays queued for retry){waits}"


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
