"""The staff roles (issue 15): groups with the permissions eventsite/lib/access.py lists."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from eventsite.console.roles import roles_sync

    roles_sync(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0002_worker_seen"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("events", "0007_permissions"),
        ("tokens", "0002_permissions"),
        ("reports", "0006_permissions"),
        # The Privacy officers role grants audit.view_staffaction.
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
