"""Count the events that arrived since the last rollup now, as the scheduler does every 30 s."""

from django.core.management.base import BaseCommand

from eventsite.console.rollup import events_rollup


class Command(BaseCommand):
    help = "Count new events for the console's overview now (the beat task console-rollup-events does it every 30 s)."

    def handle(self, *args, **options):
        result = events_rollup()
        self.stdout.write(f"settled up to event id {result.settled_id}: {result.settled_events} events settled, "
                          f"{result.tail_events} newer ones counted provisionally")
