"""Probing the targets: DNS lookup, TCP connect and HTTP request, all targets at once.

Every target gets the same time budget for all of its steps together. The probes run in
threads of their own and the caller waits for them until the budget is spent, not a
moment longer: a target that hangs (a resolver that never answers, a server that accepts
the connection and stays silent) is reported as timed out at the step it was in, and the
check goes on. Its thread is a daemon and finishes on its own once its socket times out —
a ``ThreadPoolExecutor`` would not do here, as its threads are joined at interpreter exit.
"""

import socket
import threading
import time
from dataclasses import asdict, dataclass

import requests
import urllib3

from connectivity.config import Target

USER_AGENT = "netmon connectivity check"
# How long after the budget the caller waits for a probe to write down its own timeout.
GRACE_SECONDS = 0.2
MAX_ADDRESSES = 3


@dataclass
class TargetResult:
    """One target in one check. Times are milliseconds; None: the step was not taken."""

    target: str
    kind: str
    ok: bool = False
    address: str = ""
    dns_ms: int | None = None
    tcp_ms: int | None = None
    http_ms: int | None = None
    http_status: int | None = None
    latency_ms: int | None = None
    failed_step: str = ""  # "dns", "tcp" or "http" when not ok
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def resolve(host: str, port: int) -> list[tuple[int, tuple]]:
    """``(family, sockaddr)`` of ``host`` through the system resolver. Tests replace this."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


class ProbeFailed(Exception):
    pass


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _http_error(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "no answer in time"
    if isinstance(error, requests.exceptions.SSLError):
        reason = str(error.args[0]) if error.args else ""
        for known in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "WRONG_VERSION"):
            if known in reason:
                return f"TLS error: {known.lower().replace('_', ' ')}"
        return "TLS error"
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        if "refused" in text.lower():
            return "connection refused"
        if "RemoteDisconnected" in text or "reset" in text.lower():
            return "connection closed without an answer"
        return "connection failed"
    return error.__class__.__name__


def _socket_error(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return (error.strerror or error.__class__.__name__).lower()


class Probe:
    """Probes one target against a deadline (``time.monotonic()``); run() in a thread."""

    def __init__(self, target: Target, deadline: float):
        self.target = target
        self.deadline = deadline
        self.step = "dns" if target.needs_dns else "tcp"
        self.result = TargetResult(target.spec, target.kind)
        self.done = threading.Event()

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeFailed("timed out")
        return left

    def run(self) -> None:
        started = time.monotonic()
        try:
            addresses = self._dns()
            if self.target.kind in ("http", "tcp"):
                self._tcp(addresses)
            if self.target.kind == "http":
                self._http()
            self.result.ok = True
        except ProbeFailed as failure:
            self.result.failed_step = self.step
            self.result.error = str(failure)
        except Exception as error:  # a probe must never take the check down
            self.result.failed_step = self.step
            self.result.error = f"{error.__class__.__name__}: {error}"[:200]
        self.result.latency_ms = _ms(time.monotonic() - started)
        self.done.set()

    def _dns(self) -> list[tuple[int, tuple]]:
        target = self.target
        port = target.port or 0
        if not target.needs_dns:
            family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
            self.result.address = target.host
            return [(family, (target.host, port))]
        self.step = "dns"
        self.remaining()
        started = time.monotonic()
        try:
            addresses = resolve(target.host, port)
        except (socket.gaierror, UnicodeError) as error:
            reason = getattr(error, "strerror", "") or str(error)
            raise ProbeFailed(f"name not resolved ({reason})") from None
        except OSError as error:
            raise ProbeFailed(f"lookup failed ({_socket_error(error)})") from None
        self.result.dns_ms = _ms(time.monotonic() - started)
        if not addresses:
            raise ProbeFailed("the name has no address")
        self.result.address = str(addresses[0][1][0])
        self.step = "tcp" if target.kind != "dns" else "dns"
        return addresses

    def _tcp(self, addresses: list[tuple[int, tuple]]) -> None:
        self.step = "tcp"
        error_text = "no address"
        for family, sockaddr in addresses[:MAX_ADDRESSES]:
            timeout = self.remaining()
            started = time.monotonic()
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            except OSError as error:
                error_text = _socket_error(error)
                continue
            finally:
                sock.close()
            self.result.tcp_ms = _ms(time.monotonic() - started)
            self.result.address = str(sockaddr[0])
            return
        raise ProbeFailed(error_text)

    def _http(self) -> None:
        self.step = "http"
        timeout = self.remaining()
        started = time.monotonic()
        session = requests.Session()
        session.trust_env = False  # we test our own link: no proxies from the environment
        try:
            response = session.get(
                self.target.url,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,  # the status line is enough; never download a big body
                headers={"User-Agent": USER_AGENT},
            )
            response.close()
        except requests.RequestException as error:
            raise ProbeFailed(_http_error(error)) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ProbeFailed(f"connection failed ({error.__class__.__name__})") from None
        finally:
            session.close()
        self.result.http_ms = _ms(time.monotonic() - started)
        self.result.http_status = response.status_code
        if response.status_code >= 500:
            raise ProbeFailed(f"HTTP {response.status_code}")

    def outcome(self, budget: float) -> TargetResult:
        """The result, or a timeout at the step the probe is stuck in."""
        if self.done.is_set():
            return self.result
        step = self.step
        names = {"dns": "DNS lookup", "tcp": "TCP connect", "http": "HTTP request"}
        return TargetResult(
            target=self.target.spec,
            kind=self.target.kind,
            address=self.result.address,
            dns_ms=self.result.dns_ms,
            tcp_ms=self.result.tcp_ms,
            latency_ms=_ms(budget),
            failed_step=step,
            error=f"{names[step]} did not finish within {budget:g} s",
        )


def probe_all(targets: list[Target], timeout: float) -> list[TargetResult]:
    """Probe every target concurrently; returns within ``timeout`` + a fraction of a second."""
    deadline = time.monotonic() + timeout
    probes = [Probe(target, deadline) for target in targets]
    for probe in probes:
        threading.Thread(target=probe.run, name=f"probe {probe.target.spec}", daemon=True).start()
    for probe in probes:
        probe.done.wait(max(0.0, deadline + GRACE_SECONDS - time.monotonic()))
    return [probe.outcome(timeout) for probe in probes]
