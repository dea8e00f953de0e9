"""Personal API tokens in the console: every staff user issues and revokes their own; superusers see and
revoke everyone's. The raw value is shown once, on the page the issue redirects to (as for ingest tokens).

No model permission is involved: a token grants nothing its user does not already hold, and the console
that issues it is behind the second factor for the users who need one.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from eventsite.lib.admin import CredentialStatusFilter, issued_keep, issued_pop
from eventsite.lib.errors import InvalidInput
from tokens.models import PersonalToken
from tokens.services import personal_token_issue, personal_token_revoke

# Session key of raw personal tokens issued but not yet displayed: {token pk: raw}; the issued page pops it.
ISSUED_SESSION_KEY = "tokens.personal_issued"


class PersonalTokenIssueForm(forms.ModelForm):
    class Meta:
        model = PersonalToken
        fields = ["label", "expires_at"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return expires_at


def _is_staff(request) -> bool:
    return request.user.is_active and request.user.is_staff


def _may_revoke(request, token: PersonalToken) -> bool:
    return _is_staff(request) and (token.user_id == request.user.pk or request.user.is_superuser)


class PersonalTokenAdmin(admin.ModelAdmin):
    list_display = ["hint", "user", "label", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [CredentialStatusFilter]
    list_select_related = ["user"]
    search_fields = ["hint", "label", "user__username"]
    actions = ["revoke_personal_tokens"]
    change_form_template = "admin/tokens/personaltoken/change_form.html"

    # Each staff user manages their own tokens (superusers everyone's); no model permission needed.
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_module_permission(self, request):
        return _is_staff(request)

    def has_view_permission(self, request, obj=None):
        return _is_staff(request) and (obj is None or obj.user_id == request.user.pk or request.user.is_superuser)

    def has_add_permission(self, request):
        return _is_staff(request)

    def has_change_permission(self, request, obj=None):
        # The label only (and, through the actions, revocation): of one's own tokens, or any for a superuser.
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # revoked rows stay as the record of what existed

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PersonalTokenIssueForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["label", "expires_at"]
        return ["user", "label", "hint", "created_at", "expires_at", "revoked_at", "last_used_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "hint", "created_at", "expires_at", "revoked_at", "last_used_at"]

    def get_urls(self):
        return [
            path("<int:object_id>/issued/", self.admin_site.admin_view(self.issued_view),
                 name="tokens_personaltoken_issued"),
            path("<int:object_id>/revoke/", self.admin_site.admin_view(self.revoke_view),
                 name="tokens_personaltoken_revoke"),
            *super().get_urls(),
        ]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["label"])
            return
        try:
            issued = personal_token_issue(
                user=request.user, label=form.cleaned_data.get("label", ""),
                expires_at=form.cleaned_data.get("expires_at"),
            )
        except InvalidInput as error:  # the form checked the same; a race with the clock is all that is left
            raise PermissionDenied(error.message) from None
        issued_keep(request=request, obj=obj, issued_row=issued.token, raw=issued.raw, session_key=ISSUED_SESSION_KEY)

    def response_add(self, request, obj, post_url_continue=None):
        # Post/redirect/get: reloading must never post (and issue) again.
        return redirect("admin:tokens_personaltoken_issued", obj.pk)

    def issued_view(self, request, object_id):
        token = get_object_or_404(PersonalToken.objects.select_related("user"), pk=object_id)
        if not self.has_view_permission(request, token):
            raise PermissionDenied
        # Only its issuer's session holds the raw value; popping it shows it exactly once.
        raw = issued_pop(request=request, pk=token.pk, session_key=ISSUED_SESSION_KEY)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": token,
            "token": token,
            "raw_token": raw,
            "title": "Personal API token issued",
        }
        response = TemplateResponse(request, "admin/tokens/personaltoken/issued.html", context)
        response["Cache-Control"] = "no-store"  # back/forward must never replay the secret
        return response

    def revoke_view(self, request, object_id):
        token = get_object_or_404(PersonalToken.objects.select_related("user"), pk=object_id)
        if not _may_revoke(request, token):
            raise PermissionDenied
        if request.method == "POST":
            if token.revoked_at is None:
                personal_token_revoke(token=token)
                self.log_change(request, token, "Revoked")
                self.message_user(request, f"Revoked personal API token {token}.", messages.SUCCESS)
            return redirect("admin:tokens_personaltoken_change", token.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": token,
            "token": token,
            "title": f"Revoke personal API token {token.hint}…?",
        }
        return TemplateResponse(request, "admin/tokens/personaltoken/revoke.html", context)

    @admin.action(description="Revoke selected personal API tokens")
    def revoke_personal_tokens(self, request, queryset):
        revoked = 0
        for token in queryset.select_related("user"):
            # The queryset is already limited to one's own tokens (all for superusers); checked again anyway.
            if token.revoked_at is None and _may_revoke(request, token):
                personal_token_revoke(token=token)
                self.log_change(request, token, "Revoked")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} personal API token(s).", messages.SUCCESS)


admin.site.register(PersonalToken, PersonalTokenAdmin)
