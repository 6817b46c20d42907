from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from connectivity.checks import probe
from connectivity.config import TargetError, parse_target
from connectivity.models import ConnectivityCheck, LinkState

COLUMNS = ("TARGET", "DNS", "TCP", "HTTP", "LATENCY", "ERROR")


def _step(result: dict, step: str, applies: bool, value: str) -> str:
    if not applies:
        return "-"
    if result["failed_step"] == step:
        return "FAIL"
    return value or "skipped"


def _needs_dns(spec: str) -> bool:
    try:
        return parse_target(spec).needs_dns
    except TargetError:
        return True


def _ms(value: int | None) -> str:
    return "" if value is None else f"{value} ms"


def table_rows(check: ConnectivityCheck) -> list[tuple[str, ...]]:
    rows = []
    for r in check.results:
        http = f"{r['http_status']} {_ms(r['http_ms'])}" if r["http_status"] else ""
        rows.append(
            (
                r["target"],
                _step(r, "dns", _needs_dns(r["target"]), _ms(r["dns_ms"])),
                _step(r, "tcp", r["kind"] in ("http", "tcp"), _ms(r["tcp_ms"])),
                _step(r, "http", r["kind"] == "http", http),
                _ms(r["latency_ms"]),
                r["error"] or ("ok" if r["ok"] else ""),
            )
        )
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in [COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Run one connectivity check now, print each target's DNS, TCP and HTTP result and "
        "the verdict. The check is recorded like a scheduled one (it counts towards opening "
        "or closing an outage) unless --dry-run. Exits non-zero when the link is down."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="only print; store nothing, alert nothing"
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        try:
            check = probe()
        except TargetError as error:
            raise CommandError(f"CONNECTIVITY_TARGETS: {error}") from None
        self.stdout.write(format_table(table_rows(check)))
        self.stdout.write("")
        verdict = "UP" if check.link_up else "DOWN"
        rule = f"down when more than {settings.CONNECTIVITY_DOWN_PERCENT} % fail"
        self.stdout.write(
            f"Link {verdict}: {check.targets_failed} of {check.targets_total} targets failed "
            f"({rule}); took {check.duration_ms} ms."
        )
        record = not dry_run and settings.CONNECTIVITY_ENABLED
        if record:
            event = LinkState.record_check(check, timezone.now())
            state = LinkState.load()
            note = {"opened": "an outage was opened", "closed": "the outage was closed"}
            if event:
                self.stdout.write(f"Recorded: {note[event]}.")
            elif state.open_outage_id:
                self.stdout.write(f"Recorded; an outage is open since {state.open_outage}.")
            else:
                self.stdout.write("Recorded.")
        else:
            why = "--dry-run" if dry_run else "CONNECTIVITY_ENABLED is off"
            self.stdout.write(f"Not recorded ({why}).")
        if not check.link_up:
            raise CommandError("the link is down")
