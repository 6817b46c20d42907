"""The API's page parameters, ``limit`` and ``offset``: checked, bounded and documented.

Kept apart from ``netmon.api``: DRF imports the pagination class while its own generic
views are half imported, so this module must not import drf-spectacular.
"""

from rest_framework import pagination, serializers

MAX_PAGE_SIZE = 1000
# Far beyond any table here, far below what SQLite and PostgreSQL can take (2^63 - 1).
MAX_OFFSET = 1_000_000_000


def int_param(params, name: str, minimum: int, maximum: int, default: int) -> int:
    """A whole-number query parameter within [minimum, maximum]; blank means ``default``."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise serializers.ValidationError(
            {name: f"Expected a whole number from {minimum} to {maximum}."}
        )
    return int(raw)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pages, with parameters that are checked instead of trusted.

    DRF ignores a limit or offset it cannot read, and passes any number it can to the
    database: ``limit=2**63`` was a 500. Here both are bounded, and anything else is a 400
    naming the parameter. The bounds are in the OpenAPI schema.
    """

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        return int_param(
            request.query_params, self.limit_query_param, 1, self.max_limit, self.default_limit
        )

    def get_offset(self, request) -> int:
        return int_param(request.query_params, self.offset_query_param, 0, MAX_OFFSET, 0)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] |= bounds[parameter["name"]]
        return parameters
