import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from netmon.tokens import hash_token, token_matches

KEY_PREFIX = "nmk_"


class ApiKey(models.Model):
    """A key for the management API, sent as ``Authorization: Bearer <key>``.

    The key reads ``nmk_<id>.<secret>``: the id finds the row, the hash of the
    whole key is compared in constant time. Only the hash is stored.
    """

    class Access(models.TextChoices):
        READ = "read", "Read-only"
        WRITE = "write", "Read-write"

    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    access = models.CharField(max_length=5, choices=Access.choices, default=Access.READ)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.key_id}…)"

    @property
    def can_write(self) -> bool:
        return self.access == self.Access.WRITE

    def issue(self) -> str:
        """Give the key new random values; returns the plain key, to be shown once."""
        self.key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{self.key_id}.{secrets.token_urlsafe(32)}"
        self.key_hash = hash_token(key)
        return key

    @classmethod
    def find(cls, key: str) -> "ApiKey | None":
        if not key.startswith(KEY_PREFIX) or "." not in key:
            return None
        key_id = key[len(KEY_PREFIX) :].split(".", 1)[0]
        api_key = cls.objects.filter(key_id=key_id).first()
        if api_key is None or not token_matches(key, api_key.key_hash):
            return None
        return api_key

    def touch(self) -> None:
        """Record use, at most once a minute so that reads do not turn into writes."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now
