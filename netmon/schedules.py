"""The periodic tasks, created or updated idempotently at start-up."""

from dataclasses import dataclass

from django_q.models import Schedule

from connectivity.tasks import check_schedule


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str
    cron: str


PERIODIC_TASKS = [
    # The monitor loop dispatches every second; this is the backstop for when it is not running.
    Periodic("netmon: deliver alerts", "alerts.delivery.dispatch_due", "* * * * *"),
    Periodic("netmon: hourly self-check", "netmon.tasks.self_check", "17 * * * *"),
    Periodic("netmon: daily cleanup", "netmon.tasks.cleanup", "0 3 * * *"),
    # Queues the log sources that are due; each runs at its own analysis_frequency.
    Periodic("netmon: log analysis", "analysis.tasks.queue_due", "* * * * *"),
    Periodic("netmon: log analysis cleanup", "analysis.tasks.cleanup", "30 3 * * *"),
    Periodic("netmon: connectivity", "connectivity.tasks.check_connectivity", check_schedule()),
]


def ensure_schedules() -> None:
    wanted = {task.name for task in PERIODIC_TASKS}
    Schedule.objects.filter(name__startswith="netmon: ").exclude(name__in=wanted).delete()
    for task in PERIODIC_TASKS:
        # Names are not unique in django-q2: processes starting together may both
        # create one. Keep the oldest, so that every later start finds exactly one.
        extra = (
            Schedule.objects.filter(name=task.name).order_by("id").values_list("id", flat=True)[1:]
        )
        Schedule.objects.filter(id__in=list(extra)).delete()
        Schedule.objects.update_or_create(
            name=task.name,
            defaults={"func": task.func, "schedule_type": Schedule.CRON, "cron": task.cron},
        )
