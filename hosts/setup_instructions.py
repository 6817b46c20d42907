"""The client setup shown when a host is registered: download, test, cron and systemd."""

from croniter import croniter

from hosts.choices import ScheduleType
from hosts.models import Host

SCRIPT_PATH = "/usr/local/bin/client-heartbeat.sh"
TOKEN_DIR = "/etc/netmon"
TOKEN_FILE = f"{TOKEN_DIR}/token"  # read by the script when its TOKEN argument is "-"
UNIT = "netmon-heartbeat"
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

# The intervals cron keeps exactly, shortest first, as (seconds, crontab time fields).
CRON_STEPS = [
    (60, "* * * * *"),
    *((m * 60, f"*/{m} * * * *") for m in (2, 3, 4, 5, 6, 10, 12, 15, 20, 30)),
    (3600, "0 * * * *"),
    *((h * 3600, f"0 */{h} * * *") for h in (2, 3, 4, 6, 8, 12)),
    (86400, "0 0 * * *"),
    (7 * 86400, "0 0 * * 0"),
]


def client_setup_text(host: Host, token: str, base_url: str) -> str:
    base = base_url.rstrip("/")
    cron_fields, cron_note = _crontab(host)
    timer_lines, timer_description = _timer(host)
    intro = f"Client setup for {host.host_id} (netmon server {base})"
    if host.schedule_type == ScheduleType.BUSINESS_HOURS:
        intro += (
            f"\n\nnetmon expects heartbeats from this host during business hours "
            f"({host.timezone}) only; the cron line and the timer below send around the clock, "
            "which does no harm."
        )
    sections = [
        intro,
        "1. Download the heartbeat script:\n\n"
        f"curl -fsSO {base}/scripts/client-heartbeat.sh && chmod +x client-heartbeat.sh",
        f"2. Send a test heartbeat:\n\n./client-heartbeat.sh {host.host_id} {token} {base}",
        "3. Send heartbeats from cron. Install the script and keep the token in a file only "
        "root can read (so that it never shows in the process list):\n\n"
        f"sudo install -m 755 client-heartbeat.sh {SCRIPT_PATH}\n"
        f"sudo install -d -m 700 {TOKEN_DIR} && "
        f"printf '%s\\n' {token} | sudo tee {TOKEN_FILE} >/dev/null"
        "\n\nthen add this line to root's crontab (sudo crontab -e):\n\n"
        f"{cron_fields} NETMON_TOKEN_FILE={TOKEN_FILE} {SCRIPT_PATH} {host.host_id} - {base}"
        + (f"\n\nNote: {cron_note}" if cron_note else ""),
        "4. Or, instead of cron, use a systemd timer. Install the script and the token file "
        "as in step 3, write these two files, then enable the timer:",
        f"# /etc/systemd/system/{UNIT}.service\n"
        "[Unit]\n"
        f"Description=netmon heartbeat of {host.host_id}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"Environment=NETMON_TOKEN_FILE={TOKEN_FILE}\n"
        f"ExecStart={SCRIPT_PATH} {host.host_id} - {base}",
        f"# /etc/systemd/system/{UNIT}.timer\n"
        "[Unit]\n"
        f"Description=Send a netmon heartbeat {timer_description}\n\n"
        "[Timer]\n" + "\n".join(timer_lines) + "\nAccuracySec=1s\n\n"
        "[Install]\n"
        "WantedBy=timers.target",
        f"sudo systemctl daemon-reload && sudo systemctl enable --now {UNIT}.timer",
    ]
    return "\n\n".join(sections) + "\n"


def calendar_specs(expression: str, timezone: str) -> list[str]:
    """systemd ``OnCalendar=`` values that fire exactly when the cron expression does."""
    minute, hour, day, month, weekday = croniter(expression).expanded
    time_of_day = f"{_join(hour)}:{_join(minute)}:00 {timezone}"
    by_day = f"*-{_join(month)}-{_join(day)} {time_of_day}"
    if weekday == ["*"]:
        return [by_day]
    days = ",".join(WEEKDAYS[number] for number in sorted({n % 7 for n in weekday}))
    by_weekday = f"{days} *-{_join(month)}-* {time_of_day}"
    # Like cron: with both restricted, either the day of the month or the weekday matches.
    return [by_weekday] if day == ["*"] else [by_day, by_weekday]


def _crontab(host: Host) -> tuple[str, str]:
    """The crontab time fields for the host, and a note when they differ from its schedule."""
    if host.schedule_type == ScheduleType.CUSTOM:
        return host.cron_expression, (
            f"this is the host's cron schedule. netmon reads it in {host.timezone}, cron in "
            "the client's time zone: shift the hours if the two differ."
        )
    frequency = host.frequency_seconds
    seconds, fields = next(
        (step for step in reversed(CRON_STEPS) if step[0] <= frequency), CRON_STEPS[0]
    )
    if frequency < seconds:
        return fields, (
            "cron cannot run more often than once a minute: for a heartbeat every "
            f"{_duration(frequency)} use the systemd timer below."
        )
    if frequency != seconds:
        return fields, (
            f"cron cannot run exactly every {_duration(frequency)}; this line sends every "
            f"{_duration(seconds)}, a little more often than needed, so no heartbeat is late."
        )
    return fields, ""


def _timer(host: Host) -> tuple[list[str], str]:
    """The [Timer] lines for the host, and what they do in words."""
    if host.schedule_type == ScheduleType.CUSTOM:
        specs = calendar_specs(host.cron_expression, host.timezone)
        return [f"OnCalendar={spec}" for spec in specs], (
            f"on the cron schedule {host.cron_expression} ({host.timezone})"
        )
    frequency = host.frequency_seconds
    # Soon after boot, so a restarted host is back up quickly; then every `frequency`.
    return [f"OnBootSec={min(frequency, 60)}s", f"OnUnitActiveSec={frequency}s"], (
        f"every {_duration(frequency)}"
    )


def _join(values: list) -> str:
    return "*" if values == ["*"] else ",".join(f"{value:02d}" for value in values)


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
