"""Derived state of channels, computed by the database: what the channels page and the
API show, and what routing needs to know in one query."""

from django.db import models
from django.db.models import Count, Max, Q

from alerts.choices import DeliveryState


class ChannelQuerySet(models.QuerySet):
    def with_delivery_state(self) -> "ChannelQuerySet":
        """Each channel's backlog (pending deliveries) and the time of its last delivery."""
        return self.annotate(
            backlog=Count("deliveries", filter=Q(deliveries__state=DeliveryState.PENDING)),
            last_delivery_at=Max("deliveries__sent_at"),
        )

    def list_with_host_ids(self) -> list:
        """The channels, each with ``host_ids``: the pks of the hosts it lists (one query
        for all of them, as routing looks at every channel for every alert)."""
        channels = list(self)
        through = self.model.hosts.through
        host_ids: dict[int, set[int]] = {channel.pk: set() for channel in channels}
        for channel_id, host_id in through.objects.filter(
            channel_id__in=list(host_ids)
        ).values_list("channel_id", "host_id"):
            host_ids[channel_id].add(host_id)
        for channel in channels:
            channel.host_ids = host_ids[channel.pk]
        return channels
