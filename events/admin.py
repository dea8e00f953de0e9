from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from events.models import DataSource, Event
from events.selectors import events_visible


class BoundedCountPaginator(Paginator):
    """Counts at most CAP rows, so the changelist of a huge table never runs a full COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP + 1].count()


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "created_at", "epoch"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "epoch"]
    actions = None


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
