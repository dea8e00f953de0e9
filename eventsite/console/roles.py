"""The four staff roles as Django groups, holding exactly the permissions eventsite/lib/access.py
lists. Used by the data migration that creates them and by `manage.py sync_roles`."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

from eventsite.lib.access import ROLES


def roles_sync(*, apps=global_apps) -> dict[str, int]:
    """Create the role groups (or reset them to their documented permissions); returns each
    group's permission count. `apps` is the migration's historical registry when run from one."""
    # Permissions are made by post_migrate, after every migration: make them now so that a
    # fresh database's migration can grant them.
    for app_config in apps.get_app_configs():
        stub = not getattr(app_config, "models_module", None)  # a migration's historical app
        if stub:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if stub:
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    counts = {}
    for name, names in ROLES.items():
        wanted = []
        for full_name in names:
            app_label, codename = full_name.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(wanted)
        counts[name] = len(wanted)
    return counts
