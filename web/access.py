"""Who may see and do what on the web pages: the API's rule (``accounts.permissions``).

* ``accounts.view_monitoring`` (group Viewer and up) sees the dashboard, its JSON and the
  host pages with their details: token prefixes, payloads, setup instructions, names of
  people and channels.
* ``accounts.operate_monitoring`` (Operator and up) also acknowledges alerts and uses the
  configuration manager: add, edit, delete, rotate, import and export hosts.
* ``accounts.manage_log_sources`` (Administrator) also sets up log analysis, tests its
  connection and runs it now, and imports YAML that changes a ``log_analysis_config``.
* ``accounts.manage_channels`` (Administrator) also sees and sets up the alert channels
  and sends them test notifications.
* Anyone else — anonymous, or logged in without these permissions (a new account no one
  has put in a group yet) — sees the dashboard only when ``NETMON_PUBLIC_DASHBOARD`` is on,
  read-only and without the details. Otherwise anonymous users are sent to the login and
  logged-in ones get a 403 that says to ask an administrator.
"""

from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import (
    MANAGE_CHANNELS,
    MANAGE_LOG_SOURCES,
    OPERATE_MONITORING,
    VIEW_MONITORING,
)
from accounts.permissions import REFUSALS, user_may
from hosts.config_io import ImportPlan

NO_GROUP = (
    "Your account may not see the dashboard yet: ask an administrator to add it to the "
    "Viewer, Operator or Administrator group."
)


@dataclass(frozen=True)
class Viewer:
    authenticated: bool
    may_view: bool
    may_operate: bool
    may_manage_log_sources: bool
    may_manage_channels: bool
    public: bool  # the dashboard is public (NETMON_PUBLIC_DASHBOARD)

    @classmethod
    def of(cls, request: HttpRequest) -> "Viewer":
        user = request.user
        return cls(
            authenticated=user.is_authenticated,
            may_view=user_may(user, VIEW_MONITORING),
            may_operate=user_may(user, OPERATE_MONITORING),
            may_manage_log_sources=user_may(user, MANAGE_LOG_SOURCES),
            may_manage_channels=user_may(user, MANAGE_CHANNELS),
            public=settings.NETMON_PUBLIC_DASHBOARD,
        )

    def may(self, capability: str) -> bool:
        return {
            VIEW_MONITORING: self.may_view,
            OPERATE_MONITORING: self.may_operate,
            MANAGE_LOG_SOURCES: self.may_manage_log_sources,
            MANAGE_CHANNELS: self.may_manage_channels,
        }[capability]

    @property
    def can_write(self) -> bool:
        return self.may_operate

    @property
    def sees_details(self) -> bool:
        """Token prefixes, payloads, setup instructions, names of people and channels."""
        return self.may_view


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _refuse(request: HttpRequest, message: str):
    if wants_json(request) or request.path == reverse("web:dashboard-data"):
        return JsonResponse({"detail": message}, status=403)
    return render(request, "web/403.html", {"message": message}, status=403)


def dashboard_access(view):
    """Viewers and up, or anyone when the dashboard is public; anonymous JSON callers get
    a 401, logged-in users without a group a 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.viewer = Viewer.of(request)
        if request.viewer.may_view or request.viewer.public:
            return view(request, *args, **kwargs)
        if request.viewer.authenticated:
            return _refuse(request, NO_GROUP)
        if wants_json(request) or request.path == reverse("web:dashboard-data"):
            return JsonResponse(
                {"detail": "Log in to see the dashboard.", "login_url": reverse("web:login")},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return wrapper


def requires(capability: str):
    """Users with ``capability``; anonymous users are sent to the login, others get a 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            request.viewer = Viewer.of(request)
            if request.viewer.may(capability):
                return view(request, *args, **kwargs)
            if not request.viewer.authenticated and request.method == "GET":
                return redirect_to_login(request.get_full_path())
            return _refuse(request, REFUSALS[capability])

        return wrapper

    return decorator


def import_refusal(viewer: Viewer, plan: ImportPlan) -> str | None:
    """Why ``viewer`` may not apply ``plan``: it sets, changes or removes the
    ``log_analysis_config`` of hosts, and ``viewer`` may not manage log sources."""
    if viewer.may_manage_log_sources:
        return None
    created = [values["host_id"] for values in plan.creates if values["log_analysis_config"]]
    updated = [
        host_id
        for host_id, changes in plan.updates.items()
        if any(change.field == "log_analysis_config" for change in changes)
    ]
    if not created + updated:
        return None
    hosts = ", ".join(created + updated)
    return f"log_analysis_config ({hosts}): {REFUSALS[MANAGE_LOG_SOURCES]}"


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` field or parameter when it points into this site, else ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
