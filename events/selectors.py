"""Reads of the events layer. Events of purged epochs are never returned from here."""

from datetime import datetime

from django.db.models import F, QuerySet

from events.models import DataSource, Event


def events_visible() -> QuerySet[Event]:
    """Every event not hidden by a purge_dataset (its epoch is its datasource's current one)."""
    return Event.objects.filter(epoch=F("datasource__epoch"))


def events_of_datasource(*, datasource: DataSource) -> QuerySet[Event]:
    return Event.objects.filter(datasource=datasource, epoch=datasource.epoch)


def events_filter(
    *,
    datasource: DataSource | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    events = events_of_datasource(datasource=datasource) if datasource is not None else events_visible()
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
