"""Settings for the test suite: the real ones, with tasks run inline and fast hashing."""

from netmon.settings import *  # noqa: F403
from netmon.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
