"""Reading logs: over SSH from a real asyncssh server on 127.0.0.1, from local files and
commands; host key checking, key authentication, every failure, incremental reads and
log rotation."""

import os
import socket
from pathlib import Path

import asyncssh
import pytest
from fakes.ssh import SSHServer, generate_key

from analysis import host_keys
from analysis.choices import TrustOrigin
from analysis.collection import collect
from analysis.models import LogSource, SSHHostKey
from analysis.ssh import CollectionError, HostKeyChanged

FIXTURES = Path(__file__).parent / "fixtures"
SSH_LOG = FIXTURES / "logs" / "ssh.log"
CROWDSEC_SSH_BF = FIXTURES / "crowdsec" / "ssh-bf" / "ssh-bf.log"
SHARED = Path(__file__).parents[1].parent / "shared" / "logsamples"
OPENSSH_2K = SHARED / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
pytestmark = pytest.mark.django_db  # pinned host keys are in the database


@pytest.fixture(scope="module")
def client_key() -> asyncssh.SSHKey:
    return generate_key()


@pytest.fixture
def key_dir(tmp_path, settings) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    settings.ANALYSIS_SSH_KEY_DIRS = [directory]
    return directory


@pytest.fixture
def key_file(key_dir, client_key) -> str:
    """The name of the key the server accepts, in netmon's key directory."""
    path = key_dir / "id_ed25519"
    path.write_bytes(client_key.export_private_key())
    path.chmod(0o600)
    return path.name


@pytest.fixture
def server(client_key):
    with SSHServer(authorized_keys=[client_key.export_public_key()]) as running:
        yield running


@pytest.fixture
def pinned(server) -> SSHHostKey:
    """The server's host key, pinned as an administrator would."""
    return host_keys.pin("127.0.0.1", server.port, server.host_key, TrustOrigin.ADMIN, "tests")


@pytest.fixture(autouse=True)
def fast_limits(settings):
    settings.ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS = 2.0
    settings.ANALYSIS_COMMAND_TIMEOUT_SECONDS = 5.0
    settings.ANALYSIS_MAX_BYTES = 1_000_000


def ssh_source(server, key_name, **fields) -> LogSource:
    values = {
        "method": "ssh",
        "ssh_host": "127.0.0.1",
        "ssh_port": server.port,
        "ssh_user": "netmon",
        "ssh_key": key_name,
        "log_command": f"tail -n 1000 {SSH_LOG}",
        **fields,
    }
    return LogSource(**values)


def failure(source: LogSource) -> str:
    with pytest.raises(CollectionError) as error:
        collect(source)
    return str(error.value)


# SSH: authentication and host keys ---------------------------------------------------------


def test_reads_a_log_over_ssh_with_key_auth_and_a_pinned_host_key(server, key_file, pinned):
    collected = collect(ssh_source(server, key_file))

    assert collected.lines == SSH_LOG.read_text().splitlines()
    assert server.commands == [f"tail -n 1000 {SSH_LOG}"]
    assert collected.cursor["mode"] == "lines" and len(collected.cursor["tail"]) == 3


@pytest.mark.skipif(not OPENSSH_2K.exists(), reason=f"{SHARED} is absent (Loghub sample)")
def test_reads_the_crlf_loghub_sample_over_ssh(server, key_file, pinned):
    collected = collect(ssh_source(server, key_file, log_command=f"cat {OPENSSH_2K}"))

    assert len(collected.lines) == 2000
    assert not any(line.endswith("\r") for line in collected.lines)


def test_unknown_host_key_is_refused_with_its_fingerprint(server, key_file):
    message = failure(ssh_source(server, key_file))

    assert message.startswith(f"unknown host key for netmon@127.0.0.1:{server.port}")
    assert server.host_key.get_fingerprint("sha256") in message
    assert "trust on first use" in message
    assert server.commands == [] and server.auth_attempts == []


def test_changed_host_key_is_refused_even_with_trust_on_first_use(server, key_file):
    host_keys.pin("127.0.0.1", server.port, generate_key(), TrustOrigin.ADMIN, "tests")

    with pytest.raises(HostKeyChanged) as changed:
        collect(ssh_source(server, key_file, ssh_trust_on_first_use=True))

    assert str(changed.value).startswith(f"host key of netmon@127.0.0.1:{server.port} changed")
    assert changed.value.presented.public_data == server.host_key.public_data
    assert SSHHostKey.objects.count() == 1  # nothing pinned on top
    assert server.commands == [] and server.auth_attempts == []


def test_trust_on_first_use_pins_the_key_then_checks_it(server, key_file):
    collect(ssh_source(server, key_file, ssh_trust_on_first_use=True))
    collect(ssh_source(server, key_file, ssh_trust_on_first_use=False))

    pin = SSHHostKey.objects.get()
    assert (pin.origin, pin.public_key) == (
        "first_use",
        server.host_key.export_public_key().decode().strip(),
    )
    assert len(server.commands) == 2


def test_a_key_the_server_does_not_accept(server, pinned, key_dir):
    (key_dir / "stranger").write_bytes(generate_key().export_private_key())

    message = failure(ssh_source(server, "stranger"))

    assert message == (
        f"authentication failed for netmon@127.0.0.1:{server.port}: the server refused key "
        "'stranger'"
    )


@pytest.mark.filterwarnings("ignore:Warning. bcrypt.kdf.. called with only")  # fast test key
def test_key_passphrase_comes_from_the_named_environment_variable(
    server, client_key, pinned, key_dir, monkeypatch
):
    encrypted = key_dir / "id_encrypted"
    encrypted.write_bytes(client_key.export_private_key(passphrase="s3cret phrase", rounds=2))
    source = ssh_source(server, "id_encrypted", ssh_key_passphrase_env="NETMON_TEST_PP")

    monkeypatch.delenv("NETMON_TEST_PP", raising=False)
    assert "environment variable NETMON_TEST_PP, which is not set" in failure(source)
    monkeypatch.setenv("NETMON_TEST_PP", "wrong")
    assert failure(source) == (
        "cannot load SSH key 'id_encrypted': not a valid private key (or a wrong passphrase)"
    )
    assert "it is encrypted" in failure(ssh_source(server, "id_encrypted"))
    monkeypatch.setenv("NETMON_TEST_PP", "s3cret phrase")
    assert collect(source).lines


def test_a_missing_key_names_the_key_directories(server, pinned, key_dir):
    message = failure(ssh_source(server, "missing_key"))

    assert message == f"no SSH key named 'missing_key' in {key_dir} (ANALYSIS_SSH_KEY_DIRS)"


def test_a_key_that_is_no_regular_file_is_not_read(server, pinned, key_dir):
    os.mkfifo(key_dir / "fifo")

    message = failure(ssh_source(server, "fifo"))

    assert message == f"SSH key 'fifo' in {key_dir} is not a regular file"


# SSH: network failures -------------------------------------------------------------------


def test_connection_refused(key_file):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    source = LogSource(method="ssh", ssh_host="127.0.0.1", ssh_port=port, ssh_key=key_file)

    assert failure(source) == f"connection refused by 127.0.0.1:{port}"


def test_name_that_does_not_resolve(key_file, server, monkeypatch):
    def no_such_name(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    source = ssh_source(server, key_file, ssh_host="fw.invalid")

    assert failure(source) == "cannot resolve fw.invalid: Name or service not known"


def test_server_that_never_speaks_ssh_times_out(key_file, settings):
    settings.ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS = 0.3
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        source = LogSource(
            method="ssh",
            ssh_host="127.0.0.1",
            ssh_port=port,
            ssh_user="netmon",
            ssh_key=key_file,
        )
        message = failure(source)

    assert message == f"no SSH connection to netmon@127.0.0.1:{port} within 0.3 s"


# SSH: commands ------------------------------------------------------------------------------


def test_command_timeout(server, key_file, pinned, settings):
    settings.ANALYSIS_COMMAND_TIMEOUT_SECONDS = 0.3

    message = failure(ssh_source(server, key_file, log_command="sleep 5"))

    assert message == "the command did not finish within 0.3 s"


def test_command_exit_status_without_its_error_output(server, key_file, pinned):
    source = ssh_source(server, key_file, log_command="tail -n 5 /var/log/nope.log")

    assert failure(source) == "the command exited with status 1"
    assert failure(ssh_source(server, key_file, log_command="no-such-command")) == (
        "the command exited with status 127 (command not found)"
    )


def test_too_much_output(server, key_file, pinned, settings):
    settings.ANALYSIS_MAX_BYTES = 4096
    source = ssh_source(server, key_file, log_command="yes 'a log line' | head -c 100000")

    message = failure(source)

    assert message.startswith("the command printed more than 5,120 bytes (ANALYSIS_MAX_BYTES)")


# Incremental reads --------------------------------------------------------------------------


def write(path: Path, *lines: str, mode: str = "a") -> None:
    with path.open(mode) as handle:
        handle.writelines(f"{line}\n" for line in lines)


def test_a_tail_command_yields_only_the_lines_after_the_last_seen(
    server, key_file, pinned, tmp_path
):
    log = tmp_path / "syslog"
    write(log, *(f"Jan  1 00:00:{i:02d} h app: line {i}" for i in range(10)), mode="w")
    source = ssh_source(server, key_file, log_command=f"tail -n 5 {log}")

    first = collect(source)
    source.cursor = first.cursor
    write(log, "Jan  1 00:01:00 h app: new 1", "Jan  1 00:01:01 h app: new 2")
    second = collect(source)
    source.cursor = second.cursor
    third = collect(source)

    assert [line[-6:] for line in first.lines] == [f"line {i}" for i in range(5, 10)]
    assert second.lines == ["Jan  1 00:01:00 h app: new 1", "Jan  1 00:01:01 h app: new 2"]
    assert second.notes == [] and third.lines == [] and third.notes == []


def test_a_tail_command_after_rotation_reads_everything_and_says_so(
    server, key_file, pinned, tmp_path
):
    log = tmp_path / "syslog"
    write(log, "Jan  1 00:00:00 h app: old a", "Jan  1 00:00:01 h app: old b", mode="w")
    source = ssh_source(server, key_file, log_command=f"tail -n 100 {log}")
    source.cursor = collect(source).cursor

    write(log, "Jan  2 00:00:00 h app: fresh", mode="w")  # rotated: a new file
    rotated = collect(source)

    assert rotated.lines == ["Jan  2 00:00:00 h app: fresh"]
    assert "the lines seen last time are gone" in rotated.notes[0]


@pytest.mark.parametrize("where", ["ssh", "local"])
def test_a_file_is_read_from_where_the_last_run_stopped(
    where, server, key_file, pinned, tmp_path, settings
):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    log = tmp_path / "auth.log"
    write(log, "line 1", "line 2", mode="w")
    if where == "ssh":
        source = ssh_source(server, key_file, log_path=str(log))
    else:
        source = LogSource(method="local", log_path=str(log))

    first = collect(source)
    source.cursor = first.cursor
    with log.open("a") as handle:
        handle.write("line 3\nline 4 (still being writ")  # the last line is incomplete
    second = collect(source)
    source.cursor = second.cursor
    with log.open("a") as handle:
        handle.write("ten)\n")
    third = collect(source)
    source.cursor = third.cursor
    fourth = collect(source)

    assert first.lines == ["line 1", "line 2"] and first.notes == []
    assert second.lines == ["line 3"]
    assert third.lines == ["line 4 (still being written)"]
    assert fourth.lines == [] and fourth.cursor["offset"] == log.stat().st_size


@pytest.mark.parametrize("where", ["ssh", "local"])
@pytest.mark.parametrize("rotation", ["new file", "truncated"])
def test_a_rotated_file_is_read_from_its_start(
    where, rotation, server, key_file, pinned, tmp_path, settings
):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    log = tmp_path / "auth.log"
    write(log, *(f"old {i}" for i in range(20)), mode="w")
    if where == "ssh":
        source = ssh_source(server, key_file, log_path=str(log))
    else:
        source = LogSource(method="local", log_path=str(log))
    source.cursor = collect(source).cursor

    if rotation == "new file":
        os.rename(log, tmp_path / "auth.log.1")
        write(log, *(f"new {i}" for i in range(30)), mode="w")  # longer: offset still fits
    else:
        write(log, "new 0", mode="w")  # copytruncate
    collected = collect(source)

    assert collected.lines[0] == "new 0"
    assert collected.notes and collected.notes[0].startswith("log rotated")


@pytest.mark.parametrize("where", ["ssh", "local"])
def test_more_new_bytes_than_the_cap_skips_to_the_newest(
    where, server, key_file, pinned, tmp_path, settings
):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    settings.ANALYSIS_MAX_BYTES = 2048
    log = tmp_path / "big.log"
    write(log, *(f"entry {i:05d} " + "x" * 50 for i in range(200)), mode="w")
    if where == "ssh":
        source = ssh_source(server, key_file, log_path=str(log))
    else:
        source = LogSource(method="local", log_path=str(log))

    collected = collect(source)

    assert collected.lines[-1].startswith("entry 00199")
    assert 25 <= len(collected.lines) <= 32
    assert all(line.startswith("entry ") and len(line) == 62 for line in collected.lines)
    assert "were skipped" in collected.notes[0]


# Local sources -----------------------------------------------------------------------------


def test_local_sources_are_off_unless_allowed(tmp_path, settings):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = False

    message = failure(LogSource(method="command", log_command="echo hello"))

    assert "ANALYSIS_ALLOW_LOCAL_SOURCES=true" in message


def test_local_command_output_exit_status_timeout_and_cap(settings):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    command = f"cat {CROWDSEC_SSH_BF}"

    assert collect(LogSource(method="command", log_command=command)).lines == [
        line for line in CROWDSEC_SSH_BF.read_text().splitlines() if line.strip()
    ]
    assert failure(LogSource(method="command", log_command="echo oops >&2; exit 3")) == (
        "the command exited with status 3"
    )
    settings.ANALYSIS_COMMAND_TIMEOUT_SECONDS = 0.3
    assert "did not finish" in failure(LogSource(method="command", log_command="sleep 5"))
    settings.ANALYSIS_MAX_BYTES = 1024
    big = LogSource(method="command", log_command="yes line | head -c 50000")
    assert "printed more than 1,024 bytes" in failure(big)


def test_missing_local_file(tmp_path, settings):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True

    message = failure(LogSource(method="local", log_path=str(tmp_path / "none.log")))

    assert message == f"cannot read {tmp_path / 'none.log'}: No such file or directory"


def test_a_command_whose_output_lacks_the_final_newline_keeps_its_last_line(tmp_path, settings):
    """The command has ended: its last line is analysed although no newline follows it;
    seen again unchanged it is not analysed twice, and once finished it does not hide
    where the previous run stopped."""
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    log = tmp_path / "out.txt"
    log.write_bytes(b"line 1\nline 2\nlast, unfinished")
    source = LogSource(method="command", log_command=f"cat {log}")

    first = collect(source)
    source.cursor = first.cursor
    again = collect(source)
    source.cursor = again.cursor
    log.write_bytes(b"line 1\nline 2\nlast, unfinished and done\nline 4\n")
    finished = collect(source)

    assert first.lines == ["line 1", "line 2", "last, unfinished"]
    assert again.lines == [] and again.notes == []
    assert finished.lines == ["last, unfinished and done", "line 4"] and finished.notes == []


def test_a_growing_files_unfinished_line_waits_for_its_newline_unless_it_stays(tmp_path, settings):
    """A file's unfinished last line may still be being written: it waits; only when the
    next run finds it the same, nothing written after it, is it read (else a file whose
    writer ended without a newline would lose its last line for ever)."""
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    log = tmp_path / "auth.log"
    log.write_bytes(b"line 1\nline 2 is being wri")
    source = LogSource(method="local", log_path=str(log))

    first = collect(source)
    source.cursor = first.cursor
    with log.open("ab") as handle:
        handle.write(b"tten\nline 3 also unfin")
    growing = collect(source)
    source.cursor = growing.cursor
    unchanged = collect(source)
    source.cursor = unchanged.cursor
    with log.open("ab") as handle:
        handle.write(b"\nline 4\n")
    after = collect(source)

    assert first.lines == ["line 1"]
    assert growing.lines == ["line 2 is being written"]  # line 3 waits: it just grew
    assert unchanged.lines == ["line 3 also unfin"]  # the same at the next run: read
    assert after.lines == ["line 4"]  # the newline ends the line read before
    assert after.cursor["offset"] == log.stat().st_size and "pending" not in after.cursor
