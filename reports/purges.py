"""Purges: the one orchestrating service behind the kSense API, the admin and commands.

It lives in the reports layer, the highest one a purge touches: besides events it must reach
export files. Each purge writes a PurgeAudit with a keyed hash of the user id, never the id.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from events.identities import identity_digest, identity_type_check, user_id_hmac
from events.models import DataSource, EpochReclaim, PurgeAudit
from events.selectors import events_customer_product_pairs, events_of_datasource
from events.services import events_purge_dataset_begin, events_purge_user, events_reclaim_epoch, suppression_add
from eventsite.audit.services import staff_action_record
from eventsite.lib import metrics
from eventsite.lib.context import current_request_id
from eventsite.lib.dberrors import database_errors
from eventsite.lib.errors import InvalidInput
from eventsite.lib.replica import replica_fence_bump
from reports.services import report_files_purge_epoch, report_files_purge_events
from reports.tasks import reclaim_purged_epoch

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a purge: an API token (id and hint) or a staff user."""

    label: str
    token_id: int | None = None
    user: AbstractBaseUser | None = None

    @classmethod
    def for_token(cls, token) -> "Actor":
        return cls(label=f"token {token.hint}… (#{token.pk})", token_id=token.pk)

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(label=f"staff user {user.get_username()}", user=user)


def _audit_origin(datasource: DataSource, actor: Actor) -> dict:
    return {
        "datasource": datasource,
        "datasource_slug": datasource.slug,
        "actor": actor.label,
        "actor_token_id": actor.token_id,
        "actor_user": actor.user,
        "request_id": current_request_id(),
    }


def _record(action: str, audit: PurgeAudit, actor: Actor, **detail) -> None:
    # One line in the audit of staff actions, pointing at the PurgeAudit (which holds the counts and
    # the keyed hash of the user id; the id itself is never stored).
    staff_action_record(action=action, target=audit.datasource, user=actor.user,
                        actor_name="" if actor.user is not None else actor.label,
                        detail={"purge_audit": audit.pk, **detail})


def _digest(kind: str, user_id: str) -> str:
    digest = identity_digest(identity_type_check(kind), user_id, where="purge")
    if digest is None:
        raise InvalidInput("user_id is empty", field="user_id")
    return digest


def purge_user_preview(*, datasource: DataSource, kind: str, user_id: str) -> int:
    """How many visible events a purge_user would erase (the admin's dry run)."""
    digest = _digest(kind, user_id)
    return events_of_datasource(datasource=datasource).filter(**{f"user_{kind}": digest}).count()


def purge_user(*, datasource: DataSource, kind: str, user_id: str, actor: Actor, suppress: bool = False) -> PurgeAudit:
    digest = _digest(kind, user_id)
    with database_errors(), transaction.atomic():
        deleted, purged_events = events_purge_user(datasource=datasource, kind=kind, digest=digest)
        if suppress:
            suppression_add(datasource=datasource, kind=kind, digest=digest)
        audit = PurgeAudit.objects.create(
            kind=PurgeAudit.Kind.USER,
            **_audit_origin(datasource, actor),
            user_id_type=kind,
            user_id_hmac=user_id_hmac(datasource=datasource, kind=kind, digest=digest),
            suppressed=suppress,
            events_deleted=deleted,
            completed_at=timezone.now(),
        )
        _record("purge.user", audit, actor, user_id_type=kind, user_id_hmac=audit.user_id_hmac,
                suppressed=suppress, events_deleted=deleted)
        # Last in the transaction (it locks the fence row until the commit): replica reads
        # started after this commit wait for the replica to replay it.
        replica_fence_bump()
    metrics.purged(kind=PurgeAudit.Kind.USER, events=deleted)
    # After the commit, and outside any transaction (object storage): exports that may hold
    # the user's events rerun (if running) or lose their file (if complete).
    removed = report_files_purge_events(events=purged_events)
    if removed:
        PurgeAudit.objects.filter(pk=audit.pk).update(files_removed=removed)
        audit.files_removed = removed
    return audit


def purge_dataset_preview(*, datasource: DataSource) -> int:
    return events_of_datasource(datasource=datasource).count()


def purge_dataset(*, datasource: DataSource, actor: Actor) -> PurgeAudit:
    """Hide every event of the datasource now; the rows are deleted in the background."""
    with database_errors(), transaction.atomic():
        # Which reports can hold this datasource's events is worked out by the background
        # reclaim, before it deletes the rows: nothing here scans the datasource.
        reclaim = events_purge_dataset_begin(datasource=datasource)
        audit = PurgeAudit.objects.create(kind=PurgeAudit.Kind.DATASET, **_audit_origin(datasource, actor))
        EpochReclaim.objects.filter(pk=reclaim.pk).update(audit=audit)
        _record("purge.datasource", audit, actor, epoch=reclaim.epoch)
        transaction.on_commit(lambda: _enqueue_reclaim(reclaim.pk))
        replica_fence_bump()  # last: see purge_user
    return audit


def _enqueue_reclaim(reclaim_id: int) -> bool:
    # The events are already invisible; if the broker is down the periodic sweep reclaims
    # later, so a publish failure must neither fail nor stall the purge.
    try:
        reclaim_purged_epoch.apply_async((reclaim_id,), retry=False)
    except Exception:  # noqa: BLE001 - any broker failure
        logger.warning("could not enqueue reclaim %s; the periodic sweep will pick it up", reclaim_id)
        return False
    return True


def purge_dataset_reclaims_enqueue_pending() -> int:
    """The periodic sweep: enqueue every reclaim not finished yet (its task may never have
    been delivered); reclaims are idempotent, so one enqueued twice does no harm."""
    pending = list(EpochReclaim.objects.filter(finished_at=None).values_list("pk", flat=True))
    for reclaim_id in pending:
        _enqueue_reclaim(reclaim_id)
    return len(pending)


def purge_dataset_reclaim(*, reclaim_id: int) -> int:
    """Delete the rows of a purged epoch and complete its audit; a no-op once done."""
    reclaim = EpochReclaim.objects.filter(pk=reclaim_id, finished_at=None).first()
    if reclaim is None:
        return 0
    pairs = events_customer_product_pairs(datasource=reclaim.datasource, epoch=reclaim.epoch)
    removed = report_files_purge_epoch(datasource_id=reclaim.datasource_id, epoch=reclaim.epoch, pairs=pairs)
    deleted = events_reclaim_epoch(reclaim=reclaim)
    metrics.purged(kind=PurgeAudit.Kind.DATASET, events=deleted)
    if reclaim.audit_id is not None:
        PurgeAudit.objects.filter(pk=reclaim.audit_id).update(
            events_deleted=F("events_deleted") + deleted, files_removed=F("files_removed") + removed,
            completed_at=timezone.now(),
        )
    return deleted
