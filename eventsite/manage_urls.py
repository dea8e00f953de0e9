"""The staff-only management REST API: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from events.api.manage import DataSourceViewSet, EventViewSet
from tokens.api import TokenViewSet

router = DefaultRouter()
router.register("datasources", DataSourceViewSet, basename="datasource")
router.register("tokens", TokenViewSet, basename="token")
router.register("events", EventViewSet, basename="event")

urlpatterns = router.urls
