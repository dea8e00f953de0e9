from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from eventsite.lib.access import ROLES, VIEW_EVENT_PAYLOAD

pytestmark = pytest.mark.django_db


def _names(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_the_migration_creates_each_role_with_exactly_its_permissions():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for name, permissions in ROLES.items():
        assert _names(Group.objects.get(name=name)) == set(permissions)


def test_sync_roles_puts_back_a_removed_role_and_strips_a_granted_extra():
    Group.objects.get(name="Operators").delete()
    viewers = Group.objects.get(name="Viewers")
    viewers.permissions.add(Permission.objects.get(codename="view_event_payload"))

    call_command("sync_roles", stdout=StringIO())

    assert _names(Group.objects.get(name="Operators")) == set(ROLES["Operators"])
    assert VIEW_EVENT_PAYLOAD not in _names(Group.objects.get(name="Viewers"))
