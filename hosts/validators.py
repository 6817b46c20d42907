"""Field rules shared by the model, the API, the admin and the YAML import."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

HOST_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
RESERVED_HOST_IDS = {"generate-token", "config"}

MIN_FREQUENCY = 10
MAX_FREQUENCY = 31 * 86400
MAX_GRACE = 7 * 86400
MAX_TAGS = 50
MAX_TAG_LENGTH = 50


def validate_host_id(value: str) -> None:
    if not HOST_ID_PATTERN.match(value or ""):
        raise ValidationError(
            "Use 1–64 lowercase letters, digits, hyphens or underscores, "
            "starting with a letter or digit.",
            code="invalid",
        )
    if value in RESERVED_HOST_IDS:
        raise ValidationError(f"'{value}' is reserved.", code="reserved")


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{value}' is not an IANA time zone (e.g. Europe/Berlin).", code="invalid"
        ) from None
