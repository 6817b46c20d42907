from django.db import models


class ScheduleType(models.TextChoices):
    ALWAYS = "always", "Always"
    BUSINESS_HOURS = "business_hours", "Business hours"
    CUSTOM = "custom", "Custom (cron)"


class HostStatus(models.TextChoices):
    """Stored states. ``late`` is derived: an ``up`` host past its expected time."""

    NEW = "new", "New"
    UP = "up", "Up"
    DOWN = "down", "Down"
    PAUSED = "paused", "Paused"


LATE = "late"
DISPLAY_STATUSES = ["new", "up", LATE, "down", "paused"]
# Sorting by displayed state: what needs attention first.
STATUS_RANK = {"down": 0, LATE: 1, "new": 2, "up": 3, "paused": 4}


class ChangeCause(models.TextChoices):
    """What made a status change other than the schedule (``StatusChange.cause``): the alert
    says what happened, not "no heartbeat before the deadline"."""

    SCHEDULE = "", "Heartbeats and deadlines"
    FAILURE = "failure", "A failure signal (fail, or a non-zero exit status)"
    UNFINISHED = "unfinished", "A run started but never finished"


class GapCause(models.TextChoices):
    """Why netmon could not receive heartbeats for a while (hosts.models.ReceptionGap)."""

    NOT_RUNNING = "not_running", "netmon was not running"
    WEB_DOWN = "web_down", "the web server was down"
    DATABASE = "database", "the database was unavailable"
