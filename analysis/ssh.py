"""Running one command over SSH (asyncssh) or locally, with timeouts and a cap on output.

Every problem becomes a :class:`CollectionError` with a kind and a message meant for a
person: the run records it and the worker goes on. The message is netmon's own sentence.
It never quotes what a library, a file, a command or a server said (a key file's first
line, a command's error output, a server's disconnect reason), because it is stored on the
run, returned by the API to every reader and sent in alerts.

Host keys are checked against the keys netmon pinned for the host and port
(``analysis.host_keys``), never against a file: the server must present one of them, and
only their key types are offered, so a server (or someone in between) with another key or
another type of key is refused before authentication; no key, command or data is sent to
it. With no key pinned, an unknown key is refused unless trust on first use is on for the
source; then ``on_first_use`` pins it, after the connection.
"""

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

logger = logging.getLogger(__name__)
STDERR_CAP = 64 * 1024
# The reasons of SSH_MSG_DISCONNECT (RFC 4253 11.1) by code: a server's own reason text is
# not shown, its code is.
DISCONNECT_REASONS = {
    1: "host not allowed to connect",
    2: "protocol error",
    3: "key exchange failed",
    5: "MAC error",
    6: "compression error",
    7: "service not available",
    8: "protocol version not supported",
    9: "host key not verifiable",
    10: "connection lost",
    11: "closed by the server",
    12: "too many connections",
    13: "authentication cancelled",
    14: "no more authentication methods available",
    15: "illegal user name",
}


class CollectionError(Exception):
    """Reading the log failed. ``kind`` classifies the failure (the list is in
    docs/log-analysis.md); the message says why in netmon's words."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class HostKeyChanged(CollectionError):
    """The server presented another key than the one pinned for its type: a security event,
    alerted on the first run that sees it."""

    def __init__(self, target: "SSHTarget", pinned: asyncssh.SSHKey, presented: asyncssh.SSHKey):
        super().__init__(
            f"host key of {target.where} changed: netmon pinned {describe_key(pinned)}, the "
            f"server presented {describe_key(presented)} (a reinstalled host, or someone in "
            "between). It was refused before authenticating: nothing was sent. If the change "
            "is expected, accept the new key in the admin (SSH host keys).",
            "host_key_changed",
        )
        self.host, self.port = target.host, target.port
        self.pinned, self.presented = pinned, presented


@dataclass
class Output:
    stdout: bytes
    stderr: bytes
    exit_status: int | None


@dataclass
class SSHTarget:
    host: str
    port: int
    user: str
    key_name: str  # for messages; the key itself is ``client_key``
    client_key: asyncssh.SSHKey | None
    pinned: list[asyncssh.SSHKey]
    trust_on_first_use: bool
    connect_timeout: float
    on_first_use: Callable[[asyncssh.SSHKey], None] = field(default=lambda key: None)

    @property
    def where(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"

    @property
    def host_key_algorithms(self) -> list[str]:
        """The host key types offered to the server: those of the pinned keys, else every
        plain key type (no certificates: netmon trusts no certificate authority)."""
        if not self.pinned:
            algorithms = get_default_public_key_algs()
        else:
            algorithms = [alg for key in self.pinned for alg in key.sig_algorithms]
        return [alg.decode("ascii") for alg in algorithms]


def run_ssh(target: SSHTarget, command: str, timeout: float, cap: int) -> Output:
    check = _HostKeyCheck(target)
    try:
        return asyncio.run(_run_ssh(target, check, command, timeout, cap))
    finally:
        # Outside the event loop: pinning writes to the database.
        if check.trusted_now:
            target.on_first_use(check.presented)


def run_local(command: str, timeout: float, cap: int) -> Output:
    return asyncio.run(_run_local(command, timeout, cap))


def describe_key(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


class _HostKeyCheck:
    """Decides on the key the server presents, and remembers it for the messages."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.presented: asyncssh.SSHKey | None = None
        self.trusted_now = False

    def pinned_of_type(self, key: asyncssh.SSHKey) -> asyncssh.SSHKey | None:
        return next(
            (pin for pin in self.target.pinned if pin.get_algorithm() == key.get_algorithm()),
            None,
        )

    def validate(self, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        if self.target.pinned:
            pinned = self.pinned_of_type(key)
            return pinned is not None and pinned.public_data == key.public_data
        if self.target.trust_on_first_use:
            self.trusted_now = True
            return True
        return False


def _client_factory(check: _HostKeyCheck):
    class Client(asyncssh.SSHClient):
        def validate_host_public_key(self, host, addr, port, key) -> bool:
            return check.validate(key)

    return Client


def _trust_nothing(host, addr, port):
    """asyncssh's known_hosts lookup, answered with nothing: every key goes to
    ``_HostKeyCheck``. (Leaving known_hosts unset would read ~/.ssh/known_hosts.)"""
    return [], [], []


async def _run_ssh(
    target: SSHTarget, check: _HostKeyCheck, command: str, timeout: float, cap: int
) -> Output:
    options = {
        "known_hosts": _trust_nothing,
        "server_host_key_algs": target.host_key_algorithms,
        "client_factory": _client_factory(check),
        "connect_timeout": target.connect_timeout,
        "config": None,
        "agent_path": None,
        "password": None,
        "kbdint_auth": False,
        "gss_auth": False,
        "preferred_auth": "publickey",
    }
    if target.client_key is not None:
        options["client_keys"] = [target.client_key]
    if target.user:
        options["username"] = target.user
    try:
        connection = await asyncio.wait_for(
            asyncssh.connect(target.host, target.port, **options), target.connect_timeout + 1
        )
    except Exception as error:  # every way of failing to connect gets a clear message
        raise _connect_error(target, check, error) from None
    async with connection:
        try:
            process = await connection.create_process(command, encoding=None)
        except asyncssh.Error as error:
            raise CollectionError(
                f"cannot start the command on {target.where}: {_ssh_reason(error)}", "ssh"
            ) from None
        try:
            return await _collect(process, timeout, cap, close=process.close)
        except asyncssh.Error as error:
            raise CollectionError(
                f"the SSH session to {target.where} failed: {_ssh_reason(error)}", "ssh"
            ) from None


def _ssh_reason(error: asyncssh.Error) -> str:
    return DISCONNECT_REASONS.get(error.code, f"error code {error.code}")


def _connect_error(target: SSHTarget, check: _HostKeyCheck, error: Exception) -> CollectionError:
    where = target.where
    presented = check.presented
    if isinstance(error, asyncssh.HostKeyNotVerifiable) and presented is not None:
        pinned = check.pinned_of_type(presented)
        if pinned is not None:
            return HostKeyChanged(target, pinned, presented)
        if not target.pinned:
            return CollectionError(
                f"unknown host key for {where}: netmon has no key pinned for it. The server "
                f"presented {describe_key(presented)}. Check that fingerprint on the host "
                "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add the key in the "
                "admin (SSH host keys) or enable trust on first use for this source.",
                "host_key_unknown",
            )
    # The server may notice first that no host key type is in common and hang up: then
    # the client sees the connection lost before any host key was presented.
    lost_in_key_exchange = isinstance(error, asyncssh.ConnectionLost) and presented is None
    if lost_in_key_exchange and target.pinned:
        types = ", ".join(sorted({key.get_algorithm() for key in target.pinned}))
        return CollectionError(
            f"key exchange with {where} failed: the server closed the connection before it "
            f"presented a host key; it may offer none of the pinned host key types ({types}) "
            "(a reinstalled host, or someone in between). Nothing was sent to it.",
            "key_exchange",
        )
    if isinstance(error, asyncssh.KeyExchangeFailed | asyncssh.HostKeyNotVerifiable):
        if target.pinned:
            types = ", ".join(sorted({key.get_algorithm() for key in target.pinned}))
            return CollectionError(
                f"key exchange with {where} failed: the server offers none of the pinned host "
                f"key types ({types}) (a reinstalled host, or someone in between); nothing was "
                "sent to it. If the change is expected, replace the host's key in the admin "
                "(SSH host keys).",
                "key_exchange",
            )
        return CollectionError(
            f"key exchange with {where} failed: no algorithm in common", "key_exchange"
        )
    if isinstance(error, asyncssh.PermissionDenied):
        key = f"key '{target.key_name}'" if target.key_name else "the default keys"
        return CollectionError(
            f"authentication failed for {where}: the server refused {key}", "auth_failed"
        )
    if isinstance(error, asyncssh.DisconnectError):
        return CollectionError(f"SSH connection to {where} failed: {_ssh_reason(error)}", "ssh")
    if isinstance(error, socket.gaierror):
        return CollectionError(f"cannot resolve {target.host}: {_os_reason(error)}", "dns")
    if isinstance(error, ConnectionRefusedError):
        return CollectionError(f"connection refused by {target.host}:{target.port}", "refused")
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return CollectionError(
            f"no SSH connection to {where} within {target.connect_timeout:g} s", "connect_timeout"
        )
    if isinstance(error, OSError):
        return CollectionError(
            f"cannot connect to {target.host}:{target.port}: {_os_reason(error)}", "network"
        )
    logger.warning("SSH connection to %s failed unexpectedly", where, exc_info=error)
    return CollectionError(f"SSH connection to {where} failed ({error.__class__.__name__})", "ssh")


def _os_reason(error: OSError) -> str:
    """The C library's text for the error (``strerror``), never ``str(error)``, which may
    carry a file name."""
    return error.strerror if isinstance(error.strerror, str) else error.__class__.__name__


async def _run_local(command: str, timeout: float, cap: int) -> Output:
    try:
        process = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: killed as a whole
        )
    except OSError as error:
        raise CollectionError(
            f"cannot start the command: {_os_reason(error)}", "command_failed"
        ) from None

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    try:
        return await _collect(process, timeout, cap, close=kill)
    finally:
        if process.returncode is None:
            kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), 5)


async def _collect(process, timeout: float, cap: int, close) -> Output:
    """Read stdout (at most ``cap`` bytes) and stderr, then the exit status, within
    ``timeout`` seconds; else close the process and raise."""

    async def read(stream, limit: int) -> tuple[bytes, bool]:
        chunks, size = [], 0
        while chunk := await stream.read(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], True
        return b"".join(chunks), False

    async def run() -> Output:
        out_task = asyncio.ensure_future(read(process.stdout, cap))
        err_task = asyncio.ensure_future(read(process.stderr, STDERR_CAP))
        stdout, too_much = await out_task
        if too_much:
            err_task.cancel()
            close()
            raise CollectionError(
                f"the command printed more than {cap:,} bytes (ANALYSIS_MAX_BYTES): "
                "read less, e.g. with tail -n",
                "too_much_output",
            )
        stderr, _ = await err_task
        status = await process.wait()
        code = getattr(status, "exit_status", status)
        if code is None or code < 0:
            signal_name = getattr(status, "exit_signal", None)
            code = -1 if code is None else code
            if signal_name:
                raise CollectionError(
                    f"the command was killed by signal {_signal_name(signal_name[0])}",
                    "command_failed",
                )
        return Output(stdout, stderr, code)

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        close()
        raise CollectionError(
            f"the command did not finish within {timeout:g} s", "command_timeout"
        ) from None


def _signal_name(name: str) -> str:
    """A signal's name as the server sent it, when it is one (``KILL``, ``TERM``…)."""
    return name if name.isalnum() and len(name) <= 10 else "(unknown)"
