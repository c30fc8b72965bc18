from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runs.retention import DEFAULT_BATCH_SIZE, prune_runs

NO_WINDOW = (
    "No retention window: set RUN_RETENTION_DAYS or pass --older-than DAYS "
    "(e.g. prune_runs --older-than 90 --dry-run). Nothing was deleted."
)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(text) from None
    if value < 1:
        raise ValueError(text)
    return value


positive.__name__ = "whole number of 1 or more"  # argparse names the type in its error


class Command(BaseCommand):
    help = "Delete finished runs older than the retention window, with their steps and tool calls, in short batches."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=positive,
            metavar="DAYS",
            help="Runs that finished more than DAYS days ago (default: RUN_RETENTION_DAYS).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print what would be deleted; delete nothing.")
        parser.add_argument("--batch-size", type=positive, default=DEFAULT_BATCH_SIZE, help="Runs per transaction.")

    def handle(self, *, older_than, dry_run, batch_size, **options):
        days = older_than or settings.RUN_RETENTION_DAYS
        if days is None:
            raise CommandError(NO_WINDOW)
        report = prune_runs(older_than=timedelta(days=days), dry_run=dry_run, batch_size=batch_size)
        self.stdout.write(report.summary())
