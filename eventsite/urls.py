from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from eventsite.console.views import favicon

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("eventsite.http.urls")),
    path("api/manage/", include("eventsite.http.manage.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# API paths that match no route answer JSON in their family's format, not Django's HTML page.
handler404 = "eventsite.http.handlers.not_found"
handler400 = "eventsite.http.handlers.bad_request"
