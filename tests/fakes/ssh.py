"""A real SSH server on 127.0.0.1 for tests (asyncssh, in a thread with its own loop).

    with SSHServer(authorized_keys=[client_key.export_public_key()]) as server:
        server.port, server.host_key, server.replace_host_key(other_key)

Commands run on this machine with ``/bin/sh -c``, as sshd would run them; their output,
errors and exit status go back to the client. Only public key authentication is offered.
``auth_attempts`` and ``commands`` record what clients did: a client that refused the host
key never gets as far as authenticating.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from types import TracebackType

import asyncssh


def generate_key(algorithm: str = "ssh-ed25519") -> asyncssh.SSHKey:
    return asyncssh.generate_private_key(algorithm)


class SSHServer:
    def __init__(
        self,
        authorized_keys: list[bytes] | None = None,
        host_key: asyncssh.SSHKey | None = None,
    ) -> None:
        self.host_key = host_key or generate_key()
        self.authorized_keys = authorized_keys or []
        self.commands: list[str] = []
        self.auth_attempts: list[str] = []  # user names, one per authentication begun
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncssh.SSHAcceptor | None = None
        self._processes: set[asyncio.subprocess.Process] = set()

    def replace_host_key(self, key: asyncssh.SSHKey) -> None:
        """Present ``key`` from the next connection on (a reinstalled host, or a machine in
        the middle), on the same address and port."""
        self.host_key = key

        async def update() -> None:
            self._server.update(server_host_keys=[key])

        asyncio.run_coroutine_threadsafe(update(), self._loop).result(10)

    def start(self) -> SSHServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(10)
        return self

    async def _start(self) -> None:
        authorized = asyncssh.import_authorized_keys(
            "".join(key.decode() if isinstance(key, bytes) else key for key in self.authorized_keys)
        )
        recorder = self

        class Recording(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                recorder.auth_attempts.append(username)
                return True

        self._server = await asyncssh.create_server(
            Recording,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=authorized,
            process_factory=self._handle,
            encoding=None,
            password_auth=False,
            kbdint_auth=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        command = process.command or ""
        self.commands.append(command)
        child = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._processes.add(child)
        try:
            stdout, stderr = await child.communicate()
            process.stdout.write(stdout)
            process.stderr.write(stderr)
            process.exit(child.returncode if child.returncode >= 0 else 255)
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass  # the client went away (timeout or output cap)
        finally:
            self._processes.discard(child)
            _kill(child)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def close() -> None:
            children = list(self._processes)
            for child in children:
                _kill(child)
            for child in children:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.wait(), 5)
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            await asyncio.sleep(0)  # let closed transports run their callbacks

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SSHServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _kill(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
