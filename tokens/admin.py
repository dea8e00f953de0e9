from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from eventsite.lib.access import ISSUE_TOKEN, REVOKE_TOKEN
from eventsite.lib.admin import ActionRightsAdmin, CredentialStatusFilter, issued_keep, issued_pop
from tokens.models import Token
from tokens.services import token_issue, token_revoke

# Session key of raw tokens issued but not yet displayed: {token pk: raw}. The issued page pops its
# entry, so the raw value is rendered exactly once and no longer kept anywhere after that.
ISSUED_SESSION_KEY = "tokens.issued"


class TokenIssueForm(forms.ModelForm):
    class Meta:
        model = Token
        fields = ["datasource", "scope", "label", "expires_at"]


@admin.register(Token)
class TokenAdmin(ActionRightsAdmin):
    """Tokens are issued (ISSUE_TOKEN: the raw value is shown once) and revoked (REVOKE_TOKEN), never
    edited beyond their label (change_token) nor deleted unless revoked (delete_token)."""

    list_display = ["hint", "datasource", "scope", "label", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [CredentialStatusFilter, "scope", "datasource"]
    list_select_related = ["datasource"]
    search_fields = ["hint", "label", "datasource__slug"]
    actions = ["revoke_tokens"]
    change_form_template = "admin/tokens/token/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TokenIssueForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["datasource", "scope", "hint", "created_at", "expires_at", "revoked_at", "last_used_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["datasource", "scope", "label", "expires_at"]
        return ["datasource", "scope", "label", "hint", "created_at", "expires_at", "revoked_at", "last_used_at"]

    def has_add_permission(self, request):
        # Adding a token is issuing one: the right to hand out a credential, not add_token.
        return request.user.has_perm(ISSUE_TOKEN)

    def has_revoke_permission(self, request, obj=None):
        return request.user.has_perm(REVOKE_TOKEN)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_revoke": self.has_revoke_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        # Never a bulk delete; a revoked token may go (with its datasource, for instance).
        return obj is not None and obj.revoked_at is not None and super().has_delete_permission(request, obj)

    def get_urls(self):
        return [
            path("<int:object_id>/issued/", self.admin_site.admin_view(self.issued_view), name="tokens_token_issued"),
            path("<int:object_id>/revoke/", self.admin_site.admin_view(self.revoke_view), name="tokens_token_revoke"),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["label"])
            return
        issued = token_issue(
            datasource=form.cleaned_data["datasource"],
            scope=form.cleaned_data["scope"],
            label=form.cleaned_data.get("label", ""),
            expires_at=form.cleaned_data.get("expires_at"),
        )
        # The history then names the token by its hint: "evs_AbCd… (ingest, web)".
        issued_keep(request=request, obj=obj, issued_row=issued.token, raw=issued.raw, session_key=ISSUED_SESSION_KEY)

    def response_add(self, request, obj, post_url_continue=None):
        # Post/redirect/get: reloading the page after an issue must never post (and issue) again.
        return redirect("admin:tokens_token_issued", obj.pk)

    def issued_view(self, request, object_id):
        if not self.has_add_permission(request):
            raise PermissionDenied
        token = get_object_or_404(Token.objects.select_related("datasource"), pk=object_id)
        raw = issued_pop(request=request, pk=token.pk, session_key=ISSUED_SESSION_KEY)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": token,
            "token": token,
            "raw_token": raw,
            "can_revoke": self.has_revoke_permission(request, token),
            "title": "Token issued",
        }
        response = TemplateResponse(request, "admin/tokens/token/issued.html", context)
        # Back/forward must refetch (and find nothing to show), never replay a cached copy of the secret.
        response["Cache-Control"] = "no-store"
        return response

    def revoke_view(self, request, object_id):
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        token = get_object_or_404(Token.objects.select_related("datasource"), pk=object_id)
        if request.method == "POST":
            if token.revoked_at is None:
                token_revoke(token=token)
                self.log_change(request, token, "Revoked")
                self.message_user(request, f"Revoked token {token}. Clients using it now get 401.", messages.SUCCESS)
            return redirect("admin:tokens_token_change", token.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": token,
            "token": token,
            "title": f"Revoke token {token.hint}…?",
        }
        return TemplateResponse(request, "admin/tokens/token/revoke.html", context)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset:
            if token.revoked_at is None:
                token_revoke(token=token)
                self.log_change(request, token, "Revoked")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)

import tokens.personal_admin  # noqa: E402,F401 - registers the personal API token admin (issue 15)
