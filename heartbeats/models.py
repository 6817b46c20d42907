from django.db import models
from django.utils import timezone

from heartbeats.querysets import RunQuerySet
from hosts.models import Host
from netmon.tokens import generate_token, hash_token, token_prefix


class Signal(models.TextChoices):
    """What a ping says (healthchecks' vocabulary): a heartbeat is a success."""

    SUCCESS = "success", "Success"
    START = "start", "Start"
    FAIL = "fail", "Failure"
    LOG = "log", "Log (changes nothing)"


class Heartbeat(models.Model):
    # No separate index on host: the (host, received_at) index covers it and
    # every index costs time on the heartbeat path.
    host = models.ForeignKey(
        Host, on_delete=models.CASCADE, related_name="heartbeats", db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    # Defaults in the database: the plain heartbeat's INSERT (heartbeats/recording.py)
    # leaves these columns out.
    kind = models.CharField(
        max_length=8, choices=Signal.choices, default=Signal.SUCCESS, db_default=Signal.SUCCESS
    )
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True)
    run_id = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["host", "received_at"], name="heartbeat_host_time_idx")]

    def __str__(self) -> str:
        return f"{self.host_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class Run(models.Model):
    """One run of a job: opened by a start signal, closed by the success or failure that
    carries the same run id (none for none), which gives its duration.

    A run never closed stays open (``finished_at`` null): its host went down as "started
    but never finished" (hosts/querysets.py ``mark_down``). ``Run.objects.with_state()``
    tells such a run from the one still running."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="runs", db_index=False)
    run_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True)
    failed = models.BooleanField(default=False)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["host", "started_at"], name="jobrun_host_started_idx")]

    def __str__(self) -> str:
        return f"{self.host_id} run at {self.started_at:%Y-%m-%d %H:%M:%S}"


class PingKey(models.Model):
    """A key for the ``/ping/<ping-key>/<host_id>`` URLs: one secret for a script that
    manages many hosts (healthchecks' project ping key). Shown once, stored hashed."""

    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    def issue(self, key: str | None = None) -> str:
        """Set a new key (or ``key``, e.g. the one a healthchecks project had); returns it."""
        key = key or generate_token()
        self.key_hash, self.key_prefix = hash_token(key), token_prefix(key)
        return key
