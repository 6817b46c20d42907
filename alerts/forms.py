"""The channel form of the admin and of the channels page: one set of fields and checks."""

from django import forms
from django.core.exceptions import ValidationError

from alerts.choices import AlertKind
from alerts.models import Channel
from hosts.models import Host


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

    hosts = forms.ModelMultipleChoiceField(
        queryset=Host.objects.order_by("host_id"),
        required=False,
        to_field_name="host_id",
        help_text="The alerts of these hosts come here too, whatever their tags.",
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
            "hosts",
            "default",
            "reminder_interval_seconds",
            "quiet_from",
            "quiet_until",
            "quiet_timezone",
            "quiet_min_severity",
        ]
        widgets = {
            "quiet_from": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_until": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.from_environment:
            self.fields["url"].disabled = True
            self.fields["url"].help_text = "From DISCORD_WEBHOOK_URL: change it there."
        elif self.instance.pk and self.instance.url:
            self.fields["url"].required = False
            self.fields[
                "url"
            ].help_text = f"Currently {self.instance.masked_target}. Leave empty to keep it."

    def clean_url(self) -> str:
        return self.cleaned_data["url"] or (self.instance.url if self.instance.pk else "")

    def clean(self):
        cleaned = super().clean()
        try:
            Channel.check_receives_something(
                cleaned.get("tags") or [],
                list(cleaned.get("hosts") or []),
                bool(cleaned.get("default")),
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned

    def save(self, commit: bool = True) -> Channel:
        """Saved with new settings, a broken channel gets another chance."""
        if self.instance.pk and self.has_changed():
            self.instance.broken_at, self.instance.broken_reason = None, ""
        return super().save(commit)
