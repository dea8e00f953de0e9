import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from eventsite.lib.errors import DomainError
from reports.services import report_user_upsert


class Command(BaseCommand):
    help = ("Create a report user (HTTP Basic for the Barchart API) bound to a customer. "
            "Re-running rebinds the customer and, if a password is given, changes it.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--customer", required=True)
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        parser.add_argument("--keep-password", action="store_true", help="existing user: leave the password as is")

    def handle(self, *args, username, customer, password_stdin, keep_password, **options):
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        elif not keep_password:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match")
        if password is not None:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        try:
            user, created = report_user_upsert(username=username, customer=customer, password=password)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(f"{'Created' if created else 'Updated'} report user {user.username} for customer {customer}")
