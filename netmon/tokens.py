"""Random secrets that are shown once and stored only as a hash."""

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
PREFIX_LENGTH = 8


def generate_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    # The tokens carry 256 bits of entropy, so a fast hash is enough: a slow
    # password hash would only make every heartbeat expensive.
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def token_prefix(token: str) -> str:
    return token[:PREFIX_LENGTH]
