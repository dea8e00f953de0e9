"""The figures of the console's first page, read from the rollup tables (never from events_event).

overview_figures() costs a handful of small queries whatever the number of events: the hourly
rollup (at most 192 rows per datasource), the last two hours of minutes, the rejection counts
of the last 24 hours, and the token and suppression counts.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import mark_safe

from events.models import DataSource, Suppression
from eventsite.console.models import EventHour, EventMinute, RejectionHour, RollupState
from eventsite.console.rejections import REASONS

CHART_HOURS = 7 * 24


@dataclass
class DatasourceFigures:
    datasource: DataSource
    last_hour: int = 0
    today: int = 0
    seven_days: int = 0
    last_event_at: datetime | None = None
    rejected: dict[int, int] = field(default_factory=dict)  # status -> count, REASONS plus 0 for "other"
    active_tokens: int = 0
    suppressions: int = 0
    hourly: list[int] = field(default_factory=lambda: [0] * CHART_HOURS)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def rejected_cells(self) -> list[int]:
        return [self.rejected.get(status, 0) for status in (*REASONS, 0)]

    @property
    def sparkline(self) -> str:
        return sparkline_svg(values=self.hourly)


@dataclass
class Overview:
    now: datetime
    figures_at: datetime | None  # when the rollup last ran: the figures are as fresh as that
    chart_start: datetime
    datasources: list[DatasourceFigures]
    unattributed_rejected: dict[int, int]  # requests whose datasource is unknown (e.g. a wrong token)
    hourly_total: list[int]
    reasons: tuple[int, ...] = REASONS

    @property
    def age_seconds(self) -> int | None:
        return None if self.figures_at is None else max(0, int((self.now - self.figures_at).total_seconds()))

    @property
    def unattributed_cells(self) -> list[int]:
        return [self.unattributed_rejected.get(status, 0) for status in (*REASONS, 0)]


def _reason(status: int) -> int:
    return status if status in REASONS else 0


def overview_figures(*, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    chart_start = this_hour - timedelta(hours=CHART_HOURS - 1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour_ago = now - timedelta(hours=1)
    week_ago = now - timedelta(days=7)

    datasources = list(
        DataSource.objects.annotate(
            active_tokens=Count("tokens", filter=Q(tokens__revoked_at=None) & (
                Q(tokens__expires_at=None) | Q(tokens__expires_at__gt=now)), distinct=True),
        ).order_by("slug")
    )
    suppressions = dict(
        Suppression.objects.filter(lifted_at=None).values_list("datasource_id").annotate(n=Count("pk"))
    )
    by_id = {
        ds.pk: DatasourceFigures(datasource=ds, active_tokens=ds.active_tokens, suppressions=suppressions.get(ds.pk, 0))
        for ds in datasources
    }

    def add(datasource_id: int, start: datetime, events: int, last: datetime, *, minute: bool) -> None:
        figures = by_id.get(datasource_id)
        if figures is None:
            return
        if minute:
            if start >= hour_ago.replace(second=0, microsecond=0):
                figures.last_hour += events
        else:
            if start >= today:
                figures.today += events
            if start >= week_ago.replace(minute=0, second=0, microsecond=0):
                figures.seven_days += events
            if start >= chart_start:
                figures.hourly[int((start - chart_start).total_seconds() // 3600)] += events
        if figures.last_event_at is None or last > figures.last_event_at:
            figures.last_event_at = last

    for row in EventHour.objects.filter(hour__gte=week_ago - timedelta(hours=1)).values_list(
        "datasource_id", "hour", "events", "last_received_at"
    ):
        add(*row, minute=False)
    for row in EventMinute.objects.filter(minute__gte=hour_ago - timedelta(minutes=1)).values_list(
        "datasource_id", "minute", "events", "last_received_at"
    ):
        add(*row, minute=True)
    state = RollupState.objects.filter(pk=1).first()
    for item in state.tail if state else []:
        minute, last = parse_datetime(item["minute"]), parse_datetime(item["last_received_at"])
        add(item["datasource_id"], minute, item["events"], last, minute=True)
        add(item["datasource_id"], minute.replace(minute=0), item["events"], last, minute=False)

    slugs = {figures.datasource.slug: figures for figures in by_id.values()}
    unattributed: dict[int, int] = defaultdict(int)
    rejections = (
        RejectionHour.objects.filter(hour__gte=this_hour - timedelta(hours=23))
        .values_list("datasource_slug", "status").annotate(n=Sum("count"))
    )
    for slug, status, count in rejections:
        target = slugs[slug].rejected if slug in slugs else unattributed
        target[_reason(status)] = target.get(_reason(status), 0) + count

    ordered = list(by_id.values())
    return Overview(
        now=now,
        figures_at=state.ran_at if state else None,
        chart_start=chart_start,
        datasources=ordered,
        unattributed_rejected=dict(unattributed),
        hourly_total=[sum(f.hourly[i] for f in ordered) for i in range(CHART_HOURS)],
    )


def hourly_chart_svg(*, values: list[int], start: datetime, width: int = 840, height: int = 140,
                     label: str = "Events per hour") -> str:
    """A bar chart of hourly counts as inline SVG (no script, no external asset)."""
    top = max(values) if values and max(values) > 0 else 1
    plot_h = height - 20
    bar_w = width / max(len(values), 1)
    parts = []
    for i, value in enumerate(values):
        moment = start + timedelta(hours=i)
        bar_h = value / top * plot_h
        parts.append(
            f'<rect x="{i * bar_w:.1f}" y="{plot_h - bar_h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{bar_h:.1f}">'
            f"<title>{moment:%a %d %b %H}:00 UTC: {value:,} events</title></rect>"
        )
        if moment.hour == 0:
            parts.append(
                f'<line x1="{i * bar_w:.1f}" x2="{i * bar_w:.1f}" y1="0" y2="{plot_h}" class="grid"></line>'
                f'<text x="{i * bar_w + 3:.1f}" y="{height - 5}">{moment:%a %d}</text>'
            )
    # Only numbers and dates are interpolated, and the label is escaped: safe to mark.
    return mark_safe(  # noqa: S308
        f'<svg class="console-chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="none"><title>{escape(label)} (peak {top:,})</title>{"".join(parts)}</svg>'
    )


def sparkline_svg(*, values: list[int], width: int = 168, height: int = 24) -> str:
    top = max(values) if values and max(values) > 0 else 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 1 - v / top * (height - 2):.1f}" for i, v in enumerate(values))
    return mark_safe(  # noqa: S308 - numbers only
        f'<svg class="console-spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-hidden="true"><polyline fill="none" stroke="currentColor" points="{points}"></polyline></svg>'
    )
