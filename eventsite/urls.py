from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("events.api.urls")),
    path("", include("reports.api.urls")),
    path("api/manage/", include("eventsite.manage_urls")),
]
