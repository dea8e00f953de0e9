from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from eventsite.lib.errors import AuthenticationFailed, PermissionDenied
from tests.factories import make_token
from tokens.authentication import token_authenticate
from tokens.cache import token_cache
from tokens.models import Token
from tokens.services import token_revoke

pytestmark = pytest.mark.django_db


def test_it_returns_the_token_with_its_datasource(ingest_token):
    token = token_authenticate(raw=ingest_token.raw, scope="ingest")
    assert token.pk == ingest_token.token.pk
    assert token.datasource.slug == "web"


@pytest.mark.parametrize("raw", [None, "", "evs_unknown", "x" * 500])
def test_it_rejects_missing_unknown_and_oversized_tokens(datasource, raw):
    with pytest.raises(AuthenticationFailed):
        token_authenticate(raw=raw, scope="ingest")


def test_it_rejects_the_wrong_scope_with_permission_denied(purge_token):
    with pytest.raises(PermissionDenied):
        token_authenticate(raw=purge_token.raw, scope="ingest")


def test_a_revoked_token_is_refused_at_once_even_when_cached(ingest_token):
    token_authenticate(raw=ingest_token.raw, scope="ingest")
    token_revoke(token=ingest_token.token)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        token_authenticate(raw=ingest_token.raw, scope="ingest")


def test_a_cached_token_still_expires_on_time(datasource):
    issued = make_token(datasource=datasource, scope="ingest", expires_in_days=1)
    cached = token_authenticate(raw=issued.raw, scope="ingest")
    cached.expires_at = timezone.now() - timedelta(seconds=1)  # the cached object, as time passes
    with pytest.raises(AuthenticationFailed, match="expired"):
        token_authenticate(raw=issued.raw, scope="ingest")


def test_the_cache_spares_the_query_and_can_be_disabled(ingest_token, settings, django_assert_num_queries):
    token_authenticate(raw=ingest_token.raw, scope="ingest")
    with django_assert_num_queries(0):
        token_authenticate(raw=ingest_token.raw, scope="ingest")
    settings.TOKEN_CACHE_SECONDS = 0
    token_cache.clear()
    with django_assert_num_queries(1):
        token_authenticate(raw=ingest_token.raw, scope="ingest")


def test_it_writes_last_used_at_at_most_once_a_minute(ingest_token, settings, django_assert_num_queries):
    settings.TOKEN_CACHE_SECONDS = 0
    token_authenticate(raw=ingest_token.raw, scope="ingest")
    first = Token.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # the lookup only, no UPDATE
        token_authenticate(raw=ingest_token.raw, scope="ingest")
    assert Token.objects.get().last_used_at == first


def test_no_raw_token_is_stored_anywhere_in_the_database(ingest_token, purge_token):
    raws = [ingest_token.raw, purge_token.raw]
    assert_not_in_database(raws)


def assert_not_in_database(raws: list[str]) -> None:
    """Scan every text-like column of every table for the raw values."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            description = connection.introspection.get_table_description(cursor, table)
            quoted = connection.ops.quote_name(table)
            for column in description:
                name = connection.ops.quote_name(column.name)
                cast = f"CAST({name} AS TEXT)"
                for raw in raws:
                    cursor.execute(f"SELECT COUNT(*) FROM {quoted} WHERE {cast} LIKE %s", [f"%{raw}%"])
                    assert cursor.fetchone()[0] == 0, f"raw token found in {table}.{column.name}"
