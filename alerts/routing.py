"""Which channels receive which alerts of a host: the routing rules' answer, per channel,
for the routes API and the host page (the rules themselves: ``Channel.routes_for``)."""

from alerts.choices import Severity
from alerts.models import HOST_KINDS, HOSTLESS_KINDS, Channel
from hosts.models import Host


def routes_of(host: Host | None) -> dict:
    """The channels of ``host``'s alerts (None: alerts without a host), and the kinds no
    channel takes.

    Asked kind by kind at the highest severity, so a channel appears with every kind it
    takes at some severity; its ``min_severity`` says from which.
    """
    kinds = HOST_KINDS if host is not None else HOSTLESS_KINDS
    host_tags = (host.tags or []) if host is not None else []
    channels: dict[int, dict] = {}
    unrouted = []
    targets = Channel.routing_targets()
    for kind in kinds:
        receivers = Channel.routes_for(kind, Severity.CRITICAL, host, targets)
        if not receivers:
            unrouted.append(kind)
        for channel in receivers:
            route = channels.setdefault(
                channel.pk,
                {
                    "name": channel.name,
                    "kind": channel.kind,
                    "target": channel.masked_target,
                    "min_severity": channel.min_severity,
                    "alert_kinds": [],
                    "matched_tags": [t for t in host_tags if t in (channel.tags or [])],
                    "lists_host": host is not None and host.pk in channel.host_ids,
                    "quiet_hours": _quiet_hours(channel),
                    "reminder_interval_seconds": channel.reminder_interval,
                },
            )
            route["alert_kinds"].append(kind)
    return {
        "host_id": host.host_id if host is not None else None,
        "tags": host_tags,
        "channels": list(channels.values()),
        "unrouted_kinds": unrouted,
    }


def _quiet_hours(channel: Channel) -> str:
    if channel.quiet_from is None or channel.quiet_until is None:
        return ""
    return (
        f"{channel.quiet_from:%H:%M}–{channel.quiet_until:%H:%M} "
        f"{channel.quiet_timezone or 'UTC'}, except {channel.quiet_min_severity} and above"
    )
