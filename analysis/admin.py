from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from analysis import host_keys
from analysis.choices import Trigger, TrustOrigin
from analysis.models import AnalysisRun, Finding, LogSource, SSHHostKey
from analysis.runner import lease_seconds

SETTINGS_FIELDSETS = [
    (None, {"fields": ["enabled", "method", "analysis_frequency"]}),
    (
        "SSH",
        {
            "fields": [
                ("ssh_host", "ssh_port", "ssh_user"),
                "ssh_key",
                "ssh_key_passphrase_env",
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
    "last_error_shown",
    "cursor",
]


class ShownLastError:
    """The source's last error as it may be shown (older versions' texts could quote files)."""

    @admin.display(description="last error")
    def last_error_shown(self, source: LogSource) -> str:
        return source.shown_last_error


class LogSourceInline(ShownLastError, admin.StackedInline):
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
class LogSourceAdmin(ShownLastError, admin.ModelAdmin):
    list_display = [
        "host",
        "enabled",
        "method",
        "target",
        "analysis_frequency",
        "last_run_at",
        "last_success_at",
        "failure_streak",
        "last_error_shown",
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

    @admin.action(description="Analyse the selected sources now", permissions=["change"])
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


class SSHHostKeyForm(forms.ModelForm):
    """An administrator pins a key by pasting it (``ssh-ed25519 AAAA… comment``, e.g. from
    /etc/ssh/ssh_host_ed25519_key.pub on the host)."""

    class Meta:
        model = SSHHostKey
        fields = ["ssh_host", "port", "public_key"]
        widgets = {"public_key": forms.Textarea(attrs={"rows": 3})}

    def clean_ssh_host(self) -> str:
        return host_keys.endpoint_host(self.cleaned_data["ssh_host"])

    def clean_public_key(self):
        try:
            self.key = host_keys.parse_public_key(self.cleaned_data["public_key"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return host_keys.openssh_line(self.key)

    def clean(self):
        cleaned = super().clean()
        key = getattr(self, "key", None)
        if key is not None and "ssh_host" in cleaned and "port" in cleaned:
            taken = SSHHostKey.objects.filter(
                ssh_host=cleaned["ssh_host"], port=cleaned["port"], algorithm=key.get_algorithm()
            )
            if taken.exists():
                raise forms.ValidationError(
                    f"A {key.get_algorithm()} key is pinned for this host and port already: "
                    "delete it first, or accept the changed key."
                )
        return cleaned


@admin.register(SSHHostKey)
class SSHHostKeyAdmin(admin.ModelAdmin):
    """The host keys log collection trusts; keys trusted on first use wait for confirmation."""

    form = SSHHostKeyForm
    list_display = [
        "ssh_host",
        "port",
        "algorithm",
        "fingerprint",
        "origin",
        "trusted_at",
        "confirmed_at",
        "changed_fingerprint",
        "changed_seen_at",
    ]
    list_filter = ["origin", ("confirmed_at", admin.EmptyFieldListFilter)]
    search_fields = ["ssh_host", "fingerprint", "changed_fingerprint"]
    actions = ["confirm", "accept_changed_key"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [field.name for field in SSHHostKey._meta.fields if field.name != "id"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["ssh_host", "port", "public_key"]
        return self.get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            now = timezone.now()
            obj.algorithm = form.key.get_algorithm()
            obj.fingerprint = form.key.get_fingerprint("sha256")
            obj.origin = TrustOrigin.ADMIN
            obj.trusted_at = obj.confirmed_at = now
            obj.confirmed_by = str(request.user)[:150]
        super().save_model(request, obj, form, change)

    @admin.action(
        description="Confirm the selected host keys (fingerprints checked)", permissions=["change"]
    )
    def confirm(self, request, queryset):
        count = queryset.filter(confirmed_at__isnull=True).update(
            confirmed_at=timezone.now(), confirmed_by=str(request.user)[:150]
        )
        self.message_user(request, f"Confirmed {count} host key(s).", messages.SUCCESS)

    @admin.action(
        description="Accept the changed key the server presented (fingerprint checked)",
        permissions=["change"],
    )
    def accept_changed_key(self, request, queryset):
        by = str(request.user)
        count = sum(host_keys.accept_changed_key(row, by) for row in queryset)
        self.message_user(
            request, f"Accepted the changed key of {count} host(s).", messages.SUCCESS
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
        "error_shown",
    ]
    list_filter = ["status", "trigger", "error_kind", "analyzers", "started_at", "host"]
    search_fields = ["host__host_id"]
    list_select_related = ["host"]
    date_hierarchy = "started_at"
    inlines = [FindingInline]

    def get_readonly_fields(self, request, obj=None):
        # The error as it may be shown: the text of older versions could quote files.
        names = [field.name for field in AnalysisRun._meta.fields]
        return [("error_shown" if name == "error" else name) for name in names]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    @admin.display(description="error")
    def error_shown(self, run: AnalysisRun) -> str:
        return run.shown_error

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

    @admin.action(description="Acknowledge the selected findings", permissions=["change"])
    def acknowledge(self, request, queryset):
        with transaction.atomic():
            count = queryset.filter(acknowledged_at__isnull=True).update(
                acknowledged_at=timezone.now(), acknowledged_by=str(request.user)[:150]
            )
        self.message_user(request, f"Acknowledged {count} finding(s).", messages.SUCCESS)
