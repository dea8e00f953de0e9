"""Datasource changes in the audit of staff actions (eventsite.audit).

Model signals rather than a service call: the console's change form and the management API's
serializer save the model directly, and a signal covers both (and commands) in one place.
Retention gets its own action ("retention.change"), as it decides when events are deleted.
"""

from django.db.models.signals import post_delete, post_save, pre_save

from events.models import DataSource
from eventsite.audit.services import field_changes, staff_action_record

# What staff set on a datasource (epoch and has_suppressions are bookkeeping, written by updates).
AUDITED_FIELDS = ("slug", "name", "accepts_unauthenticated_events", "allowed_origins", "retention_days")
_BEFORE = "_audit_before"


def connect() -> None:
    pre_save.connect(_pre_save, sender=DataSource, dispatch_uid="events.datasource.audit.pre_save")
    post_save.connect(_post_save, sender=DataSource, dispatch_uid="events.datasource.audit.post_save")
    post_delete.connect(_post_delete, sender=DataSource, dispatch_uid="events.datasource.audit.post_delete")


def _pre_save(sender, instance, raw=False, **kwargs):
    if not raw and instance.pk is not None:
        setattr(instance, _BEFORE, DataSource.objects.filter(pk=instance.pk).values(*AUDITED_FIELDS).first())


def _post_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        staff_action_record(action="datasource.create", target=instance,
                            detail={name: getattr(instance, name) for name in AUDITED_FIELDS})
        return
    changed = field_changes(before=instance.__dict__.pop(_BEFORE, None), instance=instance)
    retention = changed.pop("retention_days", None)
    if retention is not None:
        staff_action_record(action="retention.change", target=instance, detail={"retention_days": retention})
    if changed:
        staff_action_record(action="datasource.change", target=instance, detail=changed)


def _post_delete(sender, instance, **kwargs):
    staff_action_record(action="datasource.delete", target=instance,
                        detail={name: getattr(instance, name) for name in AUDITED_FIELDS})
