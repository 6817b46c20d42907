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
