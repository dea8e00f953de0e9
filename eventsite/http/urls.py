"""Routes of the compatible API families (kSense, Barchart, Jitsu) and the Barchart report endpoints."""

from django.urls import path

from eventsite.http import barchart, jitsu, ksense, purge, reports

urlpatterns = [
    path("api/v2/events/post_event", ksense.post_event, name="ksense-post-event"),
    path("api/v2/insights/purge_user", purge.purge_user_view, name="ksense-purge-user"),
    path("api/v2/insights/purge_dataset", purge.purge_dataset_view, name="ksense-purge-dataset"),
    path("api/v1/event", jitsu.browser_event, name="jitsu-event"),
    path("api/v1/s2s/event", jitsu.server_event, name="jitsu-s2s-event"),
    path("events", barchart.post_events, name="barchart-events"),
    path("service/version", barchart.service_version, name="barchart-service-version"),
    path("system/version", barchart.service_version, name="barchart-system-version"),
    path("service/authenticate", barchart.service_authenticate, name="barchart-service-authenticate"),
    path("reports", reports.create_report, name="report-create"),
    path("reports/<str:source>/availability", reports.report_availability, name="report-availability"),
    path("reports/<str:source>", reports.report_link, name="report-link"),
    path("exports/<str:signed>", reports.report_download, name="report-download"),
]
