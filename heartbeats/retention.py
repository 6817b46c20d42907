from django.conf import settings
from django.db import transaction

from heartbeats.models import Heartbeat
from hosts.models import Host


def prune_heartbeats(keep: int | None = None) -> int:
    """Keep the newest ``keep`` heartbeats of each host; returns how many were deleted.

    Uptime figures come from the status history, so old heartbeats are not needed.
    """
    keep = keep or settings.HEARTBEAT_KEEP_PER_HOST
    deleted = 0
    for host_pk in Host.objects.values_list("pk", flat=True).iterator():
        oldest_kept = (
            Heartbeat.objects.filter(host_id=host_pk)
            .order_by("-received_at", "-id")
            .values_list("received_at", "id")[keep - 1 : keep]
            .first()
        )
        if oldest_kept is None:
            continue
        received_at, pk = oldest_kept
        with transaction.atomic():
            count, _ = (
                Heartbeat.objects.filter(host_id=host_pk, received_at__lte=received_at)
                .exclude(received_at=received_at, id__gte=pk)
                .delete()
            )
        deleted += count
    return deleted
