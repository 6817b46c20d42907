"""Pin SSH host keys from known_hosts lines: a known_hosts file of an older netmon
(``data/known_hosts``), or ``ssh-keyscan`` output checked by the administrator."""

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis import host_keys
from analysis.choices import TrustOrigin

WILDCARDS = set("*?!")


class Command(BaseCommand):
    help = (
        "Pin the SSH host keys of known_hosts lines (a file, or - for standard input, e.g. "
        "ssh-keyscan -p 22 fw.lan | manage.py pin_host_keys -). Check the fingerprints first: "
        "log collection trusts these keys. A host and port that have a key of the same type "
        "pinned keep it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="known_hosts file, or - for standard input")

    def handle(self, *args, file: str, **options) -> None:
        lines = sys.stdin.read() if file == "-" else self._read(file)
        pinned = kept = 0
        for number, line in enumerate(lines.splitlines(), 1):
            entries, problem = _entries(line)
            if problem:
                self.stderr.write(f"line {number}: {problem}: skipped")
            for host, port, key in entries:
                if host_keys.pin(host, port, key, TrustOrigin.ADMIN, "manage.py pin_host_keys"):
                    pinned += 1
                    self.stdout.write(
                        f"  {host}:{port} {key.get_algorithm()} {key.get_fingerprint('sha256')}"
                    )
                else:
                    kept += 1
        self.stdout.write(f"Pinned {pinned} host key(s), {kept} already pinned.")

    def _read(self, file: str) -> str:
        try:
            with open(file, encoding="utf-8", errors="replace") as handle:
                return handle.read(10_000_000)
        except OSError as error:
            reason = error.strerror if isinstance(error.strerror, str) else "cannot be read"
            raise CommandError(f"{file}: {reason}") from None


def _entries(line: str) -> tuple[list, str]:
    """The (host, port, key) of one known_hosts line, or why it cannot be pinned."""
    line = line.strip()
    if not line or line.startswith("#"):
        return [], ""
    if line.startswith("@"):
        return [], "markers (@cert-authority, @revoked) are not supported"
    words = line.split()
    if len(words) < 3:
        return [], "not a known_hosts line"
    patterns, key_text = words[0], " ".join(words[1:3])
    if patterns.startswith("|"):
        return [], "hashed host names cannot be pinned"
    try:
        key = host_keys.parse_public_key(key_text)
    except ValueError:
        return [], "not a known_hosts line"
    entries = []
    for pattern in patterns.split(","):
        if WILDCARDS & set(pattern):
            return [], "host patterns with wildcards cannot be pinned"
        host, port = pattern, 22
        if pattern.startswith("["):
            host, _, rest = pattern[1:].partition("]:")
            if not rest.isdigit() or not 1 <= int(rest) <= 65535:
                return [], "not a known_hosts line"
            port = int(rest)
        entries.append((host, port, key))
    return entries, ""
