"""Quiet hours: a daily period in which a channel holds back alerts below a severity.

Pure functions of a moment, the period and its time zone, so that every case (a period
over midnight, the day a clock changes) is tested without a database or a clock.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _local_moment(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` on the zone's wall clock, as an aware datetime.

    A wall time that does not exist (skipped when clocks go forward) is read with the
    offset before the change, which lands just after the gap: quiet hours that should end
    at 02:30 on that night end at 03:30 instead, never earlier.
    """
    moment = datetime.combine(day, at, tzinfo=zone)
    round_trip = moment.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None):
        return round_trip
    return moment


def quiet_end(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime | None:
    """When the quiet period that ``moment`` falls in ends, or None outside quiet hours.

    The period runs each day from ``start`` (included) to ``end`` (excluded) on the
    zone's wall clock; ``start`` after ``end`` means it runs over midnight (22:00–07:00).
    ``start == end`` is no period (``Channel.clean`` refuses it).
    """
    if start == end:
        return None
    local = moment.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        if start <= clock < end:
            return _local_moment(today, end, zone)
        return None
    if clock >= start:
        return _local_moment(today + timedelta(days=1), end, zone)
    if clock < end:
        return _local_moment(today, end, zone)
    return None
