"""Factories for tests: plain functions that call the real services."""

from events.models import DataSource
from events.services import datasource_get_or_create
from tokens.services import IssuedToken, token_issue


def make_datasource(*, slug: str = "web", name: str = "") -> DataSource:
    datasource, _ = datasource_get_or_create(slug=slug, name=name)
    return datasource


def make_token(*, datasource: DataSource, scope: str = "ingest", **kwargs) -> IssuedToken:
    return token_issue(datasource=datasource, scope=scope, **kwargs)
