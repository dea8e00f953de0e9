"""Reads of the events layer. Events of purged epochs, and events past their datasource's
retention (not yet deleted by the sweep), are never returned from here."""

from datetime import datetime

from django.db.models import DateTimeField, F, Func, Q, QuerySet
from django.utils import timezone

from events.models import DataSource, Event


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


def events_customer_product_pairs(*, datasource: DataSource, epoch: int) -> set[tuple[str, str]]:
    """The (customer, product) pairs of one epoch's events: the reports that may contain them."""
    events = Event.objects.filter(datasource=datasource, epoch=epoch, customer__isnull=False)
    return set(events.values_list("customer", "product").distinct())
