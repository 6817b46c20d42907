"""The periodic tasks, created or updated idempotently at start-up."""

from dataclasses import dataclass

from django_q.models import Schedule


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
]


def ensure_schedules() -> None:
    wanted = {task.name for task in PERIODIC_TASKS}
    Schedule.objects.filter(name__startswith="netmon: ").exclude(name__in=wanted).delete()
    for task in PERIODIC_TASKS:
        Schedule.objects.update_or_create(
            name=task.name,
            defaults={"func": task.func, "schedule_type": Schedule.CRON, "cron": task.cron},
        )
