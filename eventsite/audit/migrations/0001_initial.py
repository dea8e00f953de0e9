"""The audit of staff actions (issue 15). On a database whose roles were created before this app
existed, the Privacy officers group is given the audit page's permission here (a fresh database
gets it from console.0003_roles, which runs later and grants what eventsite/lib/access.py lists)."""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from eventsite.lib.access import PRIVACY_OFFICERS


def grant_privacy_officers(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=PRIVACY_OFFICERS).first()
    if group is None:
        return  # a fresh database: the roles are created afterwards, with this permission
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.get_or_create(app_label="audit", model="staffaction")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="view_staffaction", defaults={"name": "Can view staff action"})
    group.permissions.add(permission)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name='StaffAction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('actor_name', models.CharField(blank=True, max_length=200)),
                ('via', models.CharField(choices=[('console', 'Console'), ('api', 'API'), ('command', 'Command'), ('task', 'Task')], max_length=10)),
                ('action', models.CharField(db_index=True, max_length=40)),
                ('target_type', models.CharField(blank=True, max_length=60)),
                ('target_id', models.CharField(blank=True, max_length=64)),
                ('target_repr', models.CharField(blank=True, max_length=200)),
                ('detail', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('request_id', models.CharField(blank=True, max_length=128)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'staff action',
                'ordering': ['-at', '-id'],
                'default_permissions': ('view',),
            },
        ),
        migrations.RunPython(grant_privacy_officers, migrations.RunPython.noop),
    ]
