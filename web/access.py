"""Who may see and do what on the web pages.

* The dashboard (HTML, its JSON and the host pages) needs a login, unless
  ``NETMON_PUBLIC_DASHBOARD`` is on: then anyone may look, read-only, without tokens,
  heartbeat payloads, setup instructions or channel names.
* Logged-in users see everything; only staff may change anything (acknowledge, edit,
  rotate, import) and only staff see the configuration manager — the same rule as the API.
"""

from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme


@dataclass(frozen=True)
class Viewer:
    authenticated: bool
    staff: bool
    public: bool  # the dashboard is public (NETMON_PUBLIC_DASHBOARD)

    @classmethod
    def of(cls, request: HttpRequest) -> "Viewer":
        user = request.user
        return cls(
            authenticated=user.is_authenticated,
            staff=user.is_authenticated and user.is_active and user.is_staff,
            public=settings.NETMON_PUBLIC_DASHBOARD,
        )

    @property
    def can_write(self) -> bool:
        return self.staff

    @property
    def sees_details(self) -> bool:
        """Token prefixes, payloads, setup instructions, names of people and channels."""
        return self.authenticated


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def dashboard_access(view):
    """Logged-in users, or anyone when the dashboard is public; JSON callers get a 401."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.viewer = Viewer.of(request)
        if request.viewer.authenticated or request.viewer.public:
            return view(request, *args, **kwargs)
        if wants_json(request) or request.path == reverse("web:dashboard-data"):
            return JsonResponse(
                {"detail": "Log in to see the dashboard.", "login_url": reverse("web:login")},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return wrapper


def staff_only(view):
    """Staff users; anonymous users are sent to the login, others get a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.viewer = Viewer.of(request)
        if request.viewer.staff:
            return view(request, *args, **kwargs)
        if not request.viewer.authenticated and request.method == "GET":
            return redirect_to_login(request.get_full_path())
        message = "A staff account is needed for this."
        if wants_json(request):
            return JsonResponse({"detail": message}, status=403)
        return render(request, "web/403.html", {"message": message}, status=403)

    return wrapper


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` field or parameter when it points into this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
