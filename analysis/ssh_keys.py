"""The private keys of log sources: chosen by name, found in netmon's key directories.

A source stores the *name* of a key file (``id_ed25519``), never a path: whoever may write
a host's ``log_analysis_config`` must not be able to make netmon read, or authenticate with,
any file of the server. Names are looked up in ANALYSIS_SSH_KEY_DIRS (default
``$NETMON_DATA_DIR/ssh``), directories the operator fills. The product spec's
``ssh_key_path`` is accepted when it names a file directly inside one of them
(:func:`name_of_key_path`), and stored as that name.

The name is resolved again when a run starts (:func:`load_key`): a key that became a link
leading out of its directory after it was saved is refused then. The file is opened without
following a link in its last component and read only if it is a small regular file, so a
link swapped in between the check and the read, a FIFO or a device cannot be read either.
"""

import os
import re
import stat

import asyncssh
from django.conf import settings

from analysis.ssh import CollectionError

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_KEY_BYTES = 64 * 1024  # a private key is a few kilobytes; anything larger is not one
KIND = "ssh_key"


def key_directories() -> list[str]:
    return [str(directory) for directory in settings.ANALYSIS_SSH_KEY_DIRS]


def _inside(path: str, directory: str) -> bool:
    return path != directory and os.path.commonpath([path, directory]) == directory


def name_of_key_path(path: str) -> str | None:
    """The key name of ``path`` when it names a file directly inside a key directory and,
    after resolving links, still leads inside it; else None."""
    name = os.path.basename(path)
    if not os.path.isabs(path) or not KEY_NAME.match(name):
        return None
    parent = os.path.realpath(os.path.dirname(path))
    for directory in key_directories():
        real_directory = os.path.realpath(directory)
        if parent == real_directory and _inside(os.path.realpath(path), real_directory):
            return name
    return None


def load_key(name: str, passphrase_env: str) -> asyncssh.SSHKey:
    """The private key ``name`` of the key directories; CollectionError (kind ssh_key) when
    it cannot be used, saying why in netmon's words (never quoting the file)."""
    data = _read(name)
    passphrase = None
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if passphrase is None:
            raise CollectionError(
                f"the passphrase of SSH key '{name}' should be in the environment variable "
                f"{passphrase_env}, which is not set",
                KIND,
            )
    try:
        return asyncssh.import_private_key(data, passphrase)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError, TypeError) as error:
        # The library's message is looked at, never shown: it can quote the file.
        if passphrase is None and "passphrase" in str(error).lower():
            reason = "it is encrypted: set ssh_key_passphrase_env to the variable holding its "
            reason += "passphrase"
        else:
            reason = "not a valid private key (or a wrong passphrase)"
        raise CollectionError(f"cannot load SSH key '{name}': {reason}", KIND) from None


def _read(name: str) -> bytes:
    if not KEY_NAME.match(name):
        raise CollectionError(
            "the SSH key of this source is not a key name: save the source again", KIND
        )
    directories = key_directories()
    for directory in directories:
        real_directory = os.path.realpath(directory)
        candidate = os.path.join(real_directory, name)
        if not os.path.lexists(candidate):
            continue
        real = os.path.realpath(candidate)
        if not _inside(real, real_directory):
            raise CollectionError(
                f"SSH key '{name}' in {directory} is a link that leads out of the key "
                "directory: refused",
                KIND,
            )
        return _read_file(real, name, directory)
    raise CollectionError(
        f"no SSH key named '{name}' in {', '.join(directories)} (ANALYSIS_SSH_KEY_DIRS)", KIND
    )


def _read_file(path: str, name: str, directory: str) -> bytes:
    where = f"SSH key '{name}' in {directory}"
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        reason = error.strerror if isinstance(error.strerror, str) else "cannot be opened"
        raise CollectionError(f"cannot read {where}: {reason}", KIND) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CollectionError(f"{where} is not a regular file", KIND)
        data = handle.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        raise CollectionError(f"{where} is too large to be a private key", KIND)
    return data
