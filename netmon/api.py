"""Shared pieces of the REST API."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware
from django.views import defaults
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus Django's model ValidationError as a 400 naming the fields."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = serializers.ValidationError(detail)
    return drf_exception_handler(exc, context)


def parse_time_param(params, name: str) -> datetime | None:
    """An ISO 8601 query parameter as an aware datetime in UTC (UTC when no offset is given).

    Converted here, where it can be refused: a time near year 1 or 9999 with an offset has
    no UTC equivalent, and the database driver's conversion raised OverflowError (a 500).
    """
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise serializers.ValidationError({name: "Expected an ISO 8601 date-time."})
    try:
        return (make_aware(value) if is_naive(value) else value).astimezone(UTC)
    except (OverflowError, ValueError):
        raise serializers.ValidationError(
            {name: "Out of range: the time must lie between years 1 and 9999 in UTC."}
        ) from None


ERROR_RESPONSES = {
    "400": "Invalid input; the body names each field (or query parameter) and what is wrong.",
    "401": "No credentials, or unknown ones.",
    "403": "These credentials may not do this (e.g. a read-only API key writing).",
    "404": "No such object.",
    "429": "Too many failed authentications from this address; try again after Retry-After.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Messages by field name, or ``detail`` for the whole request.",
    "additionalProperties": {},
}


# Query parameters read by parse_time_param wherever they appear.
TIME_PARAMETERS = ("since", "until")


def document_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the error answers of every operation.

    The schema then says what clients (and schemathesis) can get besides success: 400
    wherever there is input, 401/403 where credentials are needed (and 429 when too many
    were wrong: accounts.throttle), 404 for paths naming an object. ``since`` and
    ``until`` are documented as the date-times that ``parse_time_param`` reads, whatever
    type a view declared them with.
    """
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            parameters = operation.get("parameters", [])
            for parameter in parameters:
                if parameter["name"] in TIME_PARAMETERS and parameter["in"] == "query":
                    parameter["schema"] = {"type": "string", "format": "date-time"}
            codes = []
            if parameters or "requestBody" in operation:
                codes.append("400")
            if {} not in operation.get("security", [{}]):
                codes += ["401", "403", "429"]
            if any(p.get("in") == "path" for p in parameters) or "{" in path:
                codes.append("404")
            responses = operation["responses"]
            for code in codes:
                responses.setdefault(code, {"description": ERROR_RESPONSES[code]})
            for code, response in responses.items():  # also those a view documents itself
                if code.startswith("4"):
                    response.setdefault("content", {"application/json": {"schema": ERROR_SCHEMA}})
    return result


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, plus what validators say about themselves.

    A rule written as a function (``hosts.validators.validate_host_id``) is invisible to
    drf-spectacular; a validator with an ``openapi_schema`` dict (a pattern, an enum) has
    it added to the field, so clients and schemathesis know the rule without a copy of it.
    """

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        for validator in getattr(field, "validators", []):
            schema.update(getattr(validator, "openapi_schema", {}))
        return schema


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer nmk_…`` (``accounts.authentication``) in the schema."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_key` (read or read-write).",
        }


def not_found(request, exception):
    """Under /api/, a 404 in JSON as DRF gives it (a path no route matches, e.g. an id with
    a dot, never reaches DRF); Django's page elsewhere, and for browsers asking for HTML
    (the dashboard's pages live under /api/ too)."""
    wants_html = "text/html" in request.headers.get("Accept", "")
    if request.path.startswith("/api/") and not wants_html:
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def actor(request) -> str:
    """Who made an API request, as alerts, findings and windows record it: the user's
    name, or the API key's."""
    if request.user is not None and request.user.is_authenticated:
        return request.user.get_username()
    api_key = getattr(request, "auth", None)
    return f"API key {api_key.name}" if api_key is not None else ""
