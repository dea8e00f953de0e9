from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime

from events.catalog import catalog_import_text
from events.models import (
    IDENTITY_TYPES,
    CatalogCode,
    CatalogEventType,
    DataSource,
    Event,
    PurgeAudit,
    RetentionRun,
    Suppression,
)
from events.selectors import SEARCH_KINDS, events_count, events_search, events_visible
from events.services import suppression_lift
from eventsite.lib.access import CHANGE_RETENTION, LIFT_SUPPRESSION, VIEW_EVENT_PAYLOAD
from eventsite.lib.admin import ActionRightsAdmin, ReadOnlyAdmin
from eventsite.lib.errors import DomainError, InvalidInput
from eventsite.lib.replica import replica_reads


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at", "accepts_unauthenticated_events", "retention_days"]
    search_fields = ["slug", "name"]
    # The epoch is internal bookkeeping of purges: not shown as data.
    fields = ["slug", "name", "accepts_unauthenticated_events", "allowed_origins", "retention_days", "created_at"]
    readonly_fields = ["created_at"]
    actions = None

    def get_readonly_fields(self, request, obj=None):
        # Retention deletes events: its own right, beyond changing a datasource (issue 15).
        if request.user.has_perm(CHANGE_RETENTION):
            return [*super().get_readonly_fields(request, obj)]
        return [*super().get_readonly_fields(request, obj), "retention_days"]

    def has_delete_permission(self, request, obj=None):
        # A datasource goes only once its events are purged and reclaimed (a bare delete of
        # millions of rows would hold one huge transaction and skip the audit) and its tokens
        # are revoked (TokenAdmin allows deleting revoked tokens only).
        if obj is None:
            return False
        return super().has_delete_permission(request, obj) and not Event.objects.filter(datasource=obj).exists()


class CatalogUploadForm(forms.Form):
    datasource = forms.ModelChoiceField(queryset=DataSource.objects.all())
    file = forms.FileField(help_text="barchart-event-types.json format; replaces the datasource's catalog.")


@admin.register(CatalogEventType)
class CatalogEventTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "datasource", "product", "context_keys"]
    list_filter = ["datasource", "product"]
    search_fields = ["code", "description"]
    list_select_related = ["datasource"]
    change_list_template = "admin/events/catalogeventtype/change_list.html"

    def changelist_view(self, request, extra_context=None):
        can_upload = self.has_add_permission(request) and self.has_delete_permission(request)
        return super().changelist_view(request, {**(extra_context or {}), "can_upload": can_upload})

    def get_urls(self):
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="events_catalogeventtype_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        # The same import service as `manage.py import_event_types`: all or nothing, problems by line.
        if not (self.has_add_permission(request) and self.has_delete_permission(request)):
            raise PermissionDenied
        form = CatalogUploadForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            datasource = form.cleaned_data["datasource"]
            try:
                text = form.cleaned_data["file"].read().decode("utf-8")
                counts = catalog_import_text(datasource=datasource, text=text)
            except UnicodeDecodeError:
                problems = ["The file is not UTF-8 text."]
            except DomainError as error:
                problems = error.details or [error.message]
            else:
                self.message_user(request, f"Imported {counts['customers']} customers, {counts['products']} products "
                                           f"and {counts['event_types']} event types into {datasource.slug}.",
                                  messages.SUCCESS)
                return redirect(f"{reverse('admin:events_catalogeventtype_changelist')}"
                                f"?datasource__id__exact={datasource.pk}")
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "problems": problems, "title": "Upload an event-type catalog"}
        return TemplateResponse(request, "admin/events/catalogeventtype/upload.html", context)


@admin.register(CatalogCode)
class CatalogCodeAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "datasource", "description"]
    list_filter = ["datasource", "kind"]
    list_select_related = ["datasource"]


@admin.register(PurgeAudit)
class PurgeAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "datasource_slug", "actor", "user_id_type", "events_deleted", "files_removed",
                    "suppressed", "completed_at"]
    list_filter = ["kind", "datasource_slug"]


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    """Each retention sweep of a datasource (events.services.events_apply_retention)."""

    list_display = ["started_at", "datasource_slug", "retention_days", "cutoff", "events_deleted", "outcome",
                    "dry_run", "trigger", "finished_at"]
    list_filter = ["outcome", "datasource_slug", "dry_run"]
    date_hierarchy = "started_at"


@admin.register(Suppression)
class SuppressionAdmin(ActionRightsAdmin, ReadOnlyAdmin):
    list_display = ["datasource", "kind", "short_digest", "created_at", "events_dropped", "lifted_at"]
    list_filter = ["datasource", "kind", ("lifted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["datasource"]
    actions = ["lift_suppressions"]

    @admin.display(description="digest")
    def short_digest(self, obj):
        return f"{obj.digest[:16]}…"

    # Suppressions come from a purge with suppress=1; the lift action is the only change.

    def has_lift_permission(self, request):
        return request.user.has_perm(LIFT_SUPPRESSION)

    @admin.action(description="Lift selected suppressions (accept the users' events again)", permissions=["lift"])
    def lift_suppressions(self, request, queryset):
        lifted = 0
        for suppression in queryset.filter(lifted_at=None):
            suppression_lift(suppression=suppression)
            lifted += 1
        self.message_user(request, f"Lifted {lifted} suppression(s).", messages.SUCCESS)


class EventChangeList(ChangeList):
    """The Events list at any size: keyset paging by id ("older"/"newer", never a page number that
    a huge table cannot honour), an honest count (exact, or a labelled estimate), and the console's
    own search and filters (EVENT_LIST_PARAMS), which Django's lookups never see."""

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        for name in EVENT_LIST_PARAMS:
            lookup_params.pop(name, None)
        return lookup_params

    def get_queryset(self, request, exclude_parameters=None):
        events = super().get_queryset(request, exclude_parameters)
        get = request.GET
        self.search_error = ""
        try:
            by_user_id = get.get("kind") in IDENTITY_TYPES and get.get("q", "").strip()
            if by_user_id and not request.user.has_perm(VIEW_EVENT_PAYLOAD):
                raise InvalidInput("Searching by user identifiers needs the right to see them "
                                   f"({VIEW_EVENT_PAYLOAD}).")
            if get.get("q", "").strip():
                events = events_search(events=events, kind=get.get("kind", "event"), value=get["q"])
            for name, lookup in (("since", "timestamp__gte"), ("until", "timestamp__lt")):
                if get.get(name):
                    events = events.filter(**{lookup: _utc(get[name], name)})
        except DomainError as error:
            self.search_error = error.message
            events = events.none()
        if get.get("type"):
            value = get["type"]
            events = events.filter(type__startswith=value[:-1]) if value.endswith("*") else events.filter(type=value)
        for name in ("customer", "product"):
            if get.get(name):
                events = events.filter(**{name: get[name]})
        return events

    def get_results(self, request):
        per_page = self.list_per_page
        self.filtered_count = events_count(events=self.queryset)
        before, after = _int_param(request, "before"), _int_param(request, "after")
        if after is not None:
            rows = list(self.queryset.filter(id__gt=after).order_by("id")[: per_page + 1])
            has_newer, has_older = len(rows) > per_page, True
            rows = rows[:per_page][::-1]
        else:
            events = self.queryset.filter(id__lt=before) if before is not None else self.queryset
            rows = list(events.order_by("-id")[: per_page + 1])
            has_newer, has_older = before is not None, len(rows) > per_page
            rows = rows[:per_page]
        self.older_url = self._cursor_url(request, before=rows[-1].pk) if rows and has_older else ""
        self.newer_url = self._cursor_url(request, after=rows[0].pk) if rows and has_newer else ""
        if before is not None and not rows:
            self.newer_url = self._cursor_url(request, after=before - 1)
        self.result_list = rows
        self.result_count = len(rows)
        self.full_result_count = None
        self.show_full_result_count = False
        self.show_admin_actions = False
        self.can_show_all = False
        self.multi_page = False
        self.paginator = self.model_admin.get_paginator(request, self.queryset, per_page)

    def _cursor_url(self, request, **cursor) -> str:
        params = request.GET.copy()
        for name in ("before", "after", "p"):
            params.pop(name, None)
        params.update(cursor)
        return "?" + params.urlencode()


# The Event fields shown only with VIEW_EVENT_PAYLOAD.
PERSONAL_FIELDS = ("payload", *(f"user_{kind}" for kind in IDENTITY_TYPES))

EVENT_LIST_PARAMS = ("q", "kind", "type", "customer", "product", "since", "until", "before", "after")


def _int_param(request, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _utc(value: str, name: str) -> datetime:
    parsed = parse_datetime(value.strip())
    if parsed is None:
        raise InvalidInput(f"{name}: {value[:40]!r} is not a date and time (YYYY-MM-DD HH:MM, UTC)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "datasource", "type", "timestamp", "received_at", "event_id", "customer", "product"]
    list_filter = ["datasource"]
    list_select_related = ["datasource"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # per-datasource counts would scan the whole table
    list_per_page = 50
    actions = None
    change_list_template = "admin/events/event/change_list.html"

    def get_queryset(self, request):
        return events_visible()

    def get_changelist(self, request, **kwargs):
        return EventChangeList

    @staticmethod
    def search_kinds(request) -> tuple[str, ...]:
        # Payloads and user identifiers may hold personal data: without the right, a user id is not
        # even a search key (a hit would confirm that the person sent events).
        if request.user.has_perm(VIEW_EVENT_PAYLOAD):
            return SEARCH_KINDS
        return tuple(kind for kind in SEARCH_KINDS if kind not in IDENTITY_TYPES)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if request.user.has_perm(VIEW_EVENT_PAYLOAD):
            return fields
        return [name for name in fields if name not in PERSONAL_FIELDS]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "search_kinds": self.search_kinds(request),
                         "search_values": {name: request.GET.get(name, "") for name in EVENT_LIST_PARAMS}}
        if request.method != "GET":
            return super().changelist_view(request, extra_context)
        # The list reads the replica when one is configured and has replayed the latest purge
        # (no waiting: a page must not hang on a lagging replica; it reads the primary then).
        with replica_reads(wait=0):
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # the rows are read while rendering: inside the block
        return response
