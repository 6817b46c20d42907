from django.db import models

from alerts.choices import Severity as AlertSeverity


class Method(models.TextChoices):
    SSH = "ssh", "SSH (remote command or file)"
    LOCAL = "local", "Local file"
    COMMAND = "command", "Local command"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Command line"
    ADMIN = "admin", "Admin"


class RunEventKind(models.TextChoices):
    """What a run saw that alerts, beyond its findings (analysis/events.py)."""

    FINDINGS_HELD_BACK = "held_back", "More findings than one run may alert"
    HOST_KEY_CHANGED = "host_key", "SSH host key changed"
    FAILING = "failing", "Runs keep failing"
    RECOVERED = "recovered", "Working again"


class FindingSeverity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {value: rank for rank, value in enumerate(FindingSeverity.values)}

# A finding's alert carries the alert severity (and so the Discord colour) of its level.
ALERT_SEVERITY = {
    FindingSeverity.INFO: AlertSeverity.INFO,
    FindingSeverity.LOW: AlertSeverity.INFO,
    FindingSeverity.MEDIUM: AlertSeverity.WARNING,
    FindingSeverity.HIGH: AlertSeverity.ERROR,
    FindingSeverity.CRITICAL: AlertSeverity.CRITICAL,
}

# ANALYSIS_ALERT_MIN_SEVERITY also accepts the alert severities' names.
SEVERITY_ALIASES = {"warning": "medium", "error": "high"}


class Category(models.TextChoices):
    """Categories of the rule analyser; the LLM is asked to use them too (or ``other``)."""

    BRUTE_FORCE = "brute_force", "Login brute force"
    LOGIN_AFTER_FAILURES = "login_after_failures", "Login after many failures"
    PRIVILEGE_ESCALATION = "privilege_escalation", "sudo/su failures"
    PORT_SCAN = "port_scan", "Port scan"
    FIREWALL_DROP = "firewall_drop", "Firewall drops"
    KERNEL_ERROR = "kernel_error", "Kernel error"
    DISK_ERROR = "disk_error", "Disk error"
    SERVICE_CRASH = "service_crash", "Service crash loop"
    WEB_ATTACK = "web_attack", "Web attack"
    MALWARE = "malware", "Malware"
    CONFIGURATION = "configuration", "Configuration problem"
    OTHER = "other", "Other"


class Analyzer(models.TextChoices):
    RULES = "rules", "Rule analyser"
    LLM = "llm", "LLM"


class TrustOrigin(models.TextChoices):
    """How netmon came to trust a pinned SSH host key."""

    FIRST_USE = "first_use", "Trusted on first use"
    ADMIN = "admin", "Added by an administrator"
