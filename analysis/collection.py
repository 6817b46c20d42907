"""Reading the new part of a source's log.

Two ways of reading, each with its own cursor (``LogSource.cursor``):

* a **file** (``log_path``; on this server, or over SSH): the cursor is the byte offset
  reached, with the file's identity (inode and a hash of its first line). A file that
  shrank or changed identity was rotated: it is read from its start. When more than
  ``ANALYSIS_MAX_BYTES`` are new, only the last ones are read (the run notes the skip).
  A line is read once it is complete (ends with a newline), or when an unfinished last
  line is still the same, with nothing written after it, at the next run.
* a **command** (``log_command``, e.g. ``tail -n 1000 /var/log/syslog``; over SSH or on
  this server): its whole output is read each time, and the cursor is a fingerprint of the
  last lines seen; only the lines after them are new. When they are no longer in the
  output (rotation, or more new lines than the command prints), every line is analysed.

Failures are CollectionErrors in netmon's words: a command's error output, a file's
content or the remote reader's odd answer are never quoted (see analysis/ssh.py).
"""

import hashlib
import os
import shlex
from dataclasses import dataclass, field

from django.conf import settings

from analysis import host_keys, ssh_keys
from analysis.choices import Method
from analysis.ssh import CollectionError, Output, SSHTarget, run_local, run_ssh

TAIL_LINES = 3  # lines remembered at the end of a command's output
HEAD_BYTES = 4096  # a file's identity: the hash of its first line, within these bytes


@dataclass
class Collected:
    lines: list[str]
    bytes_read: int
    cursor: dict
    notes: list[str] = field(default_factory=list)


def collect(source) -> Collected:
    """The lines written since the last run (the first run: everything the source shows).

    Raises CollectionError with a clear message when reading fails.
    """
    if (
        source.method in (Method.LOCAL, Method.COMMAND)
        and not settings.ANALYSIS_ALLOW_LOCAL_SOURCES
    ):
        raise CollectionError(
            f"method '{source.method}' reads from this server and is off: set "
            "ANALYSIS_ALLOW_LOCAL_SOURCES=true to allow local files and commands",
            "local_sources_off",
        )
    cursor = source.cursor if isinstance(source.cursor, dict) else {}
    if source.log_path:
        if source.method == Method.SSH:
            return _remote_file(source, cursor)
        return _local_file(source.log_path, cursor)
    output = _run(source, source.log_command)
    _check_status(output)
    return new_command_lines(output.stdout, cursor)


def _run(source, command: str) -> Output:
    timeout = settings.ANALYSIS_COMMAND_TIMEOUT_SECONDS
    cap = settings.ANALYSIS_MAX_BYTES
    if source.method == Method.SSH:
        return run_ssh(ssh_target(source), command, timeout, cap + 1024)
    return run_local(command, timeout, cap)


def ssh_target(source) -> SSHTarget:
    """Where to connect, with the key (resolved in the key directories now, at run time)
    and the host keys pinned for the host and port."""
    client_key = None
    if source.ssh_key:
        client_key = ssh_keys.load_key(source.ssh_key, source.ssh_key_passphrase_env)
    return SSHTarget(
        host=source.ssh_host,
        port=source.ssh_port,
        user=source.ssh_user,
        key_name=source.ssh_key,
        client_key=client_key,
        pinned=host_keys.pinned_keys(source.ssh_host, source.ssh_port),
        trust_on_first_use=source.ssh_trust_on_first_use,
        connect_timeout=settings.ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS,
        on_first_use=lambda key: host_keys.pin_first_use(source.ssh_host, source.ssh_port, key),
    )


# Exit statuses with a well-known meaning (POSIX shells; 66 is the remote file reader's own).
EXIT_MEANINGS = {
    66: "its input cannot be read",
    126: "the command cannot be executed",
    127: "command not found",
}


def _check_status(output: Output) -> None:
    """A failed command is reported by its status: its error output is not quoted (it can
    print any file it reads)."""
    if output.exit_status != 0:
        meaning = EXIT_MEANINGS.get(output.exit_status)
        raise CollectionError(
            f"the command exited with status {output.exit_status}"
            + (f" ({meaning})" if meaning else ""),
            "command_failed",
        )


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def line_hash(line: str) -> str:
    return hashlib.blake2b(line.encode("utf-8", "replace"), digest_size=8).hexdigest()


# Commands: fingerprint of the last lines seen


def new_command_lines(stdout: bytes, cursor: dict) -> Collected:
    """The lines after those seen last time. The command has ended, so its output is
    whole and a last line without a newline is analysed too; but it may be a line still
    being written (``tail`` of a growing file), so it is remembered apart (``partial``)
    rather than in the fingerprint: finished later, it does not hide where the previous
    run stopped, and seen again unchanged it is not analysed twice."""
    text = decode(stdout)
    lines = [line for line in text.splitlines() if line.strip()]
    unfinished = bool(lines) and not text.endswith(("\n", "\r"))
    complete = lines[:-1] if unfinished else lines
    notes = []
    previous = cursor if cursor.get("mode") == "lines" else {}
    tail = previous.get("tail")
    new = lines
    if tail or previous.get("partial"):
        position = _find_tail(lines, tail) if tail else 0
        if position is None:
            notes.append(
                f"the lines seen last time are gone (log rotated, or more new lines than the "
                f"command shows): all {len(lines)} lines analysed"
            )
        else:
            new = lines[position:]
            if new and previous.get("partial") == line_hash(new[0]):
                new = new[1:]
    last = [line_hash(line) for line in complete[-TAIL_LINES:]] if complete else (tail or [])
    state = {"mode": "lines", "tail": last}
    if unfinished:
        state["partial"] = line_hash(lines[-1])
    return Collected(new, len(stdout), state, notes)


def _find_tail(lines: list[str], tail: list[str]) -> int | None:
    """Index just after the last occurrence of the ``tail`` fingerprints, or None."""
    size = len(tail)
    hashes: dict[int, str] = {}

    def at(index: int) -> str:
        if index not in hashes:
            hashes[index] = line_hash(lines[index])
        return hashes[index]

    for end in range(len(lines), size - 1, -1):
        if all(at(end - size + i) == tail[i] for i in range(size)):
            return end
    return None


# Files: byte offset and identity


def _complete_lines(data: bytes) -> bytes:
    """The part of ``data`` up to its last newline; the rest waits for the next run."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _file_result(
    data: bytes,
    offset: int,
    skipped_to: int | None,
    identity: dict,
    notes: list[str],
    previous: dict,
) -> Collected:
    """The complete lines of ``data``, and the cursor after them.

    A last line without a newline may still be being written: it waits for its newline.
    Only when the previous run saw exactly the same unfinished line at the same offset
    and nothing was written since (a file whose writer ended without a newline, like
    many exported samples) is it read as the file's last line; otherwise it would never
    be analysed.
    """
    if skipped_to is not None:  # started in the middle of a line: drop that part
        cut = data.find(b"\n") + 1
        data, offset = data[cut:], offset + cut
    complete = _complete_lines(data)
    rest = data[len(complete) :]
    pending = line_hash(decode(rest)) if rest.strip() else None
    if (
        pending
        and not complete
        and previous.get("mode") == "file"
        and previous.get("offset") == offset
        and previous.get("pending") == pending
    ):
        complete, pending = data, None  # unchanged since the last run: the writer is done
    lines = [line for line in decode(complete).splitlines() if line.strip()]
    cursor = {"mode": "file", **identity, "offset": offset + len(complete)}
    if pending:
        cursor["pending"] = pending
    return Collected(lines, len(data), cursor, notes)


def _start(cursor: dict, identity: dict, size: int) -> tuple[int, list[str]]:
    """Where to read from: the cursor's offset, unless the file is another one now."""
    if cursor.get("mode") != "file":
        return 0, []
    same = all(cursor.get(key) == value for key, value in identity.items())
    offset = cursor.get("offset", 0)
    if same and size >= offset:
        return offset, []
    why = "it shrank" if same else "it is a new file"
    return 0, [f"log rotated ({why}): read from its start"]


def _skip(offset: int, size: int, notes: list[str]) -> tuple[int, int | None]:
    cap = settings.ANALYSIS_MAX_BYTES
    if size - offset <= cap:
        return offset, None
    notes.append(
        f"{size - offset:,} new bytes, more than ANALYSIS_MAX_BYTES: the first "
        f"{size - offset - cap:,} were skipped"
    )
    return size - cap, size - cap


def _local_file(path: str, cursor: dict) -> Collected:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            head = handle.read(HEAD_BYTES).split(b"\n", 1)[0]
            identity = {"inode": info.st_ino, "head": hashlib.sha1(head).hexdigest()[:16]}
            size = info.st_size
            offset, notes = _start(cursor, identity, size)
            offset, skipped = _skip(offset, size, notes)
            handle.seek(offset)
            data = handle.read(size - offset)
    except OSError as error:
        reason = error.strerror if isinstance(error.strerror, str) else "cannot be opened"
        raise CollectionError(f"cannot read {path}: {reason}", "file") from None
    return _file_result(data, offset, skipped, identity, notes, cursor)


# Over SSH a small POSIX shell script checks the file's identity and prints from the offset:
# one header line "netmon-file INODE SIZE HEAD OFFSET", then the data.
REMOTE_FILE_SCRIPT = """\
f={path}; want_inode={inode}; want_head={head}; offset={offset}; cap={cap}
if [ ! -r "$f" ]; then echo "cannot read $f" >&2; exit 66; fi
inode=$(ls -diL -- "$f" | awk '{{print $1}}')
size=$(wc -c < "$f" | tr -d ' ')
head=$(head -c {head_bytes} -- "$f" | head -n 1 | cksum | awk '{{print $1 "-" $2}}')
if [ "$inode" != "$want_inode" ] || [ "$head" != "$want_head" ] || [ "$size" -lt "$offset" ]
then offset=0; fi
if [ $((size - offset)) -gt "$cap" ]; then offset=$((size - cap)); fi
echo "netmon-file $inode $size $head $offset"
tail -c +$((offset + 1)) -- "$f" | head -c $((size - offset))
"""


def remote_file_command(path: str, cursor: dict) -> str:
    same_mode = cursor.get("mode") == "file"
    script = REMOTE_FILE_SCRIPT.format(
        path=shlex.quote(path),
        inode=shlex.quote(str(cursor.get("inode", "-"))) if same_mode else "-",
        head=shlex.quote(str(cursor.get("head", "-"))) if same_mode else "-",
        offset=int(cursor.get("offset", 0)) if same_mode else 0,
        cap=settings.ANALYSIS_MAX_BYTES,
        head_bytes=HEAD_BYTES,
    )
    return f"sh -c {shlex.quote(script)}"


def _remote_file(source, cursor: dict) -> Collected:
    output = _run(source, remote_file_command(source.log_path, cursor))
    _check_status(output)
    header, _, data = output.stdout.partition(b"\n")
    parts = decode(header).split()
    if len(parts) != 5 or parts[0] != "netmon-file" or not all(p.isdigit() for p in parts[2::2]):
        raise CollectionError(
            f"unexpected answer from the file reader on {source.ssh_host} (does the remote "
            "shell have ls, wc, head, tail, cksum and awk?)",
            "reader",
        )
    _, inode, size, head, offset = parts
    identity = {"inode": inode, "head": head}
    size, offset = int(size), int(offset)
    expected, notes = _start(cursor, identity, size)
    skipped = None
    if offset != expected:  # the script skipped ahead: more than ANALYSIS_MAX_BYTES were new
        notes.append(
            f"{size - expected:,} new bytes, more than ANALYSIS_MAX_BYTES: the first "
            f"{offset - expected:,} were skipped"
        )
        skipped = offset
    return _file_result(data, offset, skipped, identity, notes, cursor)
