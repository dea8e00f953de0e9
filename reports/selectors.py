"""Reads of the reports layer."""

import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from events.models import CatalogCode, CatalogEventType
from eventsite.lib.access import VIEW_ALL_REPORTS
from reports.exceptions import ReportJobNotFound
from reports.models import ReportJob
from reports.principals import ReportPrincipal

SOURCE_PREFIX = "JOB-"


def report_job_get(*, source: str, principal: ReportPrincipal | None = None) -> ReportJob:
    """The job named by a Barchart `source` (`JOB-<uuid>`, or the bare uuid), visible to principal."""
    raw = source[len(SOURCE_PREFIX):] if source.startswith(SOURCE_PREFIX) else source
    try:
        job_id = uuid.UUID(raw)
    except ValueError:
        raise ReportJobNotFound(f"No report job {source!r}") from None
    job = ReportJob.objects.filter(pk=job_id).first()
    # A job of another customer is reported as missing: its existence is not the caller's business.
    if job is None or (principal is not None and principal.customer not in (None, job.customer)):
        raise ReportJobNotFound(f"No report job {source!r}")
    return job


def report_jobs_for_staff(*, user: AbstractBaseUser) -> QuerySet[ReportJob]:
    """The jobs a staff user sees in the console and the management API: every job with
    VIEW_ALL_REPORTS, otherwise the ones they started."""
    jobs = ReportJob.objects.all()
    return jobs if user.has_perm(VIEW_ALL_REPORTS) else jobs.filter(requested_by=user.pk)


def report_status(job: ReportJob) -> dict:
    """The ReportStatus object, keys in the order the Barchart client's parser requires,
    and absent rather than null for optional fields."""
    report_filter = {"customer": job.customer, "product": job.product}
    if job.types is not None:
        report_filter["types"] = list(job.types)
    if job.start_ms is not None:
        report_filter["start"] = job.start_ms
    if job.end_ms is not None:
        report_filter["end"] = job.end_ms
    timing = {"day": job.created_at.date().isoformat(), "start": int(job.created_at.timestamp() * 1000)}
    if job.finished_at is not None:
        timing["end"] = int(job.finished_at.timestamp() * 1000)
    return {
        "job": str(job.id),
        "source": job.source,
        "status": job.status,
        "filter": report_filter,
        "timing": timing,
        # raw only when asked for: the Barchart client knows delimiter alone.
        "output": {"delimiter": job.delimiter, **({"raw": True} if job.raw_values else {})},
    }


def report_context_keys(*, product: str, types: list[str] | None) -> list[str] | None:
    """The context column names from the catalog, when the selected types agree on them."""
    catalog_types = CatalogEventType.objects.filter(product=product)
    if types is not None:
        catalog_types = catalog_types.filter(code__in=types)
    key_lists = {tuple(keys) for keys in catalog_types.values_list("context_keys", flat=True)}
    if len(key_lists) == 1:
        return list(next(iter(key_lists)))
    return None


def report_catalog_width(*, product: str) -> int:
    """The longest context of the product's catalog types (0 without a catalog)."""
    key_lists = CatalogEventType.objects.filter(product=product).values_list("context_keys", flat=True)
    return max((len(keys) for keys in key_lists), default=0)


@dataclass(frozen=True, slots=True)
class CatalogCodes:
    customers: list[str]
    products: list[str]


def report_catalog_codes() -> CatalogCodes | None:
    """The customers and products that datasources' catalogs know, or None when no catalog exists
    (then any code may be reported on). Reports span datasources, so the catalogs are merged."""
    if not CatalogEventType.objects.exists():
        return None
    codes = CatalogCode.objects.values_list("kind", "code").distinct().order_by("code")
    return CatalogCodes(customers=[code for kind, code in codes if kind == CatalogCode.Kind.CUSTOMER],
                        products=[code for kind, code in codes if kind == CatalogCode.Kind.PRODUCT])
