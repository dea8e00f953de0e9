"""catalog_import refuses, with a DomainError naming the field, what the database cannot store (each was a
TypeError, DataError or IntegrityError, a traceback from import_event_types; found by the property tests)."""

import pytest

from events.catalog import catalog_import
from events.models import CatalogCode, CatalogEventType
from eventsite.lib.errors import InvalidInput

pytestmark = pytest.mark.django_db


def document(**changes):
    base = {"customers": [{"code": "TGAM"}], "products": [{"code": "WEB"}],
            "eventTypes": [{"code": "pv", "product": "WEB", "contextKeys": ["userId"],
                            "contextRules": {"TGAM": ["string"]}}]}
    for key, value in changes.items():
        section, _, field = key.partition("__")
        base[section][0][field] = value
    return base


@pytest.mark.parametrize("changes, fragment", [
    ({"eventTypes__product": ["WEB"]}, "product"),
    ({"customers__code": "C" * 65}, "customers[0].code"),
    ({"customers__description": {"a": 1}}, "customers[0].description"),
    ({"products__code": "W\x00B"}, "NUL"),
    ({"eventTypes__contextKeys": ["user\x00Id"]}, "NUL"),
    ({"eventTypes__contextRules": {"\ud800": ["string"]}}, "surrogate"),
])
def test_it_refuses_values_the_database_cannot_store(datasource, changes, fragment):
    with pytest.raises(InvalidInput, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        catalog_import(datasource=datasource, document=document(**changes))
    assert CatalogCode.objects.count() == 0 and CatalogEventType.objects.count() == 0


def test_it_refuses_a_code_listed_twice(datasource):
    twice = document()
    twice["customers"].append({"code": "TGAM"})
    with pytest.raises(InvalidInput, match="appears twice"):
        catalog_import(datasource=datasource, document=twice)
    assert CatalogCode.objects.count() == 0


def test_a_valid_catalog_is_stored(datasource):
    assert catalog_import(datasource=datasource, document=document()) == {"customers": 1, "products": 1,
                                                                         "event_types": 1}
    assert CatalogEventType.objects.get().context_keys == ["userId"]
