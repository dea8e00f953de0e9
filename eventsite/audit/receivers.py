"""Model signals recorded as staff actions where no service of ours makes the change: roles
(Django's auth models, changed by the admin's user and group forms, by sync_roles, by a shell)
and second-factor devices (django-otp's models, changed by enrolment pages and the admin).

Saves that change nothing recorded (a login's last_login, a device's verification counters) are
skipped: flags and a device's `confirmed` are compared with the stored row first.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from eventsite.audit.services import staff_action_record

USER_FLAGS = ("is_staff", "is_superuser", "is_active")
DEVICE_MODELS = {TOTPDevice: "totp", StaticDevice: "static"}
_BEFORE = "_audit_before"
_CLEARED = "_audit_cleared"
# The m2m relations that make roles, by their through model: "groups" or "permissions".
_M2M_ACTIONS: dict = {}


def connect() -> None:
    User = get_user_model()
    pre_save.connect(_user_pre_save, sender=User, dispatch_uid="audit.user.pre_save")
    post_save.connect(_user_post_save, sender=User, dispatch_uid="audit.user.post_save")
    post_delete.connect(_user_post_delete, sender=User, dispatch_uid="audit.user.post_delete")
    post_save.connect(_group_post_save, sender=Group, dispatch_uid="audit.group.post_save")
    post_delete.connect(_group_post_delete, sender=Group, dispatch_uid="audit.group.post_delete")
    for through, action in ((User.groups.through, "groups"), (User.user_permissions.through, "permissions"),
                            (Group.permissions.through, "permissions")):
        m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"audit.{through._meta.label_lower}")
        _M2M_ACTIONS[through] = action
    for model in DEVICE_MODELS:
        label = model._meta.label_lower
        pre_save.connect(_device_pre_save, sender=model, dispatch_uid=f"audit.{label}.pre_save")
        post_save.connect(_device_post_save, sender=model, dispatch_uid=f"audit.{label}.post_save")
        post_delete.connect(_device_post_delete, sender=model, dispatch_uid=f"audit.{label}.post_delete")


# --- Users' flags ------------------------------------------------------------------------------


def _user_pre_save(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(USER_FLAGS):
        return  # a login's last_login, a password change: no role changes
    before = sender._default_manager.filter(pk=instance.pk).values(*USER_FLAGS).first()
    setattr(instance, _BEFORE, before)


def _user_post_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        if instance.is_staff or instance.is_superuser:
            staff_action_record(action="user.create", target=instance,
                                detail={flag: getattr(instance, flag) for flag in USER_FLAGS})
        return
    before = instance.__dict__.pop(_BEFORE, None)
    if not before:
        return
    changed = {flag: [before[flag], getattr(instance, flag)] for flag in USER_FLAGS
               if before[flag] != getattr(instance, flag)}
    if changed:
        staff_action_record(action="user.flags", target=instance, detail=changed)


def _user_post_delete(sender, instance, **kwargs):
    if instance.is_staff or instance.is_superuser:
        staff_action_record(action="user.delete", target=instance,
                            detail={flag: getattr(instance, flag) for flag in USER_FLAGS})


# --- Groups and the m2m relations that make roles ---------------------------------------------


def _group_post_save(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        staff_action_record(action="group.create", target=instance)


def _group_post_delete(sender, instance, **kwargs):
    staff_action_record(action="group.delete", target=instance)


def _names(model, pks) -> list[str]:
    if model is Permission:
        rows = Permission.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename")
        return sorted(f"{app_label}.{codename}" for app_label, codename in rows)
    return sorted(str(obj) for obj in model._default_manager.filter(pk__in=pks))


def _m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """user.groups, user.permissions, group.permissions; from either side of the relation
    (group.user_set.add(user) is recorded on the user, as user.groups.add(group) is)."""
    if action == "pre_clear":
        # What a clear() is about to remove: the signal after it has no pk_set.
        setattr(instance, _CLEARED, set(_related_pks(sender, instance, model)))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    pks = instance.__dict__.pop(_CLEARED, set()) if action == "post_clear" else set(pk_set or ())
    if not pks:
        return
    verb = "added" if action == "post_add" else "removed"
    relation = _M2M_ACTIONS[sender]
    if not reverse:
        prefix = "group" if isinstance(instance, Group) else "user"
        staff_action_record(action=f"{prefix}.{relation}", target=instance, detail={verb: _names(model, pks)})
        return
    # Reverse side: `instance` is the group (or permission), `model` the owners that changed.
    for owner in model._default_manager.filter(pk__in=pks):
        prefix = "group" if isinstance(owner, Group) else "user"
        staff_action_record(action=f"{prefix}.{relation}", target=owner, detail={verb: [_name(instance)]})


def _name(obj) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    return str(obj)


def _field_to(through, model) -> str:
    """The through model's foreign key that points at `model`."""
    for field in through._meta.fields:
        if field.is_relation and field.related_model is model:
            return field.name
    raise LookupError(model)


def _related_pks(through, instance, model) -> list:
    """The pks of `model` rows linked to `instance` through `through`."""
    own = _field_to(through, type(instance))
    other = _field_to(through, model)
    return list(through._default_manager.filter(**{own: instance}).values_list(f"{other}_id", flat=True))


# --- Second-factor devices ---------------------------------------------------------------------


def _device_detail(instance) -> dict:
    return {"device": DEVICE_MODELS[type(instance)], "device_id": instance.pk, "name": instance.name}


def _device_pre_save(sender, instance, raw=False, **kwargs):
    if raw or instance.pk is None:
        return
    # Verifying a code saves the device (its counters): only a change of `confirmed` is an action.
    before = sender._default_manager.filter(pk=instance.pk).values_list("confirmed", flat=True).first()
    setattr(instance, _BEFORE, before)


def _device_post_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        staff_action_record(action="2fa.device.add", target=instance.user,
                            detail={**_device_detail(instance), "confirmed": instance.confirmed})
        return
    before = instance.__dict__.pop(_BEFORE, None)
    if before is not None and before != instance.confirmed:
        staff_action_record(action="2fa.device.confirm" if instance.confirmed else "2fa.device.unconfirm",
                            target=instance.user, detail=_device_detail(instance))


def _device_post_delete(sender, instance, **kwargs):
    staff_action_record(action="2fa.device.remove", target=instance.user, detail=_device_detail(instance))
