from rest_framework import authentication, exceptions

from accounts import throttle
from accounts.models import KEY_PREFIX, ApiKey


class TooManyFailures(Exception):
    """The client's address failed to authenticate too often; ``wait`` seconds remain."""

    def __init__(self, wait: int) -> None:
        super().__init__("Too many failed authentications from this address.")
        self.wait = wait


def authenticate_api_key(request, key: str) -> ApiKey | None:
    """The API key ``key`` names, or None; a failure counts against the client's address.

    Raises TooManyFailures before looking at the key when the address is over the limit.
    """
    address = throttle.client_address(request)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise TooManyFailures(wait)
    api_key = ApiKey.find(key) if key.startswith(KEY_PREFIX) else None
    if api_key is None:
        throttle.record_failure(address)
        return None
    api_key.touch()
    return api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer nmk_…``; the request's ``auth`` is the ApiKey."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        try:
            api_key = authenticate_api_key(request, key.strip())
        except TooManyFailures as refusal:
            raise exceptions.Throttled(refusal.wait, str(refusal)) from None
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return (None, api_key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="netmon"'
