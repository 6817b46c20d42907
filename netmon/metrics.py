"""``GET /metrics``: the state of this monitor in the Prometheus text format.

Every figure is computed from the database (and the shared cache) at scrape time by
one custom collector; nothing is counted in the memory of a web process. Under
gunicorn every request may land on another worker process, and when scaled out the
monitor loops and task workers run in other containers: in-process counters (or
``PROMETHEUS_MULTIPROC_DIR``, which only merges processes of one machine) would give
each web process its own partial truth. The database is the one place every process
shares, so any web process — on any machine — answers the same. Counters that must
survive pruning come from monotonic values (the heartbeat table's autoincrement id);
the monitor loops publish their cycle figures through the cache (``monitor_stats``).

Access: an API key (``Authorization: Bearer nmk_…``, any access level), or a client
address inside ``METRICS_ALLOWED_IPS``. A wrong key gets 401 (429 once its address failed
too often, accounts/throttle.py); no key gets 403 from an address outside a configured
allow-list, 401 when there is none.
"""

import importlib
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import connection
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from accounts.authentication import TooManyFailures, authenticate_api_key
from accounts.throttle import client_address
from alerts.choices import AlertKind, AlertState, DeliveryState
from alerts.models import Alert, Channel, Delivery
from heartbeats.models import Heartbeat
from hosts.choices import LATE, HostStatus
from hosts.models import Host, MonitorState
from hosts.querysets import late_q
from netmon import monitor_stats

log = logging.getLogger("netmon.metrics")

# Apps built separately: their figures are included only when they are installed.
OPTIONAL_APPS = ("connectivity", "analysis")
# Fields by which the rows of an optional app's models are counted, first match wins.
STATE_FIELDS = ("status", "state", "result", "outcome", "severity", "level")
HOST_STATES = [HostStatus.NEW, HostStatus.UP, LATE, HostStatus.DOWN, HostStatus.PAUSED]


def _timestamp(value) -> float:
    return value.timestamp() if value is not None else 0.0


class NetmonCollector(Collector):
    """Collects everything at scrape time; each part fails on its own (see ``collector_ok``)."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        parts: list[tuple[str, Callable[[], Iterable[Metric]]]] = [
            ("hosts", lambda: self.hosts(now)),
            ("heartbeats", self.heartbeats),
            ("monitor", lambda: self.monitor(now)),
            ("alerts", lambda: self.alerts(now)),
            ("tasks", self.tasks),
        ]
        parts += [(label, lambda label=label: optional_app(label)) for label in OPTIONAL_APPS]
        yield self.build_info()
        health = GaugeMetricFamily(
            "netmon_metrics_collector_success",
            "1 if this part of the metrics was collected, 0 if it failed (see the server log)",
            labels=["collector"],
        )
        for name, part in parts:
            try:
                families = list(part())  # all or nothing per part
            except Exception as error:  # logged on every scrape: no traceback unless debugging
                log.warning(
                    "metrics: collecting %s failed: %r", name, error, exc_info=log.isEnabledFor(10)
                )
                health.add_metric([name], 0)
                continue
            health.add_metric([name], 1)
            yield from families
        yield health

    def build_info(self) -> Metric:
        try:
            release = version("netmon")
        except PackageNotFoundError:
            release = "unknown"
        info = GaugeMetricFamily(
            "netmon_build_info",
            "Always 1; the labels say which netmon runs on what",
            labels=["version", "database", "task_broker"],
        )
        info.add_metric([release, connection.vendor, settings.TASK_BROKER], 1)
        return info

    def hosts(self, now) -> Iterator[Metric]:
        overdue = Q(status=HostStatus.UP, next_deadline__lte=now)
        figures = Host.objects.aggregate(
            **{str(state): Count("id", filter=Q(status=state)) for state in HostStatus.values},
            late=Count("id", filter=late_q(now)),
            flapping=Count("id", filter=Q(flapping_since__isnull=False)),
            overdue=Count("id", filter=overdue),
            oldest=Min("next_deadline", filter=overdue),
        )
        figures[HostStatus.UP] -= figures[LATE]
        by_status = GaugeMetricFamily(
            "netmon_hosts",
            "Hosts by state (late: up, but past the expected time and inside the grace period)",
            labels=["status"],
        )
        for state in HOST_STATES:
            by_status.add_metric([str(state)], figures[str(state)])
        yield by_status
        yield GaugeMetricFamily(
            "netmon_hosts_flapping", "Hosts muted as flapping", value=figures["flapping"]
        )
        yield GaugeMetricFamily(
            "netmon_hosts_overdue",
            "Up hosts past their deadline that no monitor loop has marked down yet",
            value=figures["overdue"],
        )
        lag = (now - figures["oldest"]).total_seconds() if figures["oldest"] else 0.0
        yield GaugeMetricFamily(
            "netmon_sweep_lag_seconds",
            "How long the oldest passed deadline has waited for a monitor loop (0: none waits)",
            value=max(0.0, lag),
        )

    def heartbeats(self) -> Iterator[Metric]:
        newest = Heartbeat.objects.order_by("-id").values_list("id", "received_at").first()
        received, last_at = newest if newest else (0, None)
        # Ids are never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so the
        # largest one counts every heartbeat ever stored, pruned ones included.
        yield CounterMetricFamily(
            "netmon_heartbeats_received",
            "Heartbeats recorded since the database was created",
            value=received,
        )
        yield GaugeMetricFamily(
            "netmon_last_heartbeat_timestamp_seconds",
            "When the newest heartbeat of any host was received (0: never)",
            value=_timestamp(last_at),
        )

    def monitor(self, now) -> Iterator[Metric]:
        last_sweep = MonitorState.objects.filter(pk=1).values_list("last_sweep_at", flat=True)
        yield GaugeMetricFamily(
            "netmon_monitor_last_sweep_timestamp_seconds",
            "When a monitor loop last swept for overdue hosts (0: never)",
            value=_timestamp(last_sweep.first()),
        )
        loops = monitor_stats.loop_stats()
        yield GaugeMetricFamily(
            "netmon_monitor_loops",
            f"Monitor loops that reported in the last {monitor_stats.EXPIRE_SECONDS} s",
            value=len(loops),
        )
        cycles = SummaryMetricFamily(
            "netmon_monitor_cycle_duration_seconds",
            "Duration of the monitor loop's cycles (sweep, reminders, dispatch) since it started",
            labels=["loop"],
        )
        last = GaugeMetricFamily(
            "netmon_monitor_cycle_last_seconds", "Duration of the latest cycle", labels=["loop"]
        )
        longest = GaugeMetricFamily(
            "netmon_monitor_cycle_max_seconds",
            f"Longest cycle in the latest {monitor_stats.FLUSH_SECONDS:g} s window",
            labels=["loop"],
        )
        failed = CounterMetricFamily(
            "netmon_monitor_failed_cycles",
            "Cycles that failed on a database error since the loop started",
            labels=["loop"],
        )
        marked = CounterMetricFamily(
            "netmon_monitor_hosts_marked_down",
            "Hosts this loop marked down since it started",
            labels=["loop"],
        )
        for entry in loops:
            labels = [entry["loop"]]
            cycles.add_metric(labels, entry["cycles"], entry["seconds_total"])
            last.add_metric(labels, entry["last_seconds"])
            longest.add_metric(labels, entry["max_seconds"])
            failed.add_metric(labels, entry["failed_cycles"])
            marked.add_metric(labels, entry["hosts_marked_down"])
        yield from (cycles, last, longest, failed, marked)

    def alerts(self, now) -> Iterator[Metric]:
        by_kind = GaugeMetricFamily(
            "netmon_alerts",
            f"Alerts in the outbox by kind and state (kept {settings.ALERT_KEEP_DAYS} days)",
            labels=["kind", "state"],
        )
        counts = dict.fromkeys(((k, s) for k in AlertKind.values for s in AlertState.values), 0)
        for kind, state, n in (
            Alert.objects.order_by().values_list("kind", "state").annotate(n=Count("id"))
        ):
            counts[(kind, state)] = n
        for (kind, state), n in counts.items():
            by_kind.add_metric([kind, state], n)
        yield by_kind

        channel_labels = ["channel", "channel_id", "kind"]
        families = {
            "backlog": GaugeMetricFamily(
                "netmon_alert_backlog",
                "Deliveries waiting to be sent (pending), per channel",
                labels=channel_labels,
            ),
            "retrying": GaugeMetricFamily(
                "netmon_alert_deliveries_retrying",
                "Pending deliveries that failed at least once and wait for a retry",
                labels=channel_labels,
            ),
            "oldest": GaugeMetricFamily(
                "netmon_alert_backlog_oldest_seconds",
                "Age of the oldest alert still pending for the channel (0: none)",
                labels=channel_labels,
            ),
            "sent": GaugeMetricFamily(
                "netmon_alert_deliveries_sent",
                "Deliveries sent, among the alerts kept",
                labels=channel_labels,
            ),
            "failed": GaugeMetricFamily(
                "netmon_alert_delivery_failures",
                "Deliveries given up (refused payload or retries exhausted), among alerts kept",
                labels=channel_labels,
            ),
            "broken": GaugeMetricFamily(
                "netmon_alert_channel_broken",
                "1 while the channel is marked broken (401/403/404 from its endpoint)",
                labels=channel_labels,
            ),
            "errors": GaugeMetricFamily(
                "netmon_alert_channel_consecutive_failures",
                "Failed sends in a row (server errors, timeouts) since the last success",
                labels=channel_labels,
            ),
            "enabled": GaugeMetricFamily(
                "netmon_alert_channel_enabled", "1 if the channel is enabled", labels=channel_labels
            ),
        }
        states = {
            (channel_id, state): n
            for channel_id, state, n in Delivery.objects.order_by()
            .values_list("channel_id", "state")
            .annotate(n=Count("id"))
        }
        pending = {
            row["channel_id"]: row
            for row in Delivery.objects.order_by()
            .filter(state=DeliveryState.PENDING)
            .values("channel_id")
            .annotate(
                retrying=Count("id", filter=Q(attempts__gt=0)), oldest=Min("alert__created_at")
            )
        }
        for channel in Channel.objects.order_by("pk"):
            labels = [channel.name, str(channel.pk), channel.kind]
            waiting = pending.get(channel.pk, {})
            oldest = waiting.get("oldest")
            families["backlog"].add_metric(
                labels, states.get((channel.pk, DeliveryState.PENDING), 0)
            )
            families["retrying"].add_metric(labels, waiting.get("retrying", 0))
            families["oldest"].add_metric(
                labels, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            )
            families["sent"].add_metric(labels, states.get((channel.pk, DeliveryState.SENT), 0))
            families["failed"].add_metric(labels, states.get((channel.pk, DeliveryState.FAILED), 0))
            families["broken"].add_metric(labels, 1 if channel.broken_at else 0)
            families["errors"].add_metric(labels, channel.consecutive_failures)
            families["enabled"].add_metric(labels, 1 if channel.enabled else 0)
        yield from families.values()

    def tasks(self) -> Iterator[Metric]:
        from django_q.brokers import get_broker
        from django_q.status import Stat

        yield GaugeMetricFamily(
            "netmon_task_queue_length",
            "Tasks queued for the task cluster and not yet taken by a worker",
            value=get_broker().queue_size(),
        )
        alive = [c for c in Stat.get_all() if c.status not in ("Stopped", "Stopping")]
        yield GaugeMetricFamily(
            "netmon_task_clusters", "Task clusters (qcluster) running", value=len(alive)
        )
        yield GaugeMetricFamily(
            "netmon_task_workers",
            "Task worker processes in the running clusters",
            value=sum(len(c.workers) for c in alive),
        )


def optional_app(label: str) -> Iterator[Metric]:
    """Figures of an app built separately, when it is installed.

    The app may provide ``<label>/metrics.py`` with ``collect()`` yielding metric
    families of its own. Otherwise the figures below (``BUILT_IN``) are read from its
    models; should those models have changed, their rows are counted instead, by their
    state (or severity) field where they have one, so that a scrape never breaks.
    """
    if not apps.is_installed(label):
        return
    try:
        module = importlib.import_module(f"{label}.metrics")
    except ModuleNotFoundError as error:
        if error.name != f"{label}.metrics":
            raise
        module = None
    if module is not None and hasattr(module, "collect"):
        yield from module.collect()
        return
    built_in = BUILT_IN.get(label)
    if built_in is not None:
        try:
            families = list(built_in())
        except (LookupError, FieldError, AttributeError):  # its models changed under us
            log.warning("metrics: the %s models changed; counting their rows instead", label)
        else:
            yield from families
            return
    yield from model_counts(label)


def connectivity_metrics() -> Iterator[Metric]:
    """Our own internet link, from the connectivity app's ``LinkState``, checks and outages."""
    link_state = apps.get_model("connectivity", "LinkState")
    check = apps.get_model("connectivity", "ConnectivityCheck")
    outage = apps.get_model("connectivity", "Outage")
    state = link_state.objects.filter(pk=1).first()
    link = GaugeMetricFamily(
        "netmon_connectivity_link_up",
        "1 while the last connectivity check found the link up, 0 while down "
        "(absent before the first check)",
    )
    if state is not None and state.link_up is not None:
        link.add_metric([], 1 if state.link_up else 0)
    yield link
    yield GaugeMetricFamily(
        "netmon_connectivity_last_check_timestamp_seconds",
        "When the link was last checked (0: never)",
        value=_timestamp(state.last_check_at if state else None),
    )
    yield GaugeMetricFamily(
        "netmon_connectivity_failure_streak",
        "Failed connectivity checks in a row",
        value=state.failure_streak if state else 0,
    )
    newest = check.objects.order_by("-id").values_list("id", "duration_ms").first()
    yield CounterMetricFamily(
        "netmon_connectivity_checks",
        "Connectivity checks made since the database was created",
        value=newest[0] if newest else 0,
    )
    yield GaugeMetricFamily(
        "netmon_connectivity_last_check_duration_seconds",
        "Duration of the latest connectivity check",
        value=newest[1] / 1000 if newest else 0.0,
    )
    outages = GaugeMetricFamily(
        "netmon_connectivity_outages", "Outages of the link on record", labels=["state"]
    )
    ongoing = outage.objects.filter(ended_at__isnull=True)
    outages.add_metric(["ongoing"], ongoing.count())
    outages.add_metric(["ended"], outage.objects.filter(ended_at__isnull=False).count())
    yield outages
    started = ongoing.order_by("started_at").values_list("started_at", flat=True).first()
    yield GaugeMetricFamily(
        "netmon_connectivity_outage_started_timestamp_seconds",
        "When the ongoing outage started (0: none)",
        value=_timestamp(started),
    )


def analysis_metrics() -> Iterator[Metric]:
    """Log analysis: runs by status, findings by severity, sources by whether they work."""
    run = apps.get_model("analysis", "AnalysisRun")
    finding = apps.get_model("analysis", "Finding")
    source = apps.get_model("analysis", "LogSource")
    newest = run.objects.order_by("-id").values_list("id", flat=True).first()
    yield CounterMetricFamily(
        "netmon_analysis_runs",
        "Analysis runs started since the database was created",
        value=newest or 0,
    )
    runs = GaugeMetricFamily(
        "netmon_analysis_runs_kept", "Analysis runs on record by status", labels=["status"]
    )
    for status, n in (
        run.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    ):
        runs.add_metric([status], n)
    yield runs
    findings = GaugeMetricFamily(
        "netmon_analysis_findings", "Findings on record by severity", labels=["severity"]
    )
    for severity, n in (
        finding.objects.order_by()
        .values("severity")
        .annotate(n=Count("id"))
        .values_list("severity", "n")
    ):
        findings.add_metric([severity], n)
    yield findings
    sources = source.objects.aggregate(
        ok=Count("id", filter=Q(enabled=True, failure_streak=0)),
        failing=Count("id", filter=Q(enabled=True, failure_streak__gt=0)),
        disabled=Count("id", filter=Q(enabled=False)),
    )
    family = GaugeMetricFamily(
        "netmon_analysis_sources",
        "Log sources: ok, failing (their last runs failed) or disabled",
        labels=["state"],
    )
    for state, n in sources.items():
        family.add_metric([state], n)
    yield family


BUILT_IN: dict[str, Callable[[], Iterable[Metric]]] = {
    "connectivity": connectivity_metrics,
    "analysis": analysis_metrics,
}


def model_counts(label: str) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        f"netmon_{label}_records",
        f"Rows of the {label} app's models, by their state field where they have one",
        labels=["model", "field", "value"],
    )
    for model in apps.get_app_config(label).get_models():
        names = {f.name for f in model._meta.concrete_fields if not f.is_relation}
        field = next((name for name in STATE_FIELDS if name in names), None)
        rows = model._default_manager.order_by()
        if field is None:
            family.add_metric([model._meta.model_name, "", ""], rows.count())
            continue
        for value, n in rows.values(field).annotate(n=Count("pk")).values_list(field, "n"):
            family.add_metric([model._meta.model_name, field, str(value)], n)
    yield family


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(NetmonCollector())


# Access ------------------------------------------------------------------------------------


def address_allowed(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    candidates = [ip]
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:10.0.0.1 from a dual-stack socket
        candidates.append(ip.ipv4_mapped)
    allowed = [ipaddress.ip_network(network, strict=False) for network in networks]
    return any(candidate in network for candidate in candidates for network in allowed)


def _refused(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="netmon"'
    return response


def access_refused(request: HttpRequest) -> JsonResponse | None:
    """None when the request may read the metrics, else the 401/403 answer."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        try:
            api_key = authenticate_api_key(request, key.strip())
        except TooManyFailures as refusal:
            response = _refused(429, f"{refusal} Retry in {refusal.wait} s.")
            response["Retry-After"] = str(refusal.wait)
            return response
        return None if api_key is not None else _refused(401, "Invalid API key.")
    networks = settings.METRICS_ALLOWED_IPS
    if networks and address_allowed(client_address(request) or "", networks):
        return None
    if networks:
        return _refused(403, "This address may not read the metrics; send an API key.")
    return _refused(401, "An API key is needed: Authorization: Bearer nmk_…")


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = access_refused(request)
    if refused is not None:
        return refused
    started = time.monotonic()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(REGISTRY)
    log.debug("metrics collected in %.3f s", time.monotonic() - started)
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
