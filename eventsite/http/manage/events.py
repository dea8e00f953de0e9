"""Staff-only management API for datasources and events (DRF viewsets)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.pagination import CursorPagination

from events.models import DataSource, Event
from events.selectors import datasource_get, events_filter
from events.services import datasource_delete
from eventsite.lib.replica import replica_reads


class DataSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataSource
        fields = ["id", "slug", "name", "created_at", "retention_days"]
        read_only_fields = ["id", "created_at"]


class DataSourceViewSet(viewsets.ModelViewSet):
    queryset = DataSource.objects.all()
    serializer_class = DataSourceSerializer
    lookup_field = "slug"

    def perform_destroy(self, instance):
        datasource_delete(datasource=instance)


class EventSerializer(serializers.ModelSerializer):
    datasource = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "datasource", "event_id", "batch", "sequence", "received_at", "timestamp", "type",
                  "customer", "product", "payload"]


class EventCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class EventFilterSerializer(serializers.Serializer):
    """The event list's query filters. DRF's CharField refuses NUL, which PostgreSQL cannot take
    in a query (it was a 500; found by fuzzing)."""

    datasource = serializers.CharField(required=False, help_text="A datasource slug (unknown: an empty page).")
    type = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601 date-time.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601 date-time.")


@extend_schema_view(list=extend_schema(parameters=[EventFilterSerializer]))
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Events, newest first. Filters: ?datasource=SLUG&type=T&since=ISO&until=ISO."""

    serializer_class = EventSerializer
    pagination_class = EventCursorPagination

    def list(self, request, *args, **kwargs):
        # Read from the replica when one is configured and has replayed the latest purge; the
        # primary otherwise, without waiting (eventsite.lib.replica). The page is serialised here.
        with replica_reads(wait=0):
            return super().list(request, *args, **kwargs)

    def get_queryset(self):
        if self.action != "list":
            return events_filter().select_related("datasource")
        # An empty filter (?since=) means no filter, as it always has.
        filters = EventFilterSerializer(data={k: v for k, v in self.request.query_params.items() if v != ""})
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        datasource = None
        if params.get("datasource"):
            datasource = datasource_get(slug=params["datasource"])
            if datasource is None:
                return Event.objects.none()
        return events_filter(
            datasource=datasource, type=params.get("type") or None, since=params.get("since"),
            until=params.get("until"),
        ).select_related("datasource")
