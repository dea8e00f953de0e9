"""Staff-only management API for datasources and events (DRF viewsets)."""

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from events.models import DataSource, Event
from events.selectors import datasource_get, events_filter
from events.services import datasource_delete


class DataSourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = DataSource
        fields = ["id", "slug", "name", "created_at"]
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


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("datasource", str, description="A datasource slug (unknown: an empty page)."),
    OpenApiParameter("type", str),
    OpenApiParameter("since", str, description="ISO 8601 date-time."),
    OpenApiParameter("until", str, description="ISO 8601 date-time."),
]))
class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Events, newest first. Filters: ?datasource=SLUG&type=T&since=ISO&until=ISO."""

    serializer_class = EventSerializer
    pagination_class = EventCursorPagination

    def get_queryset(self):
        params = self.request.query_params
        for name in ("datasource", "type", "since", "until"):
            # PostgreSQL refuses NUL in a query (it was a 500; found by fuzzing).
            if "\x00" in params.get(name, ""):
                raise ValidationError({name: "NUL characters are not allowed."})
        datasource = None
        if params.get("datasource"):
            datasource = datasource_get(slug=params["datasource"])
            if datasource is None:
                return Event.objects.none()
        return events_filter(
            datasource=datasource,
            type=params.get("type") or None,
            since=self._time_param("since"),
            until=self._time_param("until"),
        ).select_related("datasource")

    def _time_param(self, name: str):
        raw = self.request.query_params.get(name)
        if not raw:
            return None
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError({name: f"{raw!r} is not an ISO 8601 date-time"})
        return parsed
