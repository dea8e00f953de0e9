"""Token edits in the audit of staff actions (eventsite.audit) that no service makes: the console's
label change and its delete of a revoked token (or a datasource's, with it). Issue and revoke are
recorded by tokens.services."""

from django.db.models.signals import post_delete, post_save, pre_save

from eventsite.audit.services import field_changes, staff_action_record
from tokens.models import Token

AUDITED_FIELDS = ("label", "expires_at")
_BEFORE = "_audit_before"


def connect() -> None:
    pre_save.connect(_pre_save, sender=Token, dispatch_uid="tokens.token.audit.pre_save")
    post_save.connect(_post_save, sender=Token, dispatch_uid="tokens.token.audit.post_save")
    post_delete.connect(_post_delete, sender=Token, dispatch_uid="tokens.token.audit.post_delete")


def _pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(AUDITED_FIELDS):
        return  # token_revoke's own save: recorded by the service
    setattr(instance, _BEFORE, Token.objects.filter(pk=instance.pk).values(*AUDITED_FIELDS).first())


def _post_save(sender, instance, created, raw=False, **kwargs):
    before = instance.__dict__.pop(_BEFORE, None)
    if raw or created or not before:
        return
    changed = field_changes(before=before, instance=instance)
    if changed:
        staff_action_record(action="token.change", target=instance, detail={"hint": instance.hint, **changed})


def _post_delete(sender, instance, **kwargs):
    staff_action_record(action="token.delete", target=instance, detail={"hint": instance.hint, "scope": instance.scope})
