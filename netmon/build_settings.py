"""Settings for ``collectstatic``: the container build and ``scripts/start.sh`` use them.

They write hashed, compressed files and their manifest (``staticfiles.json``), which
``netmon/settings.py`` switches to as soon as the manifest exists. With the plain
settings ``collectstatic`` would copy the files only, no manifest would ever appear,
and whitenoise would serve them without far-future caching.
"""

from netmon.settings import *  # noqa: F403
from netmon.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Only the hashed names are referred to (templates go through the manifest): the
# unhashed copies would double the collected files in the image.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
