"""SSH host keys pinned by netmon (``analysis.SSHHostKey``), the trust store of collection.

It lives in the database, not in a file: no setting or source names a file that netmon
would read (and quote) or append to. Keys come from trust on first use (a source that
allows it, when nothing is pinned for the host and port yet), from an administrator (the
admin, or ``manage.py pin_host_keys`` with known_hosts lines). A server that presents
another key is refused before authentication (``analysis.ssh``), and the change is recorded
here once, for one alert.
"""

import base64
import binascii

import asyncssh
from django.db import IntegrityError, transaction
from django.utils import timezone

from analysis.choices import TrustOrigin
from analysis.models import SSHHostKey
from analysis.ssh import HostKeyChanged


def endpoint_host(host: str) -> str:
    """Host names are case-insensitive: pins are kept in lower case."""
    return host.strip().lower()


def openssh_line(key: asyncssh.SSHKey) -> str:
    """``ssh-ed25519 AAAA…``: the key type and data, without a comment."""
    algorithm, data = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {data}"


def parse_public_key(text: str) -> asyncssh.SSHKey:
    """An OpenSSH public key (``TYPE BASE64 [comment]``); ValueError, in netmon's words, when
    it is none (the library's message, which can quote the input, is not passed on)."""
    words = text.split()
    if len(words) < 2 or len(text) > 20_000:
        raise ValueError("not an OpenSSH public key (expected: key type, base64 data)")
    try:
        base64.b64decode(words[1], validate=True)
        key = asyncssh.import_public_key(f"{words[0]} {words[1]}")
    except (asyncssh.KeyImportError, binascii.Error, ValueError, TypeError):
        raise ValueError("not an OpenSSH public key (expected: key type, base64 data)") from None
    if isinstance(key, asyncssh.SSHCertificate):
        raise ValueError("a certificate, not a plain public key")
    return key


def pinned_keys(host: str, port: int) -> list[asyncssh.SSHKey]:
    rows = SSHHostKey.objects.filter(ssh_host=endpoint_host(host), port=port)
    return [asyncssh.import_public_key(row.public_key) for row in rows]


def pin(
    host: str, port: int, key: asyncssh.SSHKey, origin: str, confirmed_by: str = ""
) -> SSHHostKey | None:
    """Pin ``key`` for host and port; None when one of its type is pinned already."""
    now = timezone.now()
    row = SSHHostKey(
        ssh_host=endpoint_host(host),
        port=port,
        algorithm=key.get_algorithm(),
        public_key=openssh_line(key),
        fingerprint=key.get_fingerprint("sha256"),
        origin=origin,
        trusted_at=now,
        confirmed_at=now if confirmed_by else None,
        confirmed_by=confirmed_by[:150],
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # pinned meanwhile (another run, or an administrator): it stands
        return None
    return row


def pin_first_use(host: str, port: int, key: asyncssh.SSHKey) -> None:
    """Trust on first use: the key waits for an administrator's confirmation."""
    pin(host, port, key, TrustOrigin.FIRST_USE)


def record_change(change: HostKeyChanged) -> SSHHostKey | None:
    """Note the key presented instead of the pinned one; the pin when this is news (a key
    not seen since the pin or the last change), None when it was alerted already."""
    presented = openssh_line(change.presented)
    updated = (
        SSHHostKey.objects.filter(
            ssh_host=endpoint_host(change.host),
            port=change.port,
            algorithm=change.pinned.get_algorithm(),
            public_key=openssh_line(change.pinned),
        )
        .exclude(changed_public_key=presented)
        .update(
            changed_public_key=presented,
            changed_fingerprint=change.presented.get_fingerprint("sha256"),
            changed_seen_at=timezone.now(),
        )
    )
    if not updated:
        return None
    return SSHHostKey.objects.get(
        ssh_host=endpoint_host(change.host),
        port=change.port,
        algorithm=change.pinned.get_algorithm(),
    )


def accept_changed_key(row: SSHHostKey, by: str) -> bool:
    """Replace the pinned key by the one the server presented instead (the administrator
    checked its fingerprint); False when there is none, or it changed meanwhile."""
    if not row.changed_public_key:
        return False
    key = asyncssh.import_public_key(row.changed_public_key)
    now = timezone.now()
    return bool(
        SSHHostKey.objects.filter(pk=row.pk, changed_public_key=row.changed_public_key).update(
            public_key=row.changed_public_key,
            fingerprint=key.get_fingerprint("sha256"),
            origin=TrustOrigin.ADMIN,
            trusted_at=now,
            confirmed_at=now,
            confirmed_by=by[:150],
            changed_public_key="",
            changed_fingerprint="",
            changed_seen_at=None,
        )
    )
