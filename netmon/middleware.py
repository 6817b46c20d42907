"""Refuse NUL characters in URLs before a view passes them to the database.

A NUL can be sent percent-encoded (``%00``) in a path or a query parameter, and Django
passes it on. SQLite stores it; PostgreSQL refuses any text containing it with a
DataError, which every API filter and lookup turned into a 500. No route, host_id, filter
or search term contains one: a path with a NUL names nothing (404), and a query parameter
with one is a 400 naming the parameter in the REST API. The web pages read their own
parameters leniently (the dashboard drops a NUL from its search) and are left to do so.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.views import APIView

from netmon.api import not_found

NUL = "\x00"


class RefuseNulCharacters:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path:
            return not_found(request, None)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs) -> HttpResponse | None:
        view_class = getattr(view_func, "cls", None)  # set by DRF's as_view()
        if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
            return None
        for name, values in request.GET.lists():
            if NUL in name or any(NUL in value for value in values):
                field = name.replace(NUL, "\\x00")
                return JsonResponse({field: "NUL characters are not allowed."}, status=400)
        return None
