from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class Via(models.TextChoices):
    CONSOLE = "console", "Console"
    API = "api", "API"
    COMMAND = "command", "Command"
    TASK = "task", "Task"


class StaffAction(models.Model):
    """One change made by staff (or by a token or command on their behalf). Added by
    eventsite.audit.services.staff_action_record only; never changed or deleted (kept forever)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    # SET_NULL: a deleted user's actions stay, under the name they had (actor_name).
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    # The username when it happened; for an API token its hint ("token evs_AbCd… (#3)"); for a
    # command without a named user, the system account ("deploy@web-1").
    actor_name = models.CharField(max_length=200, blank=True)
    via = models.CharField(max_length=10, choices=Via.choices)
    # A short verb: "token.issue", "purge.user", "user.groups" (see the README for the list).
    action = models.CharField(max_length=40, db_index=True)
    # What was changed, as text: it outlives the row it names ("events.datasource", "12", "web").
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    # What changed. Never a raw token or a raw user identifier: purges store the PurgeAudit's keyed hash.
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=128, blank=True)  # eventsite.ops.requestid allows 128

    class Meta:
        ordering = ["-at", "-id"]
        # Only "view": rows are written by the recorder, never through the admin.
        default_permissions = ("view",)
        verbose_name = "staff action"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name or '?'} ({self.via})"
