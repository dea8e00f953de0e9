"""API tokens: scoped, bound to one datasource, stored only as a SHA-256 hash.

The raw value (`evs_...`) exists once, in the answer that issues it; see tokens.services.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from events.models import DataSource


class Scope(models.TextChoices):
    INGEST = "ingest", "Ingest (post events)"
    PURGE = "purge", "Purge (erase user or datasource data)"


class Token(models.Model):
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="tokens")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    label = models.CharField(max_length=200, blank=True)
    # The first characters of the raw token, so people can tell tokens apart.
    hint = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("issue_token", "Can issue a token (its raw value is shown once)"),
            ("revoke_token", "Can revoke a token"),
        ]

    def __str__(self) -> str:
        return f"{self.hint}… ({self.scope}, {self.datasource_id and self.datasource.slug})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class PersonalToken(models.Model):
    """A staff user's personal API token for the management API (`Authorization: Bearer evp_...`).

    It acts with its user's permissions, so scripts need no password (a password alone would bypass
    the console's second factor). Stored as a SHA-256 hash like the ingest tokens above; the raw
    value exists once, in the console page that issues it (tokens.services.personal_token_issue).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_tokens")
    label = models.CharField(max_length=200, blank=True, help_text="What the token is for, e.g. the script using it.")
    hint = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "personal API token"

    def __str__(self) -> str:
        return f"{self.hint}… ({self.user})"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
