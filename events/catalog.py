"""The optional Barchart event-type catalog of a datasource: import, and cached lookups for ingest.

A catalog lists customers, products and event types; each type has an ordered list of
context keys and, per customer, one rule per position:
  "string": a non-empty string; "uuid": a UUID; "stringOptional": may be empty or absent;
  null: any string.
"""

import bisect
import json
import json.scanner
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import Error as DatabaseFailure
from django.db import transaction

from events.models import CatalogCode, CatalogEventType, DataSource
from eventsite.lib import verified
from eventsite.lib.dberrors import database_unavailable
from eventsite.lib.errors import InvalidInput

RULES = ("string", "uuid", "stringOptional", None)
CACHE_SECONDS = 5


@dataclass(frozen=True, slots=True)
class CatalogType:
    product: str
    context_keys: tuple[str, ...]
    context_rules: dict[str, tuple[str | None, ...]]

    @property
    def user_position(self) -> int | None:
        return self.context_keys.index("userId") if "userId" in self.context_keys else None


@dataclass(frozen=True, slots=True)
class Catalog:
    customers: frozenset[str]
    products: frozenset[str]
    types: dict[str, CatalogType] = field(default_factory=dict)


# datasource id -> (expires, catalog, monotonic time it was read from the database)
_cache: dict[int, tuple[float, Catalog | None, float]] = {}
_lock = threading.Lock()


def catalog_for(*, datasource: DataSource) -> Catalog | None:
    """The datasource's catalog, or None without one; cached per process for a few seconds.
    While the database is unreachable, the copy read within TOKEN_OUTAGE_TRUST_SECONDS still
    validates events (they are spooled); without one the database error stands (503)."""
    entry = _cache.get(datasource.pk)
    now = time.monotonic()
    if entry is not None and entry[0] > now:
        return entry[1]
    try:
        catalog = _load(datasource)
    except DatabaseFailure as exc:
        within = settings.TOKEN_OUTAGE_TRUST_SECONDS
        if database_unavailable(exc):
            if entry is not None and now - entry[2] <= within:
                return entry[1]
            # Another web process of this host may have read it (eventsite.lib.verified).
            remembered = verified.recall("catalog", str(datasource.pk), within=within)
            if remembered is not None:
                return remembered[0]
        raise
    with _lock:
        _cache[datasource.pk] = (now + CACHE_SECONDS, catalog, now)
    verified.remember("catalog", str(datasource.pk), (catalog,))  # (None,) too: "no catalog" is known
    return catalog


def catalog_cache_clear() -> None:
    with _lock:
        _cache.clear()


def _load(datasource: DataSource) -> Catalog | None:
    types = {
        row.code: CatalogType(
            product=row.product,
            context_keys=tuple(row.context_keys),
            context_rules={customer: tuple(rules) for customer, rules in (row.context_rules or {}).items()},
        )
        for row in CatalogEventType.objects.filter(datasource=datasource)
    }
    if not types:
        return None
    codes = list(CatalogCode.objects.filter(datasource=datasource).values_list("kind", "code"))
    return Catalog(
        customers=frozenset(code for kind, code in codes if kind == CatalogCode.Kind.CUSTOMER),
        products=frozenset(code for kind, code in codes if kind == CatalogCode.Kind.PRODUCT),
        types=types,
    )


def _text_problem(value, *, where: str, max_length: int, required: bool = True) -> str | None:
    """Why the database cannot store value as text (wrong type, length, NUL, lone surrogate), or None.
    Each was a TypeError or a database error, a traceback from import_event_types (found by the
    property tests)."""
    if not isinstance(value, str) or (required and not value) or len(value) > max_length:
        return f"{where} must be a {'non-empty ' if required else ''}string of at most {max_length} characters"
    if "\x00" in value or not value.isascii() and not _encodable(value):
        return f"{where} holds a NUL or a lone surrogate, which cannot be stored"
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _codes(document: dict, key: str, problems: list[str], line_of, *, max_length: int = 64) -> list[dict]:
    items = document.get(key)
    if not isinstance(items, list):
        problems.append(f"{line_of(document)}{key!r} must be an array of objects with a string 'code'")
        return []
    good, seen = [], set()
    for position, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("code"), str)):
            problems.append(f"{line_of(item)}{key}[{position}] must be an object with a string 'code'")
            continue
        where = f"{line_of(item)}{key}[{position}]"
        bad = [problem for problem in (
            _text_problem(item["code"], where=f"{where}.code", max_length=max_length),
            _text_problem(item.get("description", ""), where=f"{where}.description", max_length=200, required=False),
        ) if problem]
        if not bad and item["code"] in seen:
            bad.append(f"{where}.code {item['code']!r} appears twice")
        problems.extend(bad)
        if not bad:
            seen.add(item["code"])
            good.append(item)
    return good


def _no_lines(_item) -> str:
    return ""


@transaction.atomic
def catalog_import(*, datasource: DataSource, document: dict, line_of=_no_lines) -> dict[str, int]:
    """Replace the datasource's catalog with the document (barchart-event-types.json format).

    All or nothing: every problem is listed (InvalidInput.details, each prefixed with its line
    when line_of knows it) and nothing changes unless the whole document is valid.
    """
    if not isinstance(document, dict):
        raise InvalidInput("The catalog must be a JSON object with customers, products and eventTypes")
    problems: list[str] = []
    customers = _codes(document, "customers", problems, line_of)
    products = _codes(document, "products", problems, line_of)
    types = _codes(document, "eventTypes", problems, line_of, max_length=200)
    product_codes = {p["code"] for p in products}
    rows = []
    for position, item in enumerate(types):
        where = f"{line_of(item)}eventTypes[{position}] ({item['code']})"
        keys = item.get("contextKeys", [])
        rules = item.get("contextRules") or {}
        if not isinstance(item.get("product"), str) or item["product"] not in product_codes:
            problems.append(f"{where}: product {str(item.get('product'))[:64]!r} is not in products")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            problems.append(f"{where}: contextKeys must be an array of strings")
            continue
        problems.extend(filter(None, (_text_problem(key, where=f"{where}: contextKeys", max_length=200)
                                      for key in keys)))
        if not isinstance(rules, dict):
            problems.append(f"{where}: contextRules must be an object of customer -> rules")
            continue
        for customer, customer_rules in rules.items():
            if problem := _text_problem(customer, where=f"{where}: contextRules customer", max_length=64):
                problems.append(problem)
                continue
            if not isinstance(customer_rules, list) or len(customer_rules) != len(keys):
                problems.append(f"{where}: contextRules.{customer} needs one rule per context key")
                continue
            unknown = [rule for rule in customer_rules if rule not in RULES]
            if unknown:
                problems.append(f"{where}: unknown rule {unknown[0]!r}; rules are {RULES}")
        rows.append(CatalogEventType(datasource=datasource, code=item["code"], description=item.get("description", ""),
                                     product=item.get("product"), context_keys=keys, context_rules=rules))
    if problems:
        raise InvalidInput(f"The catalog was not imported: {problems[0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), details=problems)
    CatalogEventType.objects.filter(datasource=datasource).delete()
    CatalogCode.objects.filter(datasource=datasource).delete()
    CatalogEventType.objects.bulk_create(rows)
    CatalogCode.objects.bulk_create(
        [CatalogCode(datasource=datasource, kind=CatalogCode.Kind.CUSTOMER, code=c["code"],
                     description=c.get("description", "")) for c in customers]
        + [CatalogCode(datasource=datasource, kind=CatalogCode.Kind.PRODUCT, code=p["code"],
                       description=p.get("description", "")) for p in products]
    )
    transaction.on_commit(catalog_cache_clear)
    return {"customers": len(customers), "products": len(products), "event_types": len(rows)}


def catalog_import_text(*, datasource: DataSource, text: str) -> dict[str, int]:
    """Import a catalog file's text (the command and the admin upload both call this): JSON errors
    and catalog problems are reported with the line they are on."""
    try:
        document, line_of = _parse_with_lines(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {exc.lineno}: not valid JSON: {exc.msg}",
                           details=[f"line {exc.lineno}: not valid JSON: {exc.msg}"]) from None
    return catalog_import(datasource=datasource, document=document, line_of=line_of)


def _parse_with_lines(text: str):
    """json.loads that also remembers the line each object starts on (for error messages)."""
    newlines = [index for index, char in enumerate(text) if char == "\n"]
    starts: dict[int, int] = {}
    decoder = json.JSONDecoder()
    parse_object = decoder.parse_object

    def remembering(s_and_end, *args, **kwargs):
        obj, end = parse_object(s_and_end, *args, **kwargs)
        starts[id(obj)] = bisect.bisect_left(newlines, s_and_end[1] - 1) + 1
        return obj, end

    decoder.parse_object = remembering
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # the C scanner would bypass the hook
    document = decoder.decode(text)

    def line_of(item) -> str:
        # ids are those of objects the document still holds, so they name the same objects.
        line = starts.get(id(item))
        return f"line {line}: " if line is not None else ""

    return document, line_of
