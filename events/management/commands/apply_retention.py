from django.core.management.base import BaseCommand, CommandError

from events.selectors import datasource_get
from events.services import events_apply_retention, events_apply_retention_all


class Command(BaseCommand):
    help = ("Delete events older than their datasource's retention_days, in bounded chunks (the scheduler does "
            "this every RETENTION_SWEEP_SECONDS). Each run is recorded (admin: Retention runs).")

    def add_arguments(self, parser):
        parser.add_argument("--datasource", metavar="SLUG", help="only this datasource")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")

    def handle(self, *args, datasource=None, dry_run=False, **options):
        if datasource:
            found = datasource_get(slug=datasource)
            if found is None:
                raise CommandError(f"No datasource {datasource!r}")
            run = events_apply_retention(datasource=found, dry_run=dry_run, trigger="command")
            if run is None:
                raise CommandError(f"Datasource {datasource!r} has no retention_days: its events are kept forever")
            runs = [run]
        else:
            runs = events_apply_retention_all(dry_run=dry_run, trigger="command")
        verb = "would delete" if dry_run else "deleted"
        for run in runs:
            self.stdout.write(f"{run.datasource_slug}: {verb} {run.events_deleted} events older than "
                              f"{run.cutoff.isoformat()} ({run.retention_days} days)")
        if not runs:
            self.stdout.write("No datasource has a retention (retention_days); nothing to do.")
