from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from events.models import CatalogCode, CatalogEventType, DataSource, Event, PurgeAudit, Suppression
from events.selectors import events_visible
from events.services import suppression_lift
from eventsite.lib.admin import ReadOnlyAdmin
from eventsite.lib.replica import replica_reads


class BoundedCountPaginator(Paginator):
    """Counts at most CAP rows, so the changelist of a huge table never runs a full COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at", "accepts_unauthenticated_events", "epoch"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "epoch"]
    actions = None

    def has_delete_permission(self, request, obj=None):
        # A datasource goes only once its events are purged and reclaimed (a bare delete of
        # millions of rows would hold one huge transaction and skip the audit) and its tokens
        # are revoked (TokenAdmin allows deleting revoked tokens only).
        if obj is None:
            return False
        return super().has_delete_permission(request, obj) and not Event.objects.filter(datasource=obj).exists()


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

    def changelist_view(self, request, extra_context=None):
        if request.method != "GET":
            return super().changelist_view(request, extra_context)
        # The list reads the replica when one is configured and has replayed the latest purge
        # (no waiting: a page must not hang on a lagging replica; it reads the primary then).
        with replica_reads(wait=0):
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()  # the rows are read while rendering: inside the block
        return response
