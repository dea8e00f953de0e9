from django.core.management.base import BaseCommand, CommandError

from events.selectors import datasource_get
from eventsite.lib.errors import DomainError
from tokens.models import Scope
from tokens.services import token_issue


class Command(BaseCommand):
    help = "Issue a token for a datasource. Prints only the raw token on stdout (shown this once)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--scope", required=True, choices=Scope.values)
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--label", default="")

    def handle(self, *args, slug, scope, expires_in_days, label, **options):
        datasource = datasource_get(slug=slug)
        if datasource is None:
            raise CommandError(f"No datasource {slug!r}; create it with: manage.py create_datasource {slug}")
        try:
            issued = token_issue(datasource=datasource, scope=scope, label=label, expires_in_days=expires_in_days)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(issued.raw)
