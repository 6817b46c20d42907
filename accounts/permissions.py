"""Who may do what: one rule for the management API, the web pages and the serializers.

A caller is an API key (``request.auth``) or a logged-in user. Keys have the capabilities
of their access level (``ApiKey.allows``); users have them as Django permissions
``accounts.view_monitoring``, ``accounts.operate_monitoring``,
``accounts.manage_log_sources`` and ``accounts.manage_channels``, given by the groups
Viewer, Operator and Administrator (accounts/migrations/0003_groups.py, 0005) or one by
one; active superusers have all of them.
``is_staff`` only opens the Django admin, where Django's model permissions apply.
"""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import (
    MANAGE_CHANNELS,
    MANAGE_LOG_SOURCES,
    OPERATE_MONITORING,
    VIEW_MONITORING,
    ApiKey,
)

REFUSALS = {
    VIEW_MONITORING: "Reading needs an API key, or an account in the Viewer group or above.",
    OPERATE_MONITORING: "Changes need a read-write API key, or an account in the Operator "
    "group or above.",
    MANAGE_LOG_SOURCES: "Log analysis makes the server open SSH connections and run "
    "commands: it needs an admin API key, or an account in the Administrator group.",
    MANAGE_CHANNELS: "Alert channels hold secret URLs that the server sends to: they need "
    "an admin API key, or an account in the Administrator group.",
}


class ManagesChannels(BasePermission):
    """Every method of the channels API, reading too: a channel's settings are an
    administrator's business (its URL is masked even for them)."""

    message = REFUSALS[MANAGE_CHANNELS]

    def has_permission(self, request, view) -> bool:
        return may(request, MANAGE_CHANNELS)


def user_may(user, capability: str) -> bool:
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.has_perm(f"accounts.{capability}")
    )


def may(request, capability: str) -> bool:
    """Whether the caller of ``request`` (a DRF or a plain Django request) has ``capability``."""
    api_key = getattr(request, "auth", None)
    if isinstance(api_key, ApiKey):
        return api_key.allows(capability)
    return user_may(getattr(request, "user", None), capability)


class HasCapability(BasePermission):
    """Reading needs ``view_monitoring``, any other method ``operate_monitoring``.

    What needs more than that (a host's ``log_analysis_config``) is checked where it is
    written, by ``require_capability``.
    """

    def has_permission(self, request, view) -> bool:
        needed = VIEW_MONITORING if request.method in SAFE_METHODS else OPERATE_MONITORING
        self.message = REFUSALS[needed]
        return may(request, needed)


def require_capability(request, capability: str, field: str) -> None:
    """Refuse with a 403 naming ``field`` unless the caller has ``capability``."""
    if not may(request, capability):
        raise PermissionDenied({field: REFUSALS[capability]})
