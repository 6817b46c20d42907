from rest_framework import authentication, exceptions

from accounts.models import KEY_PREFIX, ApiKey


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer nmk_…``; the request's ``auth`` is the ApiKey."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        key = key.strip()
        api_key = ApiKey.find(key) if key.startswith(KEY_PREFIX) else None
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        api_key.touch()
        return (None, api_key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="netmon"'
