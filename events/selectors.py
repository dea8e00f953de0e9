"""Reads of the events layer. Events of purged epochs, and events past their datasource's
retention (not yet deleted by the sweep), are never returned from here."""

import json
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import Error as DatabaseFailure
from django.db import connection
from django.db.models import DateTimeField, F, Func, Q, QuerySet
from django.utils import timezone

from events.identities import identity_digest
from events.models import IDENTITY_TYPES, DataSource, Event
from eventsite.lib import verified
from eventsite.lib.dberrors import database_unavailable


class RetentionCutoff(Func):
    """now - <days> days, computed by the database: the cut-off of each event's datasource, so
    building a queryset needs no query (and the export's COPY takes it along in its SQL)."""

    output_field = DateTimeField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "(STATEMENT_TIMESTAMP() - make_interval(days => %(expressions)s))"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text in UTC; datetime() matches.
        return self.as_sql(compiler, connection, template="datetime('now', '-' || %(expressions)s || ' days')", **extra)


def _within_retention() -> Q:
    days = "datasource__retention_days"
    return Q(**{f"{days}__isnull": True}) | Q(timestamp__gte=RetentionCutoff(F(days)))


def events_visible() -> QuerySet[Event]:
    """Every event not hidden by a purge_dataset (its epoch is its datasource's current one)
    nor past its datasource's retention. Reports, the admin and the API read through here."""
    return Event.objects.filter(_within_retention(), epoch=F("datasource__epoch"))


def events_of_datasource(*, datasource: DataSource) -> QuerySet[Event]:
    return Event.objects.filter(datasource=datasource, epoch=datasource.epoch)


def events_filter(
    *,
    datasource: DataSource | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    if datasource is not None:
        events = events_of_datasource(datasource=datasource)
        cutoff = datasource.retention_cutoff(timezone.now())
        if cutoff is not None:
            events = events.filter(timestamp__gte=cutoff)
    else:
        events = events_visible()
    if type:
        events = events.filter(type=type)
    if since is not None:
        events = events.filter(timestamp__gte=since)
    if until is not None:
        events = events.filter(timestamp__lt=until)
    return events


def datasource_get(*, slug: str) -> DataSource | None:
    return DataSource.objects.filter(slug=slug).first()


# (monotonic time of the last successful read, the datasource then found): this process's memory
# of the open Barchart datasource, for database outages; shared with the host's other processes
# through eventsite.lib.verified.
_open_datasource: tuple[float, DataSource | None] | None = None


def datasource_accepting_unauthenticated() -> DataSource | None:
    """The one datasource that takes unauthenticated Barchart posts, or None. While the database
    is unreachable: the one this host read within TOKEN_OUTAGE_TRUST_SECONDS (so its events can
    be spooled), else the database error stands (503)."""
    global _open_datasource
    try:
        datasource = DataSource.objects.filter(accepts_unauthenticated_events=True).first()
    except DatabaseFailure as exc:
        within = settings.TOKEN_OUTAGE_TRUST_SECONDS
        known = _open_datasource
        if database_unavailable(exc):
            if known is not None and known[1] is not None and time.monotonic() - known[0] <= within:
                return known[1]
            remembered = verified.recall("open-datasource", "", within=within)
            if remembered is not None:
                return remembered
        raise
    previous = _open_datasource
    _open_datasource = (time.monotonic(), datasource)
    if previous is None or time.monotonic() - previous[0] > 60 or previous[1] != datasource:
        if datasource is None:
            verified.forget("open-datasource", "")
        else:
            verified.remember("open-datasource", "", datasource)
    return datasource


def events_customer_product_pairs(*, datasource: DataSource, epoch: int) -> set[tuple[str, str]]:
    """The (customer, product) pairs of one epoch's events: the reports that may contain them."""
    events = Event.objects.filter(datasource=datasource, epoch=epoch, customer__isnull=False)
    return set(events.values_list("customer", "product").distinct())


@dataclass(frozen=True, slots=True)
class EventCount:
    """How many events a list holds: exact, or the planner's estimate when counting would be slow."""

    value: int
    exact: bool
    # Not exact: the planner's estimate (PostgreSQL), or only a lower bound (SQLite: "more than value").
    estimated: bool = False

    def __str__(self) -> str:
        if self.exact:
            return f"{self.value:,} event{'' if self.value == 1 else 's'}"
        if self.estimated:
            return f"about {self.value:,} events (estimate)"
        return f"more than {self.value:,} events"


def events_count(*, events: QuerySet[Event], cap: int = 10_000) -> EventCount:
    """Exact up to `cap` rows (a bounded COUNT); past that PostgreSQL's planner estimate of the same
    query, or on SQLite "more than cap". Never a full COUNT(*) of a 10M-row table."""
    bounded = events.order_by()[: cap + 1].count()
    if bounded <= cap:
        return EventCount(value=bounded, exact=True)
    if connection.vendor == "postgresql":
        sql, params = events.order_by().values("id").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return EventCount(value=max(int(plan[0]["Plan"]["Plan Rows"]), cap + 1), exact=False, estimated=True)
    return EventCount(value=cap, exact=False)


SEARCH_KINDS = ("event", *IDENTITY_TYPES, "type")


def events_search(*, events: QuerySet[Event], kind: str, value: str) -> QuerySet[Event]:
    """Events matching a console search.

    kind "event": the exact event_id or type; "type": a type prefix; an identity kind: the value
    normalised and hashed exactly as ingest stores it, matched per datasource so that the
    (datasource, user_<kind>) index serves it. Raises InvalidInput for a value ingest would refuse.
    """
    value = value.strip()
    if kind == "event":
        return events.filter(Q(event_id=value) | Q(type=value))
    if kind == "type":
        return events.filter(type__startswith=value)
    digest = identity_digest(kind, value, where="search")
    if digest is None:
        return events.none()
    # Naming the datasources lets PostgreSQL probe the (datasource, user_<kind>) index once per datasource.
    datasource_ids = list(DataSource.objects.values_list("id", flat=True))
    return events.filter(datasource_id__in=datasource_ids, **{f"user_{kind}": digest})
