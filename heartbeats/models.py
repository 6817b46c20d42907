from django.db import models
from django.utils import timezone

from hosts.models import Host


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

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["host", "received_at"], name="heartbeat_host_time_idx")]

    def __str__(self) -> str:
        return f"{self.host_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"
