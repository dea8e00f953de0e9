"""The bottom layer: datasources and the events they collect.

Events are written by events.services.events_ingest (COPY on PostgreSQL), never one by one.
Every read of events goes through events.selectors, which hides events of purged epochs.
"""

from datetime import datetime, timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from eventsite.lib.replica import FENCE_TABLE

IDENTITY_TYPES = ("email", "phone", "idfa", "gaid", "internal_id", "anonymous_id")


class DataSource(models.Model):
    # The kSense `ds`: the slug clients name in purge calls and that tokens are bound to.
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # purge_dataset bumps the epoch: events of older epochs are invisible at once and are
    # deleted in the background, so the purge answers in constant time.
    epoch = models.PositiveIntegerField(default=0)
    # Barchart's client sends no credentials on POST /events: an operator may let one
    # datasource take such posts.
    accepts_unauthenticated_events = models.BooleanField(default=False)
    # Browser origins allowed to post with CORS (Jitsu browser SDK), one per line.
    allowed_origins = models.TextField(blank=True, default="")
    # Set while any suppression is active, so ingest looks them up only then.
    has_suppressions = models.BooleanField(default=False, editable=False)
    # Events whose event time is older than this many days are hidden at once and deleted by the
    # retention sweep (events.services.events_apply_retention). Empty: kept forever.
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(36500)],
        help_text="Delete events older than this many days (by event time). Empty keeps them forever.",
    )

    class Meta:
        ordering = ["slug"]
        # Rights beyond add/change/delete/view (issue 15), held through the roles in eventsite/lib/access.py.
        permissions = [
            ("purge_user", "Can purge one user's events (GDPR erasure)"),
            ("purge_datasource", "Can purge every event of a datasource"),
            ("change_retention", "Can change a datasource's retention"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["accepts_unauthenticated_events"],
                condition=Q(accepts_unauthenticated_events=True),
                name="one_unauthenticated_datasource",
                violation_error_message="Only one datasource may accept unauthenticated POST /events.",
            )
        ]

    def __str__(self) -> str:
        return self.slug

    def retention_cutoff(self, now: datetime) -> datetime | None:
        """Events with an event time before this are past retention (None: kept forever)."""
        return now - timedelta(days=self.retention_days) if self.retention_days else None


class Event(models.Model):
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="+", db_index=False)
    epoch = models.PositiveIntegerField(default=0)
    # The client's id: re-posting the same event_id in a datasource replaces the event.
    event_id = models.CharField(max_length=256, null=True, blank=True)
    batch = models.UUIDField()
    sequence = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    timestamp = models.DateTimeField()
    type = models.CharField(max_length=200, blank=True, default="")
    # Barchart events only; reports filter on them.
    customer = models.CharField(max_length=64, null=True, blank=True)
    product = models.CharField(max_length=64, null=True, blank=True)
    # User identities as SHA-256 hex of the normalised value (see events.identities), so a
    # client's pre-hashed `hash1:` value and a raw value meet in the same column.
    user_email = models.CharField(max_length=64, null=True, blank=True)
    user_phone = models.CharField(max_length=64, null=True, blank=True)
    user_idfa = models.CharField(max_length=64, null=True, blank=True)
    user_gaid = models.CharField(max_length=64, null=True, blank=True)
    user_internal_id = models.CharField(max_length=64, null=True, blank=True)
    user_anonymous_id = models.CharField(max_length=64, null=True, blank=True)
    payload = models.JSONField()

    class Meta:
        # Payloads and user identifiers may hold personal data: view_event shows the list without them.
        permissions = [("view_event_payload", "Can see event payloads and user identifiers")]
        indexes = [
            models.Index(fields=["datasource", "epoch", "timestamp"], name="event_ds_epoch_ts"),
            models.Index(
                fields=["customer", "product", "timestamp"],
                name="event_customer_product_ts",
                condition=Q(customer__isnull=False),
            ),
            *[
                models.Index(
                    fields=["datasource", f"user_{kind}"],
                    name=f"event_ds_user_{kind}"[:30],
                    condition=Q(**{f"user_{kind}__isnull": False}),
                )
                for kind in IDENTITY_TYPES
            ],
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["datasource", "epoch", "event_id"],
                name="event_unique_client_id",
                condition=Q(event_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type or 'event'} #{self.pk}"


class CatalogEventType(models.Model):
    """A Barchart event type in a datasource's optional catalog (see `import_event_types`).

    context_keys is the ordered list of names for the positional `context` array;
    context_rules maps a customer code to one rule per position: "string" (non-empty
    string), "uuid", or "optional" (may be empty or absent).
    """

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="catalog_event_types")
    code = models.CharField(max_length=200)
    description = models.CharField(max_length=200, blank=True)
    product = models.CharField(max_length=64)
    context_keys = models.JSONField(default=list)
    context_rules = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datasource", "code"], name="catalog_type_unique")]
        ordering = ["datasource", "code"]

    def __str__(self) -> str:
        return self.code


class CatalogCode(models.Model):
    """A customer or product code known to a datasource's catalog."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer"
        PRODUCT = "product"

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="catalog_codes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    code = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datasource", "kind", "code"], name="catalog_code_unique")]
        ordering = ["datasource", "kind", "code"]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"


class EpochReclaim(models.Model):
    """Events of an old epoch of a datasource, hidden by purge_dataset, still to be deleted."""

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="+")
    epoch = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    events_deleted = models.BigIntegerField(default=0)
    audit = models.ForeignKey("PurgeAudit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["datasource", "epoch"], name="reclaim_unique_epoch")]


class PurgeAudit(models.Model):
    """One purge: who, what, when and how much. Never the raw user id: a keyed hash of it."""

    class Kind(models.TextChoices):
        USER = "user"
        DATASET = "dataset"

    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The audit outlives its datasource: the slug is kept as text.
    datasource = models.ForeignKey(DataSource, null=True, on_delete=models.SET_NULL, related_name="+")
    datasource_slug = models.CharField(max_length=64)
    # Who asked: an API token (its id and hint; tokens live in a higher layer) or a staff user.
    actor_token_id = models.BigIntegerField(null=True, blank=True)
    actor_user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.CharField(max_length=200)
    # The X-Request-ID of the request that asked for the purge (or generated for it), for log search.
    request_id = models.CharField(max_length=128, blank=True, default="")
    user_id_type = models.CharField(max_length=32, blank=True)
    user_id_hmac = models.CharField(max_length=64, blank=True)
    suppressed = models.BooleanField(default=False)
    events_deleted = models.BigIntegerField(default=0)
    files_removed = models.IntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} purge of {self.datasource_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Suppression(models.Model):
    """A purged user whose later events are dropped at ingest, until an operator lifts it."""

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="suppressions")
    kind = models.CharField(max_length=32)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    events_dropped = models.BigIntegerField(default=0)

    class Meta:
        permissions = [("lift_suppression", "Can lift a suppression (accept a purged user's events again)")]
        constraints = [
            models.UniqueConstraint(
                fields=["datasource", "kind", "digest"], name="suppression_active_unique",
                condition=Q(lifted_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest[:12]}… in {self.datasource_id}"


class ReplicaFence(models.Model):
    """The purge fence of the read replica (one row, see eventsite.lib.replica): the generation
    rises in every transaction that erases events; lsn is the primary's WAL position (bytes)
    recorded after such a commit. Replica reads wait until the replica has replayed both."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    generation = models.BigIntegerField(default=0)
    lsn = models.BigIntegerField(default=0)

    class Meta:
        db_table = FENCE_TABLE

    def __str__(self) -> str:
        return f"fence {self.generation} at {self.lsn}"


class SpooledBatch(models.Model):
    """A batch from the local spool (events.spool) that has been written: the drain records it in
    the same transaction as the batch's events, so a drain killed and rerun never writes it twice."""

    batch = models.UUIDField(primary_key=True)
    received_at = models.DateTimeField()
    drained_at = models.DateTimeField()
    stored = models.PositiveIntegerField(default=0)
    # Events left out at the drain: a purge after they were received, a suppression, a newer
    # version of the same event_id, or a value the database refused (see note).
    dropped = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=300, blank=True, default="")

    def __str__(self) -> str:
        return f"spooled batch {self.batch}"


class RetentionRun(models.Model):
    """One retention sweep of one datasource: when, the cut-off, and how many events it deleted."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run outlives its datasource: the slug is kept as text.
    datasource = models.ForeignKey(DataSource, null=True, on_delete=models.SET_NULL, related_name="+")
    datasource_slug = models.CharField(max_length=64)
    retention_days = models.PositiveIntegerField()
    cutoff = models.DateTimeField()
    dry_run = models.BooleanField(default=False)
    # Deleted, or (dry run) that would be deleted.
    events_deleted = models.BigIntegerField(default=0)
    chunks = models.IntegerField(default=0)
    # "complete", "dry_run", or "failed" (the count is what was deleted before the failure).
    outcome = models.CharField(max_length=16, default="running")
    trigger = models.CharField(max_length=16, default="scheduler")
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["datasource", "started_at"], name="retention_run_ds_started")]

    def __str__(self) -> str:
        return f"retention of {self.datasource_slug} at {self.started_at:%Y-%m-%d %H:%M}"
