from django.core.management.base import BaseCommand, CommandError

from events.services import events_spool_drain
from events.spool import spool_status


class Command(BaseCommand):
    help = (
        "Write the batches of the local spool (taken while the database was away) to the database now. "
        "The web processes do this by themselves every few seconds; this is for operators and scripts. "
        "--status only prints the spool's size and age."
    )

    def add_arguments(self, parser):
        parser.add_argument("--status", action="store_true", help="print the spool's state, drain nothing")

    def handle(self, *args, status, **options):
        if not status:
            result = events_spool_drain()
            if result.busy:
                self.stderr.write("Another drain is running (a web process): try again or watch --status")
            else:
                self.stderr.write(
                    f"Drained {result.batches} batches: {result.events_stored} events stored, "
                    f"{result.events_dropped} dropped (purged, suppressed or superseded), "
                    f"{result.already_drained} already drained, {result.torn} torn records skipped"
                )
            if result.error:
                raise CommandError(f"The drain stopped: {result.error}")
        state = spool_status()
        self.stdout.write(
            f"spool: {state['records']} batches, {state['bytes']} bytes, oldest "
            f"{state['oldest_record_age_seconds']} s, last drain {state['last_drain_at']}"
        )
