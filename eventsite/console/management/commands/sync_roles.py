from django.core.management.base import BaseCommand

from eventsite.console.roles import roles_sync


class Command(BaseCommand):
    help = "Create the staff roles (Operators, Privacy officers, Report staff, Viewers), or reset their permissions."

    def handle(self, *args, **options):
        for name, count in roles_sync().items():
            self.stdout.write(f"{name}: {count} permissions")
