import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from netmon.tokens import hash_token, token_matches

KEY_PREFIX = "nmk_"
# Hashed when no key matches, so that a wrong key costs what a right one does.
_NO_KEY_HASH = hash_token("no such key")

# What a user or a key may do. Users get these as Django permissions (``accounts.<name>``),
# mostly through the groups Viewer, Operator and Administrator; superusers have them all.
VIEW_MONITORING = "view_monitoring"
OPERATE_MONITORING = "operate_monitoring"
MANAGE_LOG_SOURCES = "manage_log_sources"
MANAGE_CHANNELS = "manage_channels"


class Capability(models.Model):  # noqa: DJ008 (never instantiated: no __str__ needed)
    """No table: the holder of netmon's own permissions, checked by ``accounts.permissions``.

    Django attaches permissions to a model; these belong to no model of their own, and
    keeping them here shows them as "Accounts | capability | …" in the admin's group and
    user forms. Each is a superset of the one before it, as the groups give them.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            (VIEW_MONITORING, "Can read the dashboard with its details and the management API"),
            (OPERATE_MONITORING, "Can manage hosts and acknowledge alerts and findings"),
            (
                MANAGE_LOG_SOURCES,
                "Can set up log analysis, which makes the server connect over SSH and run commands",
            ),
            (
                MANAGE_CHANNELS,
                "Can set up alert channels, whose URLs are secrets the server sends to",
            ),
        ]


class ApiKey(models.Model):
    """A key for the management API, sent as ``Authorization: Bearer <key>``.

    The key reads ``nmk_<id>.<secret>``: the id finds the row, the hash of the
    whole key is compared in constant time. Only the hash is stored.
    """

    class Access(models.TextChoices):
        READ = "read", "Read-only"
        WRITE = "write", "Read-write (hosts, acknowledging)"
        ADMIN = "admin", "Admin (also log analysis: SSH and commands; alert channels)"

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

    def allows(self, capability: str) -> bool:
        """A read key reads, a write key also manages hosts, only an admin key sets up what
        makes the server open SSH connections and run commands, or send alerts to a URL."""
        return capability in CAPABILITIES_OF_ACCESS[self.access]

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
        # Hashed either way: the time taken does not tell whether the key id exists.
        matches = token_matches(key, _NO_KEY_HASH if api_key is None else api_key.key_hash)
        return api_key if api_key is not None and matches else None

    def touch(self) -> None:
        """Record use, at most once a minute so that reads do not turn into writes."""
        now = timezone.now()
        if self.last_used_at is None or (now - self.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


CAPABILITIES_OF_ACCESS = {
    ApiKey.Access.READ: {VIEW_MONITORING},
    ApiKey.Access.WRITE: {VIEW_MONITORING, OPERATE_MONITORING},
    ApiKey.Access.ADMIN: {
        VIEW_MONITORING,
        OPERATE_MONITORING,
        MANAGE_LOG_SOURCES,
        MANAGE_CHANNELS,
    },
}


class AuthFailureCount(models.Model):
    """Failed authentications of one client in its latest window (``accounts.throttle``).

    One row per client (an address, or an IPv6 /64): a failure in a new window starts the
    count again in the same row. A table of netmon's own rather than a cache entry, so that
    the heartbeat path reads the count in the statement that looks up the host."""

    client = models.CharField(max_length=64, primary_key=True)
    window_number = models.BigIntegerField()
    failures = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.client}: {self.failures} in window {self.window_number}"
