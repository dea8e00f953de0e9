"""The DataSource admin with the purge workflows (dry-run count, confirm page, audit entry).

Registered in place of events.admin.DataSourceAdmin: the purge services live in the reports
layer (reports.purges), which the events app must not import.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from events.admin import DataSourceAdmin
from events.models import IDENTITY_TYPES, DataSource
from eventsite.lib.errors import DomainError
from reports.purges import Actor, purge_dataset, purge_dataset_preview, purge_user, purge_user_preview


class PurgeUserForm(forms.Form):
    user_id_type = forms.ChoiceField(choices=[(kind, kind) for kind in IDENTITY_TYPES])
    user_id = forms.CharField(max_length=512)
    suppress = forms.BooleanField(required=False, help_text="Drop this user's later events at ingest.")


admin.site.unregister(DataSource)


@admin.register(DataSource)
class DataSourceConsoleAdmin(DataSourceAdmin):
    change_form_template = "admin/events/datasource/change_form.html"

    def get_urls(self):
        own = [
            path("<int:object_id>/purge-user/", self.admin_site.admin_view(self.purge_user_view),
                 name="events_datasource_purge_user"),
            path("<int:object_id>/purge-dataset/", self.admin_site.admin_view(self.purge_dataset_view),
                 name="events_datasource_purge_dataset"),
        ]
        return own + super().get_urls()

    def _context(self, request, datasource, title, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "original": datasource,
                "datasource": datasource, "title": title, **extra}

    def purge_user_view(self, request, object_id):
        datasource = get_object_or_404(DataSource, pk=object_id)
        if not self.has_change_permission(request, datasource):
            raise PermissionDenied
        form = PurgeUserForm(request.POST or None)
        context = self._context(request, datasource, f"Purge a user from {datasource.slug}", form=form)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                if "confirm" in request.POST:
                    audit = purge_user(datasource=datasource, kind=data["user_id_type"], user_id=data["user_id"],
                                       actor=Actor.for_user(request.user), suppress=data["suppress"])
                    self.log_change(request, datasource, f"Purged a user ({data['user_id_type']}): "
                                                         f"{audit.events_deleted} events, audit #{audit.pk}")
                    self.message_user(request, f"Purged {audit.events_deleted} events of that user"
                                               f"{' and suppressed it' if data['suppress'] else ''}.",
                                      messages.SUCCESS)
                    return redirect("admin:events_datasource_change", datasource.pk)
                context["preview_count"] = purge_user_preview(
                    datasource=datasource, kind=data["user_id_type"], user_id=data["user_id"])
            except DomainError as error:
                form.add_error("user_id", error.message)
        return TemplateResponse(request, "admin/events/datasource/purge_user.html", context)

    def purge_dataset_view(self, request, object_id):
        datasource = get_object_or_404(DataSource, pk=object_id)
        if not self.has_change_permission(request, datasource):
            raise PermissionDenied
        if request.method == "POST" and "confirm" in request.POST:
            audit = purge_dataset(datasource=datasource, actor=Actor.for_user(request.user))
            self.log_change(request, datasource, f"Purged the whole datasource, audit #{audit.pk}")
            self.message_user(request, f"Purged datasource {datasource.slug}: its events are gone from every view "
                                       "now; the space is reclaimed in the background.", messages.SUCCESS)
            return redirect("admin:events_datasource_change", datasource.pk)
        context = self._context(request, datasource, f"Purge every event of {datasource.slug}",
                                preview_count=purge_dataset_preview(datasource=datasource))
        return TemplateResponse(request, "admin/events/datasource/purge_dataset.html", context)
