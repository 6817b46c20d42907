"""Shared pieces of the REST API."""

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware
from rest_framework import serializers
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus Django's model ValidationError as a 400 naming the fields."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = serializers.ValidationError(detail)
    return drf_exception_handler(exc, context)


def parse_time_param(params, name: str) -> datetime | None:
    """An ISO 8601 query parameter as an aware datetime (UTC when no offset is given)."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise serializers.ValidationError({name: "Expected an ISO 8601 date-time."})
    return make_aware(value) if is_naive(value) else value
