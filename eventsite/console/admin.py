"""The DataSource admin with the purge workflows (dry-run count, confirm page, audit entry).

Registered in place of events.admin.DataSourceAdmin: the purge services live in the reports
layer (reports.purges), which the events app must not import.

A confirmation is bound to what the dry run counted: the confirm button posts a signed,
short-lived value (datasource, id type, id digest, count; for a whole datasource its epoch),
never the editable fields. Editing the id and pressing Enter submits the dry-run form again,
and a count that changed since the dry run sends the operator back to it.
"""

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from events.admin import DataSourceAdmin
from events.identities import identity_digest
from events.models import IDENTITY_TYPES, DataSource, EpochReclaim, Event, Suppression
from events.selectors import events_count, events_of_datasource
from eventsite.lib.access import PURGE_DATASOURCE, PURGE_USER
from eventsite.lib.errors import DomainError, InvalidInput
from reports.purges import Actor, purge_dataset, purge_user, purge_user_preview
from tokens.models import Token

# "View site" leads to the console's first page (there is no public site to view).
admin.site.site_url = "/admin/"
admin.site.site_header = "eventsite console"
admin.site.site_title = "eventsite console"

CONFIRM_SECONDS = 10 * 60
USER_SALT = "console.purge-user"
DATASET_SALT = "console.purge-dataset"


class PurgeUserForm(forms.Form):
    user_id_type = forms.ChoiceField(choices=[(kind, kind) for kind in IDENTITY_TYPES])
    user_id = forms.CharField(max_length=512)
    suppress = forms.BooleanField(required=False, help_text="Drop this user's later events at ingest.")


admin.site.unregister(DataSource)


@admin.register(DataSource)
class DataSourceConsoleAdmin(DataSourceAdmin):
    change_form_template = "admin/events/datasource/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # Clients and the purge API name the datasource by its slug: once it has tokens or events a
        # rename would break them silently.
        if obj is not None and (Token.objects.filter(datasource=obj).exists()
                                or Event.objects.filter(datasource=obj).exists()):
            return [*super().get_readonly_fields(request, obj), "slug"]
        return super().get_readonly_fields(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        datasource = self.get_object(request, object_id)
        frozen = datasource is not None and "slug" in self.get_readonly_fields(request, datasource)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "slug_frozen": frozen,
                                                                  **self._purge_rights(request)})

    @staticmethod
    def _purge_rights(request) -> dict:
        return {"can_purge_user": request.user.has_perm(PURGE_USER),
                "can_purge_dataset": request.user.has_perm(PURGE_DATASOURCE)}

    def has_delete_permission(self, request, obj=None):
        # The delete page itself says what still blocks a delete (see delete_view).
        return obj is not None and admin.ModelAdmin.has_delete_permission(self, request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        datasource = get_object_or_404(DataSource, pk=object_id)
        if not self.has_delete_permission(request, datasource):
            raise PermissionDenied
        blockers = _delete_blockers(datasource, can_purge=request.user.has_perm(PURGE_DATASOURCE))
        if blockers:
            context = self._context(request, datasource, f"{datasource.slug} cannot be deleted yet",
                                    blockers=blockers)
            return TemplateResponse(request, "admin/events/datasource/delete_blocked.html", context)
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request):
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Finished reclaims are internal bookkeeping of past purges; they go with the datasource unlisted.
        hidden = f"{capfirst(EpochReclaim._meta.verbose_name)}:"
        model_count.pop(EpochReclaim._meta.verbose_name_plural, None)
        # Suppressions are read-only in their own admin but belong to the datasource: they go with it.
        perms_needed.discard(Suppression._meta.verbose_name)
        # So do its tokens: a delete waits until every one is revoked (_delete_blockers), and an
        # operator who may delete a datasource holds no right to delete tokens one by one.
        perms_needed.discard(Token._meta.verbose_name)
        return _without(to_delete, hidden), model_count, perms_needed, protected

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
        if not request.user.has_perm(PURGE_USER):
            raise PermissionDenied
        datasource = get_object_or_404(DataSource, pk=object_id)
        if request.method == "POST" and "confirmation" in request.POST:
            return self._purge_user_confirmed(request, datasource)
        form = PurgeUserForm(request.POST or None)
        context = self._context(request, datasource, f"Purge a user from {datasource.slug}", form=form)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                digest = _user_digest(data["user_id_type"], data["user_id"])
                count = purge_user_preview(datasource=datasource, kind=data["user_id_type"], user_id=data["user_id"])
            except DomainError as error:
                form.add_error("user_id", error.message)
            else:
                context.update(preview_count=count, user_id_type=data["user_id_type"], suppress=data["suppress"],
                               confirmation=signing.dumps(
                                   {"ds": datasource.pk, "kind": data["user_id_type"], "digest": digest,
                                    "count": count, "suppress": data["suppress"]}, salt=USER_SALT))
        return TemplateResponse(request, "admin/events/datasource/purge_user.html", context)

    def _purge_user_confirmed(self, request, datasource):
        try:
            bound = signing.loads(request.POST["confirmation"], salt=USER_SALT, max_age=CONFIRM_SECONDS)
        except signing.SignatureExpired:
            return self._back_to_dry_run(request, datasource, "The dry run is more than 10 minutes old: count again.")
        except signing.BadSignature:
            return self._back_to_dry_run(request, datasource, "That confirmation is not valid: count again.")
        if bound["ds"] != datasource.pk:
            return self._back_to_dry_run(request, datasource, "That confirmation is for another datasource.")
        kind, user_id = bound["kind"], f"hash1:{bound['digest']}"
        count = purge_user_preview(datasource=datasource, kind=kind, user_id=user_id)
        if count != bound["count"]:
            return self._back_to_dry_run(request, datasource, f"The count changed from {bound['count']} to {count} "
                                                              "since the dry run: enter the id and count again.")
        audit = purge_user(datasource=datasource, kind=kind, user_id=user_id, actor=Actor.for_user(request.user),
                           suppress=bound["suppress"])
        self.log_change(request, datasource, f"Purged a user ({kind}): {audit.events_deleted} events, "
                                             f"audit #{audit.pk}")
        self.message_user(request, format_html(
            'Purged {} event(s) of the user with that {}{} from {}. <a href="{}">Audit #{}</a>',
            audit.events_deleted, kind, " and suppressed their later events" if bound["suppress"] else "",
            datasource.slug, reverse("admin:events_purgeaudit_change", args=[audit.pk]), audit.pk,
        ), messages.SUCCESS)
        return redirect("admin:events_datasource_change", datasource.pk)

    def _back_to_dry_run(self, request, datasource, why: str):
        self.message_user(request, f"Nothing was purged. {why}", messages.WARNING)
        return redirect("admin:events_datasource_purge_user", datasource.pk)

    def purge_dataset_view(self, request, object_id):
        if not request.user.has_perm(PURGE_DATASOURCE):
            raise PermissionDenied
        datasource = get_object_or_404(DataSource, pk=object_id)
        # A POST without a confirmation (an old form, a script) gets the dry run, like a GET.
        if request.method == "POST" and "confirmation" in request.POST:
            try:
                bound = signing.loads(request.POST["confirmation"], salt=DATASET_SALT, max_age=CONFIRM_SECONDS)
            except signing.BadSignature:
                bound = None
            if bound is None or bound["ds"] != datasource.pk or bound["epoch"] != datasource.epoch:
                # A stale page (already purged since, or older than 10 minutes): show the new count.
                self.message_user(request, "Nothing was purged: the confirmation is stale. Check the count again.",
                                  messages.WARNING)
                return redirect("admin:events_datasource_purge_dataset", datasource.pk)
            audit = purge_dataset(datasource=datasource, actor=Actor.for_user(request.user))
            self.log_change(request, datasource, f"Purged the whole datasource, audit #{audit.pk}")
            self.message_user(request, format_html(
                'Purged datasource {}: its {} events are gone from every view now; the space is reclaimed in the '
                'background. <a href="{}">Audit #{}</a>', datasource.slug, bound["count_label"],
                reverse("admin:events_purgeaudit_change", args=[audit.pk]), audit.pk,
            ), messages.SUCCESS)
            return redirect("admin:events_datasource_change", datasource.pk)
        # An estimate past 100,000 rows: the dry run of a 10M-event datasource must not scan it all.
        count = events_count(events=events_of_datasource(datasource=datasource), cap=100_000)
        count_label = str(count.value) if count.exact else str(count).removesuffix(" events")
        confirmation = signing.dumps({"ds": datasource.pk, "epoch": datasource.epoch, "count_label": count_label},
                                     salt=DATASET_SALT)
        context = self._context(request, datasource, f"Purge every event of {datasource.slug}",
                                preview_count=count_label, confirmation=confirmation)
        return TemplateResponse(request, "admin/events/datasource/purge_dataset.html", context)


def _delete_blockers(datasource: DataSource, *, can_purge: bool) -> list[dict]:
    """What must happen before a datasource can go, each with where to do it."""
    blockers = []
    active = Token.objects.filter(datasource=datasource, revoked_at=None).count()
    if active:
        blockers.append({"text": f"{active} token(s) not revoked: clients still use them. Revoke them first.",
                         "link": reverse("admin:tokens_token_changelist")
                         + f"?datasource__id__exact={datasource.pk}&status=active", "label": "Its tokens"})
    visible = events_of_datasource(datasource=datasource).exists()
    if visible:
        blockers.append({"text": "It still has events. Purge them (audited; the rows are reclaimed in the "
                                 "background), then come back." if can_purge else
                                 "It still has events: a privacy officer must purge them first.",
                         "link": reverse("admin:events_datasource_purge_dataset", args=[datasource.pk])
                         if can_purge else "", "label": "Purge all events"})
    elif Event.objects.filter(datasource=datasource).exists():
        blockers.append({"text": "Its purged events are still being reclaimed in the background; try again in a "
                                 "few minutes.", "link": "", "label": ""})
    return blockers


def _without(items: list, prefix: str) -> list:
    kept = []
    for item in items:
        if isinstance(item, list):
            kept.append(_without(item, prefix))
        elif not str(item).startswith(prefix):
            kept.append(item)
    return kept


def _user_digest(kind: str, user_id: str) -> str:
    digest = identity_digest(kind, user_id, where="purge")
    if digest is None:
        raise InvalidInput("user_id is empty", field="user_id")
    return digest
