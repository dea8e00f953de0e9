"""Factories for tests: plain functions that call the real services."""

from django.contrib.auth.models import Group, User

from events.models import DataSource
from events.services import datasource_get_or_create
from eventsite.console.roles import roles_sync
from tokens.services import IssuedToken, token_issue


def make_datasource(*, slug: str = "web", name: str = "") -> DataSource:
    datasource, _ = datasource_get_or_create(slug=slug, name=name)
    return datasource


def make_token(*, datasource: DataSource, scope: str = "ingest", **kwargs) -> IssuedToken:
    return token_issue(datasource=datasource, scope=scope, **kwargs)


def make_staff(username: str, *roles: str, password: str = "long-enough-pass-1", superuser: bool = False) -> User:
    """An active staff user in the given role groups (eventsite.lib.access: OPERATORS, ...), or a superuser."""
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", password)
    user = User.objects.create_user(username, password=password, is_staff=True)
    if Group.objects.filter(name__in=roles).count() < len(set(roles)):
        roles_sync()  # a transactional test's flush removed the groups the data migration made
    user.groups.add(*Group.objects.filter(name__in=roles))
    assert user.groups.count() == len(roles), f"unknown role among {roles}"
    return user
