"""The staff-only management REST API: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from eventsite.http.manage.events import DataSourceViewSet, EventViewSet
from eventsite.http.manage.reports import ReportJobViewSet
from eventsite.http.manage.tokens import TokenViewSet

router = DefaultRouter()
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("tokens", TokenViewSet, basename="token")
router.register("events", EventViewSet, basename="event")
router.register("reports", ReportJobViewSet, basename="report")

urlpatterns = router.urls
