from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from eventsite.lib.errors import DomainError
from tokens.services import personal_token_issue


class Command(BaseCommand):
    help = ("Issue a personal API token (management API, Authorization: Bearer) for a staff user, e.g. the first "
            "superuser before anyone can sign in to the console. Prints only the raw token (shown this once).")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-in-days", type=int, default=None)
        parser.add_argument("--label", default="")

    def handle(self, *args, username, expires_in_days, label, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}")
        try:
            issued = personal_token_issue(user=user, label=label, expires_in_days=expires_in_days)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(issued.raw)
