from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiKey


class ApiKeyOrStaff(BasePermission):
    """Read with any API key or a logged-in user; write with a read-write key or as staff."""

    message = "A read-write API key or a staff account is needed for this."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.method in SAFE_METHODS or request.auth.can_write
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return request.method in SAFE_METHODS or user.is_staff
