from django.urls import path

from reports.api import views

urlpatterns = [
    path("reports", views.create_report, name="report-create"),
    path("reports/<str:source>/availability", views.report_availability, name="report-availability"),
    path("reports/<str:source>", views.report_link, name="report-link"),
    path("exports/<str:signed>", views.report_download, name="report-download"),
]
