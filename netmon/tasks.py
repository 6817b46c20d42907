"""Entry points of the periodic tasks run by the django-q2 cluster."""

from heartbeats.retention import prune_heartbeats


def cleanup() -> dict[str, int]:
    return {"heartbeats_deleted": prune_heartbeats()}
