import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from eventsite.lib.errors import InvalidInput
from tokens.models import Token
from tokens.services import token_issue, token_revoke

pytestmark = pytest.mark.django_db


def test_it_issues_a_prefixed_token_and_keeps_only_its_hash(datasource):
    issued = token_issue(datasource=datasource, scope="ingest", label="website")
    assert issued.raw.startswith("evs_") and len(issued.raw) > 40
    token = Token.objects.get()
    assert token.secret_hash == hashlib.sha256(issued.raw.encode()).hexdigest()
    assert token.hint == issued.raw[:12]
    assert (token.scope, token.label, token.is_active) == ("ingest", "website", True)


def test_each_token_is_unique(datasource):
    raws = {token_issue(datasource=datasource, scope="ingest").raw for _ in range(5)}
    assert len(raws) == 5


def test_it_sets_an_expiry_from_days(datasource):
    issued = token_issue(datasource=datasource, scope="purge", expires_in_days=3)
    remaining = issued.token.expires_at - timezone.now()
    assert timedelta(days=2, hours=23) < remaining <= timedelta(days=3)


@pytest.mark.parametrize("kwargs", [{"scope": "admin"}, {"scope": "ingest", "expires_in_days": 0},
                                    {"scope": "ingest", "expires_at": "past"}])
def test_it_rejects_bad_issue_requests_and_stores_nothing(datasource, kwargs):
    if kwargs.get("expires_at") == "past":
        kwargs["expires_at"] = timezone.now() - timedelta(minutes=1)
    with pytest.raises(InvalidInput):
        token_issue(datasource=datasource, **kwargs)
    assert Token.objects.count() == 0


def test_revoking_twice_keeps_the_first_time(ingest_token):
    token_revoke(token=ingest_token.token)
    first = Token.objects.get().revoked_at
    token_revoke(token=Token.objects.get())
    assert Token.objects.get().revoked_at == first
    assert Token.objects.get().is_active is False
