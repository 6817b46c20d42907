"""Field rules shared by the model, the API, the admin and the YAML import."""

import re
from functools import cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError

# Used with fullmatch: "^…$" also matched before a trailing newline and let "nl1\n" in.
HOST_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED_HOST_IDS = {"generate-token", "config"}

MIN_FREQUENCY = 10
MAX_FREQUENCY = 31 * 86400
MAX_GRACE = 7 * 86400
MAX_TAGS = 50
MAX_TAG_LENGTH = 50
MAX_TIMEZONE_LENGTH = 64  # the model field's max_length; the longest IANA name has 32


def validate_host_id(value: str) -> None:
    if not isinstance(value, str) or not HOST_ID_PATTERN.fullmatch(value):
        raise ValidationError(
            "Use 1–64 lowercase letters, digits, hyphens or underscores, "
            "starting with a letter or digit.",
            code="invalid",
        )
    if value in RESERVED_HOST_IDS:
        raise ValidationError(f"'{value}' is reserved.", code="reserved")


# Control characters: C0, DEL and C1. A line break in a host's name would start a new line
# in every log line, email subject and alert that names the host.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def tags_problem(tags) -> str | None:
    """What is wrong with a list of tags (a host's, or those a channel or a maintenance
    window names), or None: the one rule for tags wherever they are written."""
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "Tags must be a list of strings."
    if len(tags) > MAX_TAGS or any(not 0 < len(tag) <= MAX_TAG_LENGTH for tag in tags):
        return f"At most {MAX_TAGS} tags of 1–{MAX_TAG_LENGTH} characters each."
    if any(CONTROL_CHARACTERS.search(tag) for tag in tags):
        return "Tags are one line of text, without control characters."
    return None


def validate_single_line(value: str) -> None:
    """One line of text without control characters: for names shown everywhere."""
    if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
        raise ValidationError(
            "Use one line of text, without line breaks, tabs or other control characters.",
            code="control_character",
        )


# What the OpenAPI schema says about fields with these validators (netmon.api.AutoSchema).
validate_host_id.openapi_schema = {
    "pattern": f"^{HOST_ID_PATTERN.pattern}$",
    "not": {"enum": sorted(RESERVED_HOST_IDS)},
}


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_timezone(value: str) -> None:
    """A name from the time zone database.

    Looked up in the list of known zones rather than by opening ``ZoneInfo(value)``: that
    turns the value into a file path and fails with OSError on a long name or a directory
    ("Europe"), which was a 500. A long value is not repeated in the message.
    """
    if isinstance(value, str) and value in known_timezones():
        return
    shown = f"'{value}'" if isinstance(value, str) and len(value) <= MAX_TIMEZONE_LENGTH else "This"
    raise ValidationError(f"{shown} is not an IANA time zone (e.g. Europe/Berlin).", code="invalid")


validate_timezone.openapi_schema = {"enum": sorted(known_timezones())}
