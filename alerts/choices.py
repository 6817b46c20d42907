from django.db import models


class ChannelKind(models.TextChoices):
    DISCORD = "discord", "Discord webhook"
    WEBHOOK = "webhook", "JSON webhook"
    EMAIL = "email", "Email"
    APPRISE = "apprise", "Apprise (ntfy, Gotify, Slack, Telegram, Matrix, …)"


class AlertKind(models.TextChoices):
    HOST_DOWN = "host_down", "Host down"
    HOST_UP = "host_up", "Host recovered"
    HOST_REMINDER = "host_reminder", "Host still down"
    HOST_FLAPPING = "host_flapping", "Host flapping"
    HOST_STABLE = "host_stable", "Host stable again"
    RUN_TOO_LONG = "run_too_long", "Job ran too long"
    OUTAGE_STARTED = "outage_started", "Internet outage"
    OUTAGE_ENDED = "outage_ended", "Internet back"
    FINDING = "finding", "Log finding"
    LOG_ANALYSIS_FAILED = "log_analysis_failed", "Log analysis failing"
    LOG_ANALYSIS_OK = "log_analysis_ok", "Log analysis working again"
    SYSTEM = "system", "System problem"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


SEVERITY_COLOURS = {
    Severity.INFO: 0x2ECC71,
    Severity.WARNING: 0xF1C40F,
    Severity.ERROR: 0xE74C3C,
    Severity.CRITICAL: 0x8E44AD,
}


class AlertState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    UNROUTED = "unrouted", "No channel"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
