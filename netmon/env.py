"""Strict parsing of environment variables.

Every reader raises ``ImproperlyConfigured`` with the variable's name when a
value cannot be parsed, so a typo stops start-up instead of silently falling
back to a default.
"""

import os
import secrets
from datetime import time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from django.core.exceptions import ImproperlyConfigured

from netmon.data_files import make_private_directory, tighten

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _fail(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={value!r} is invalid: expected {expected}")


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in TRUE_WORDS:
        return True
    if value.lower() in FALSE_WORDS:
        return False
    raise _fail(name, value, "true or false")


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _fail(name, value, "a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise _fail(name, value, f"a number from {minimum} to {maximum}")
    return number


def env_float(name: str, default: float, minimum: float = 0.0, maximum: float = 1e9) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _fail(name, value, "a number") from None
    if not minimum <= number <= maximum:
        raise _fail(name, value, f"a number from {minimum} to {maximum}")
    return number


def env_time(name: str, default: str) -> time:
    value = _raw(name) or default
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise _fail(name, value, "a time of day as HH:MM") from None


def env_weekdays(name: str, default: str) -> tuple[int, ...]:
    """Days of the week as ISO numbers, 1 = Monday … 7 = Sunday."""
    value = _raw(name) or default
    try:
        days = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError:
        raise _fail(name, value, "comma-separated day numbers, 1 = Monday … 7 = Sunday") from None
    if not days or any(day < 1 or day > 7 for day in days):
        raise _fail(name, value, "comma-separated day numbers, 1 = Monday … 7 = Sunday")
    return days


def env_timezone(name: str, default: str) -> str:
    value = _raw(name) or default
    # The list, not ZoneInfo(value): "Europe" names a directory of the zone database,
    # and opening it raised IsADirectoryError, a traceback instead of this message.
    if value not in available_timezones():
        raise _fail(name, value, "an IANA time zone such as Europe/Berlin")
    return value


def env_url(name: str, default: str = "", schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = _raw(name)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise _fail(name, value, f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value


def env_list(name: str, default: str = "", choices: tuple[str, ...] = ()) -> list[str]:
    value = _raw(name) or default
    items = [part.strip() for part in value.split(",") if part.strip()]
    if choices and not set(items) <= set(choices):
        raise _fail(name, value, f"a comma-separated list of {', '.join(choices)}")
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_raw(name) or default).lower()
    if value not in choices:
        raise _fail(name, value, f"one of {', '.join(choices)}")
    return value


def secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in ``data_dir``."""
    value = _raw("SECRET_KEY")
    if value is not None:
        if len(value) < 32:
            raise _fail("SECRET_KEY", "***", "at least 32 characters")
        return value
    path = data_dir / "secret_key"
    if path.exists():
        tighten(path)
        return path.read_text().strip()
    make_private_directory(data_dir)
    key = secrets.token_urlsafe(50)
    temporary = data_dir / f".secret_key.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    try:
        os.link(temporary, path)  # atomic: the first process to start wins
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        temporary.unlink()
    return key
