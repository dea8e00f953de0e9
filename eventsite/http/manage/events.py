"""Management API for datasources and events (DRF viewsets). Datasources need the model rights, and
CHANGE_RETENTION to set a retention; events need view_event, and VIEW_EVENT_PAYLOAD for payloads."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination

from events.models import DataSource, Event
from events.selectors import datasource_get, events_filter
from events.services import datasource_delete
from eventsite.lib.access import CHANGE_RETENTION, VIEW_EVENT_PAYLOAD
from eventsite.lib.replica import replica_reads


class DataSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataSource
        fields = ["id", "slug", "name", "created_at", "retention_days"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"retention_days": {"help_text": f"Days events are kept; setting it needs {CHANGE_RETENTION}."}}

    def validate_retention_days(self, value):
        # Retention deletes events: only its own right changes it (the same value again is no change).
        current = self.instance.retention_days if self.instance is not None else None
        if value != current and not self.context["request"].user.has_perm(CHANGE_RETENTION):
            raise PermissionDenied(f"Changing the retention needs the permission {CHANGE_RETENTION}.")
        return value


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
        extra_kwargs = {"payload": {"help_text": f"Only for users holding {VIEW_EVENT_PAYLOAD} (it may hold "
                                                 "personal data); absent otherwise.", "required": False}}

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and not request.user.has_perm(VIEW_EVENT_PAYLOAD):
            fields.pop("payload")
        return fields


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

    queryset = Event.objects.none()  # the model whose view permission reads need; get_queryset selects
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
