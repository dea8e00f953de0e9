from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.functional import cached_property

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
from events.selectors import events_visible
from events.services import suppression_lift
from eventsite.admin import ReadOnlyAdmin
from eventsite.lib.errors import DomainError


class BoundedCountPaginator(Paginator):
    """Counts at most CAP rows, so the changelist of a huge table never runs a full COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()


class PurgeUserForm(forms.Form):
    user_id_type = forms.ChoiceField(choices=[(kind, kind) for kind in IDENTITY_TYPES])
    user_id = forms.CharField(max_length=512)
    suppress = forms.BooleanField(required=False, help_text="Drop this user's later events at ingest.")


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at", "accepts_unauthenticated_events", "retention_days", "epoch"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "epoch"]
    actions = None
    change_form_template = "admin/events/datasource/change_form.html"

    def has_delete_permission(self, request, obj=None):
        # A datasource goes only once its events are purged and reclaimed (a bare delete of
        # millions of rows would hold one huge transaction and skip the audit) and its tokens
        # are revoked (TokenAdmin allows deleting revoked tokens only).
        if obj is None:
            return False
        return super().has_delete_permission(request, obj) and not Event.objects.filter(datasource=obj).exists()

    def get_urls(self):
        own = [
            path("<int:object_id>/purge-user/", self.admin_site.admin_view(self.purge_user_view),
                 name="events_datasource_purge_user"),
            path("<int:object_id>/purge-dataset/", self.admin_site.admin_view(self.purge_dataset_view),
                 name="events_datasource_purge_dataset"),
        ]
        return own + super().get_urls()

    def _context(self, request, datasource, title, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "original": datasource,
                "datasource": datasource, "title": title, **extra}

    def purge_user_view(self, request, object_id):
        from reports.purges import Actor, purge_user, purge_user_preview

        datasource = get_object_or_404(DataSource, pk=object_id)
        if not self.has_change_permission(request, datasource):
            raise PermissionDenied
        form = PurgeUserForm(request.POST or None)
        context = self._context(request, datasource, f"Purge a user from {datasource.slug}", form=form)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if "confirm" in request.POST:
                    audit = purge_user(datasource=datasource, kind=data["user_id_type"], user_id=data["user_id"],
                                       actor=Actor.for_user(request.user), suppress=data["suppress"])
                    self.log_change(request, datasource, f"Purged a user ({data['user_id_type']}): "
                                                         f"{audit.events_deleted} events, audit #{audit.pk}")
                    self.message_user(request, f"Purged {audit.events_deleted} events of that user"
                                               f"{' and suppressed it' if data['suppress'] else ''}.",
                                      messages.SUCCESS)
                    return redirect("admin:events_datasource_change", datasource.pk)
                context["preview_count"] = purge_user_preview(
                    datasource=datasource, kind=data["user_id_type"], user_id=data["user_id"])
            except DomainError as error:
                form.add_error("user_id", error.message)
        return TemplateResponse(request, "admin/events/datasource/purge_user.html", context)

    def purge_dataset_view(self, request, object_id):
        from reports.purges import Actor, purge_dataset, purge_dataset_preview

        datasource = get_object_or_404(DataSource, pk=object_id)
        if not self.has_change_permission(request, datasource):
            raise PermissionDenied
        if request.method == "POST" and "confirm" in request.POST:
            audit = purge_dataset(datasource=datasource, actor=Actor.for_user(request.user))
            self.log_change(request, datasource, f"Purged the whole datasource, audit #{audit.pk}")
            self.message_user(request, f"Purged datasource {datasource.slug}: its events are gone from every view "
                                       "now; the space is reclaimed in the background.", messages.SUCCESS)
            return redirect("admin:events_datasource_change", datasource.pk)
        context = self._context(request, datasource, f"Purge every event of {datasource.slug}",
                                preview_count=purge_dataset_preview(datasource=datasource))
        return TemplateResponse(request, "admin/events/datasource/purge_dataset.html", context)


@admin.register(CatalogEventType)
class CatalogEventTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "datasource", "product", "context_keys"]
    list_filter = ["datasource", "product"]
    search_fields = ["code", "description"]
    list_select_related = ["datasource"]


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
class SuppressionAdmin(ReadOnlyAdmin):
    list_display = ["datasource", "kind", "short_digest", "created_at", "events_dropped", "lifted_at"]
    list_filter = ["datasource", "kind", ("lifted_at", admin.EmptyFieldListFilter)]
    list_select_related = ["datasource"]
    actions = ["lift_suppressions"]

    @admin.display(description="digest")
    def short_digest(self, obj):
        return f"{obj.digest[:16]}…"

    # Suppressions come from a purge with suppress=1; the lift action is the only change.

    @admin.action(description="Lift selected suppressions (accept the users' events again)", permissions=["view"])
    def lift_suppressions(self, request, queryset):
        lifted = 0
        for suppression in queryset.filter(lifted_at=None):
            suppression_lift(suppression=suppression)
            lifted += 1
        self.message_user(request, f"Lifted {lifted} suppression(s).", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["id", "datasource", "type", "timestamp", "received_at", "event_id", "customer", "product"]
    list_filter = ["datasource"]
    list_select_related = ["datasource"]
    search_fields = ["=event_id", "=type"]
    show_full_result_count = False
    paginator = BoundedCountPaginator
    list_per_page = 50
    actions = None

    def get_queryset(self, request):
        return events_visible()
