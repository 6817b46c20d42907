"""Settings for the test suite: the real ones, with tasks run inline and fast hashing."""

from netmon.settings import *  # noqa: F403
from netmon.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# No test reaches the internet: checks are off, and tests that turn them on set local targets.
CONNECTIVITY_ENABLED = False
CONNECTIVITY_TARGETS = ["tcp:127.0.0.1:9"]

# Without it the live test server serves the working directory at "/" (MEDIA_URL "").
MEDIA_URL = "/media/"
# Fast tests: the Discord spacing has its own test with a value of its own.
DISCORD_MESSAGE_SPACING_SECONDS = 0.05
