"""The staff-only management REST API: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from events.api.manage import DataSourceViewSet, EventViewSet
from reports.api.manage import ReportJobViewSet
from tokens.api import TokenViewSet

router = DefaultRouter()
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("tokens", TokenViewSet, basename="token")
router.register("events", EventViewSet, basename="event")
router.register("reports", ReportJobViewSet, basename="report")

urlpatterns = router.urls
