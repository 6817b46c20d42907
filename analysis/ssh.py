"""Running one command over SSH (asyncssh) or locally, with timeouts and a cap on output.

Every problem becomes a :class:`CollectionError` with a message meant for a person: the
run records it and the worker goes on. Host keys are checked against a known_hosts file;
an unknown key is refused unless trust on first use is on for the source, and then it is
appended to the file. A key that differs from the file's is always refused.
"""

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import asyncssh

STDERR_CAP = 64 * 1024


class CollectionError(Exception):
    """Reading the log failed; the message says why, for the run and the alert."""


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
    key_path: str
    passphrase_env: str
    known_hosts: str
    trust_on_first_use: bool
    connect_timeout: float

    @property
    def where(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"

    @property
    def known_hosts_pattern(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def run_ssh(target: SSHTarget, command: str, timeout: float, cap: int) -> Output:
    return asyncio.run(_run_ssh(target, command, timeout, cap))


def run_local(command: str, timeout: float, cap: int) -> Output:
    return asyncio.run(_run_local(command, timeout, cap))


def describe_key(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


class _HostKeyCheck:
    """What the server presented, and trust on first use when the file has no entry."""

    def __init__(self, target: SSHTarget, known_hosts: asyncssh.SSHKnownHosts) -> None:
        self.target = target
        self.known_hosts = known_hosts
        self.presented: asyncssh.SSHKey | None = None
        self.had_entry = False
        self.trusted_now = False

    def has_entry(self, host: str, addr: str, port: int) -> bool:
        matched = asyncssh.match_known_hosts(
            self.known_hosts, host, addr, port if port != 22 else None
        )
        trusted_keys, ca_keys = matched[0], matched[1]
        return bool(trusted_keys or ca_keys)

    def validate(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        self.had_entry = self.has_entry(host, addr, port)
        if self.had_entry or not self.target.trust_on_first_use:
            return False
        _append_known_host(self.target, key)
        self.trusted_now = True
        return True


def _client_factory(check: _HostKeyCheck):
    class Client(asyncssh.SSHClient):
        def validate_host_public_key(self, host, addr, port, key) -> bool:
            return check.validate(host, addr, port, key)

    return Client


def _append_known_host(target: SSHTarget, key: asyncssh.SSHKey) -> None:
    path = Path(target.known_hosts)
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    line = f"{target.known_hosts_pattern} {algorithm} {data}\n"
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode())


def _load_known_hosts(target: SSHTarget) -> asyncssh.SSHKnownHosts:
    path = Path(target.known_hosts)
    if not path.exists():
        if not target.trust_on_first_use:
            raise CollectionError(
                f"known_hosts file {path} does not exist: add the host key of {target.host} "
                f"to it (check its fingerprint, then `ssh-keyscan -p {target.port} "
                f"{target.host} >> {path}`), or enable trust on first use for this source"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
        except OSError as error:
            raise CollectionError(f"cannot create known_hosts file {path}: {error}") from None
    try:
        return asyncssh.read_known_hosts(str(path))
    except (OSError, ValueError) as error:
        raise CollectionError(f"cannot read known_hosts file {path}: {error}") from None


def _load_key(target: SSHTarget) -> list:
    if not target.key_path:
        return []
    passphrase = None
    if target.passphrase_env:
        passphrase = os.environ.get(target.passphrase_env)
        if passphrase is None:
            raise CollectionError(
                f"the passphrase of {target.key_path} should be in the environment variable "
                f"{target.passphrase_env}, which is not set"
            )
    try:
        return [asyncssh.read_private_key(target.key_path, passphrase)]
    except OSError as error:
        raise CollectionError(
            f"cannot read SSH key {target.key_path}: {error.strerror or error}"
        ) from None
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
        hint = " (wrong or missing passphrase?)" if "assphrase" in str(error) else ""
        raise CollectionError(f"cannot load SSH key {target.key_path}: {error}{hint}") from None


async def _run_ssh(target: SSHTarget, command: str, timeout: float, cap: int) -> Output:
    known_hosts = _load_known_hosts(target)
    keys = _load_key(target)
    check = _HostKeyCheck(target, known_hosts)
    options = {
        "known_hosts": known_hosts,
        "client_factory": _client_factory(check),
        "connect_timeout": target.connect_timeout,
        "config": None,
        "agent_path": None,
        "password": None,
        "kbdint_auth": False,
        "gss_auth": False,
        "preferred_auth": "publickey",
    }
    if keys:
        options["client_keys"] = keys
    if target.user:
        options["username"] = target.user
    try:
        connection = await asyncio.wait_for(
            asyncssh.connect(target.host, target.port, **options), target.connect_timeout + 1
        )
    except Exception as error:  # every way of failing to connect gets a clear message
        raise CollectionError(_connect_error(target, check, error)) from None
    async with connection:
        try:
            process = await connection.create_process(command, encoding=None)
        except asyncssh.Error as error:
            raise CollectionError(f"cannot start the command on {target.where}: {error}") from None
        try:
            return await _collect(process, timeout, cap, close=process.close)
        except asyncssh.Error as error:
            raise CollectionError(f"the SSH session to {target.where} failed: {error}") from None


def _connect_error(target: SSHTarget, check: _HostKeyCheck, error: Exception) -> str:
    where = target.where
    offered = f" The server offered {describe_key(check.presented)}." if check.presented else ""
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        if check.had_entry:
            return (
                f"host key mismatch for {where}: the key differs from the one in "
                f"{target.known_hosts} (a reinstalled host, or someone in between).{offered} "
                "If the change is expected, replace the host's line in that file."
            )
        return (
            f"unknown host key for {where}: {target.known_hosts} has no key for this host."
            f"{offered} Add it after checking the fingerprint (ssh-keyscan -p {target.port} "
            f"{target.host}), or enable trust on first use for this source."
        )
    if isinstance(error, asyncssh.KeyExchangeFailed):
        return (
            f"key exchange with {where} failed: {error.reason} (a host key of another type "
            f"than the one in {target.known_hosts}, or no common algorithm)"
        )
    if isinstance(error, asyncssh.PermissionDenied):
        key = target.key_path or "the default keys"
        return f"authentication failed for {where}: the server refused {key}"
    if isinstance(error, asyncssh.DisconnectError):
        return f"SSH connection to {where} failed: {error.reason}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {target.host}: {error.strerror or error}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {target.host}:{target.port}"
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return f"no SSH connection to {where} within {target.connect_timeout:g} s"
    if isinstance(error, OSError):
        return f"cannot connect to {target.host}:{target.port}: {error.strerror or error}"
    if isinstance(error, CollectionError):
        return str(error)
    return f"SSH connection to {where} failed: {error.__class__.__name__}: {error}"


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
        raise CollectionError(f"cannot start the command: {error}") from None

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
                "read less, e.g. with tail -n"
            )
        stderr, _ = await err_task
        status = await process.wait()
        code = getattr(status, "exit_status", status)
        if code is None or code < 0:
            signal_name = getattr(status, "exit_signal", None)
            code = -1 if code is None else code
            if signal_name:
                raise CollectionError(f"the command was killed by signal {signal_name[0]}")
        return Output(stdout, stderr, code)

    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        close()
        raise CollectionError(f"the command did not finish within {timeout:g} s") from None
