from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from events.catalog import catalog_import_text
from events.selectors import datasource_get
from eventsite.lib.errors import DomainError


class Command(BaseCommand):
    help = "Replace a datasource's Barchart event-type catalog with a JSON file (barchart-event-types.json format)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args, slug, file, **options):
        datasource = datasource_get(slug=slug)
        if datasource is None:
            raise CommandError(f"No datasource {slug!r}; create it with: manage.py create_datasource {slug}")
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file} is not UTF-8 text") from None
        try:
            counts = catalog_import_text(datasource=datasource, text=text)
        except DomainError as exc:
            problems = exc.details or [exc.message]
            raise CommandError("\n".join([f"{file} was not imported (nothing changed):", *problems])) from None
        self.stdout.write(f"Imported {counts['customers']} customers, {counts['products']} products and "
                          f"{counts['event_types']} event types into {slug}")
