import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from events.models import DataSource
from tokens.models import Token

pytestmark = pytest.mark.django_db


def test_create_datasource_creates_once_and_is_idempotent():
    call_command("create_datasource", "shop", "--name", "Shop", stderr=StringIO())
    call_command("create_datasource", "shop", stderr=StringIO())
    assert list(DataSource.objects.values_list("slug", "name")) == [("shop", "Shop")]


@pytest.mark.parametrize("slug", ["", "Not A Slug", "has/slash", "x" * 65])
def test_create_datasource_refuses_a_bad_slug(slug):
    with pytest.raises(CommandError, match="not a valid slug"):
        call_command("create_datasource", slug, stderr=StringIO())
    assert DataSource.objects.count() == 0


def test_issue_token_prints_only_the_raw_token(datasource):
    out = StringIO()
    call_command("issue_token", "web", "--scope", "ingest", stdout=out)
    raw = out.getvalue()
    assert raw.endswith("\n") and raw.count("\n") == 1
    token = Token.objects.get()
    assert token.secret_hash == hashlib.sha256(raw.strip().encode()).hexdigest()


def test_issue_token_sets_the_expiry(datasource):
    call_command("issue_token", "web", "--scope", "purge", "--expires-in-days", "2", stdout=StringIO())
    assert Token.objects.get().expires_at is not None


def test_issue_token_fails_clearly_for_an_unknown_datasource(db):
    with pytest.raises(CommandError, match="create_datasource nope"):
        call_command("issue_token", "nope", "--scope", "ingest", stdout=StringIO())
    assert Token.objects.count() == 0


def test_issue_token_fails_clearly_for_a_bad_expiry(datasource):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("issue_token", "web", "--scope", "ingest", "--expires-in-days", "0", stdout=StringIO())
    assert Token.objects.count() == 0
