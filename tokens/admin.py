from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from tokens.models import Token
from tokens.services import token_issue, token_revoke


class TokenIssueForm(forms.ModelForm):
    class Meta:
        model = Token
        fields = ["datasource", "scope", "label", "expires_at"]


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["hint", "datasource", "scope", "label", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["scope", "datasource"]
    list_select_related = ["datasource"]
    search_fields = ["hint", "label", "datasource__slug"]
    actions = ["revoke_tokens"]
    add_form_template = None

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

    def has_delete_permission(self, request, obj=None):
        # Never a bulk delete; a revoked token may go (with its datasource, for instance).
        return obj is not None and obj.revoked_at is not None and super().has_delete_permission(request, obj)

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
        # Hand the raw value to response_add only; it is rendered once and kept nowhere.
        form.instance = issued.token
        obj.pk = issued.token.pk
        request._issued_raw_token = issued.raw

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_issued_raw_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        token = Token.objects.select_related("datasource").get(pk=obj.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "token": token,
            "raw_token": raw,
            "title": "Token issued",
        }
        response = TemplateResponse(request, "admin/tokens/token/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        revoked = 0
        for token in queryset:
            if token.revoked_at is None:
                token_revoke(token=token)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
