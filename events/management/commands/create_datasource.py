from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from events.services import datasource_get_or_create


class Command(BaseCommand):
    help = "Create a datasource (the kSense `ds`). Idempotent: an existing slug is left as it is."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        if not slug or slugify(slug) != slug or len(slug) > 64:
            raise CommandError(f"{slug!r} is not a valid slug: use lowercase letters, digits, - and _ (64 at most)")
        datasource, created = datasource_get_or_create(slug=slug, name=name)
        verb = "Created" if created else "Already exists:"
        self.stderr.write(f"{verb} datasource {datasource.slug}")
