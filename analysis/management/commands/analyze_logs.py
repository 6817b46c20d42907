from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.choices import Trigger
from analysis.models import LogSource
from analysis.runner import run_source


class Command(BaseCommand):
    help = (
        "Collect and analyse the new log lines of one host now and print the findings. "
        "--dry-run stores nothing (no run, findings or cursor) and sends no alert."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("host_id")
        parser.add_argument(
            "--dry-run", action="store_true", help="analyse, but store and send nothing"
        )

    def handle(self, *args, host_id: str, dry_run: bool, **options) -> None:
        try:
            source = LogSource.objects.select_related("host").get(host__host_id=host_id)
        except LogSource.DoesNotExist:
            raise CommandError(
                f"{host_id}: no such host, or it has no log_analysis_config"
            ) from None
        if not source.enabled:
            self.stderr.write(f"Note: log analysis of {host_id} is disabled; running it anyway.")
        outcome = run_source(source, Trigger.MANUAL, dry_run=dry_run)
        if outcome is None:
            raise CommandError(f"{host_id}: another analysis of this log is running; try later")
        run = outcome.run
        self.stdout.write(f"Source: {run.target}")
        self.stdout.write(
            f"Read {run.lines_read} new line(s), {run.bytes_read:,} bytes; analysed by "
            f"{run.analyzers or 'nothing'}"
            + (
                f" ({run.model}, {run.input_tokens}+{run.output_tokens} tokens)"
                if run.model
                else ""
            )
        )
        for note in run.notes:
            self.stdout.write(f"Note: {note}")
        if outcome.issues:
            self.stdout.write(f"{len(outcome.issues)} finding(s):")
        else:
            self.stdout.write("No findings.")
        for issue in outcome.issues:
            self.stdout.write(
                f"- [{issue.severity}] {issue.category}: {issue.title} "
                f"(by {'+'.join(issue.analyzers)})"
            )
            if issue.recommended_action:
                self.stdout.write(f"    action: {issue.recommended_action}")
            for line in issue.evidence[:3]:
                self.stdout.write(f"    | {line}")
        if dry_run:
            self.stdout.write("Dry run: nothing was stored or sent.")
        else:
            self.stdout.write(
                f"Run {run.pk}: {run.status}; {outcome.alerts} alert(s) due, sent by the "
                "monitor loop."
            )
        if run.error:
            raise CommandError(f"The run failed ({run.error_stage}): {run.error}")
