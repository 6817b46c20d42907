"""Hostile hosts files: alias bombs, duplicate keys, values the API refuses, YAML that
breaks PyYAML's constructors. Each goes through the real ``import_hosts`` command or the
configuration manager's import (as a staff user), and must be refused with a message
naming its place, changing nothing."""

import contextlib
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hosts.config_io import ConfigError, load_yaml, plan_import
from hosts.models import Host

# 434 bytes; fully expanded, the name would be a list of 10^9 strings.
ALIAS_BOMB = """\
hosts:
  - host_id: bomb01
    name:
      - &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]
      - &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
      - &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
      - &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
      - &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
      - &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
      - &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
      - &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
      - &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
ALIAS_MESSAGE = "line 4, column 9: YAML anchors and aliases are not allowed"

# A second "hosts:" used to replace the first list: with --prune, keep01 was deleted.
DUPLICATE_HOSTS = """\
hosts:
  - {host_id: keep01, name: Keep}
hosts:
  - {host_id: other01, name: Other}
"""
DUPLICATE_MESSAGE = "line 3, column 1: duplicate key 'hosts' (first on line 1)"

LONG_TIMEZONE = "Europe/" + "x" * 293


def import_command(tmp_path: Path, text: str, *options: str) -> str:
    """Run ``import_hosts`` on ``text``; returns its output, or its error if it fails."""
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    out = io.StringIO()
    try:
        call_command("import_hosts", str(path), *options, stdout=out, stderr=io.StringIO())
    except CommandError as error:
        return f"refused: {error}"
    return out.getvalue()


def web_import(client, text: str) -> list[tuple[int, str]]:
    """The preview and the apply step of the configuration manager, both with ``text``."""
    preview = client.post("/api/v1/config/import", {"yaml": text, "prune": "on"})
    applied = client.post(
        "/api/v1/config/import/apply", {"yaml": text, "prune": "on", "digest": "0" * 64}
    )
    return [(r.status_code, r.content.decode()) for r in (preview, applied)]


@pytest.fixture
def staff_client(client, administrator_user):
    client.force_login(administrator_user)
    return client


@pytest.fixture
def existing(make_host) -> list[str]:
    make_host("keep01")
    return ["keep01"]


def host_ids() -> list[str]:
    return sorted(Host.objects.values_list("host_id", flat=True))


# Alias bombs and duplicate keys ------------------------------------------------------------


def test_the_alias_bomb_is_small():
    assert len(ALIAS_BOMB.encode()) < 500


@pytest.mark.django_db
def test_an_alias_bomb_is_refused_by_the_command(tmp_path, existing):
    output = import_command(tmp_path, ALIAS_BOMB, "--prune")

    assert output.startswith("refused:")
    assert ALIAS_MESSAGE in output
    assert host_ids() == existing


def test_an_alias_bomb_is_refused_by_the_web_import(staff_client, existing):
    for status, html in web_import(staff_client, ALIAS_BOMB):
        assert status == 400
        assert escape(ALIAS_MESSAGE) in html
    assert host_ids() == existing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hosts: &list []\n", "line 1, column 8: YAML anchors and aliases are not allowed"),
        (
            "hosts:\n  - &web {host_id: web01, name: Web}\n  - *web\n",
            "line 2, column 5: YAML anchors and aliases are not allowed",
        ),
        (
            "hosts:\n  - {host_id: web01, name: &n Web}\n  - {host_id: web02, name: *n}\n",
            "line 2, column 28: YAML anchors and aliases are not allowed",
        ),
        (
            "hosts:\n  - {host_id: web01, name: W, <<: {notes: x}}\n",
            "line 2, column 31: YAML merge keys (<<) are not allowed",
        ),
    ],
)
def test_every_anchor_alias_and_merge_key_is_refused(text, message):
    with pytest.raises(ConfigError) as error:
        plan_import(text)

    assert error.value.errors == [message]


@pytest.mark.django_db
def test_a_duplicate_hosts_key_is_refused_and_prune_deletes_nothing(tmp_path, existing):
    output = import_command(tmp_path, DUPLICATE_HOSTS, "--prune")

    assert DUPLICATE_MESSAGE in output
    assert host_ids() == existing


def test_a_duplicate_hosts_key_is_refused_by_the_web_import(staff_client, existing):
    for status, html in web_import(staff_client, DUPLICATE_HOSTS):
        assert status == 400
        assert escape(DUPLICATE_MESSAGE) in html
    assert host_ids() == existing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "hosts:\n  - host_id: web01\n    name: One\n    name: Two\n",
            "line 4, column 5: duplicate key 'hosts[0].name' (first on line 3)",
        ),
        (
            "hosts:\n  - {host_id: a1, name: A}\n  - {host_id: b1, name: B, tags: [], tags: [x]}\n",
            "line 3, column 38: duplicate key 'hosts[1].tags' (first on line 3)",
        ),
        (
            "hosts:\n  - host_id: f1\n    name: F\n    log_analysis_config:\n"
            "      enabled: true\n      enabled: false\n",
            "line 6, column 7: duplicate key 'hosts[0].log_analysis_config.enabled' "
            "(first on line 5)",
        ),
        (
            "hosts:\n  - {host_id: x1, name: X, 1: a, 0x1: b}\n",
            "line 2, column 34: duplicate key 'hosts[0].1' (first on line 2)",
        ),
    ],
)
def test_duplicate_keys_are_refused_at_any_depth_naming_the_key_path(text, message):
    with pytest.raises(ConfigError) as error:
        plan_import(text)

    assert error.value.errors == [message]
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_every_duplicate_key_is_reported_in_the_order_of_the_file():
    text = (
        "hosts:\n"
        "  - {host_id: a1, name: A, name: B}\n"
        "  - {host_id: b1, host_id: b2, name: B, <<: {notes: x}}\n"
        "hosts: []\n"
    )

    with pytest.raises(ConfigError) as error:
        plan_import(text)

    assert error.value.errors == [
        "line 2, column 28: duplicate key 'hosts[0].name' (first on line 2)",
        "line 3, column 19: duplicate key 'hosts[1].host_id' (first on line 3)",
        "line 3, column 41: YAML merge keys (<<) are not allowed",
        "line 4, column 1: duplicate key 'hosts' (first on line 1)",
    ]


# The API's rules -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_host_id_with_a_trailing_newline_is_refused_by_the_command(tmp_path):
    output = import_command(tmp_path, 'hosts:\n  - {host_id: "nl1\\n", name: NL}\n')

    assert 'hosts[0] ("nl1\\n").host_id: Use 1–64 lowercase letters' in output
    assert not Host.objects.exists()


def test_a_host_id_with_a_trailing_newline_is_refused_by_the_web_import(staff_client, db):
    for status, html in web_import(staff_client, 'hosts: [{host_id: "nl1\\n", name: NL}]'):
        assert status == 400
        assert escape('hosts[0] ("nl1\\n").host_id: Use 1–64 lowercase letters') in html
    assert not Host.objects.exists()


def test_a_host_id_with_a_trailing_newline_is_refused_by_the_api(api):
    response = api.post("/api/v1/hosts", {"host_id": "nl1\n", "name": "NL"}, format="json")

    assert response.status_code == 400
    assert "lowercase letters" in response.json()["host_id"][0]
    assert not Host.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("timezone", [LONG_TIMEZONE, "Europe", "../../etc/passwd"])
def test_a_bad_time_zone_is_refused_by_the_command(tmp_path, timezone):
    text = yaml_hosts({"host_id": "tz01", "name": "TZ", "timezone": timezone})

    output = import_command(tmp_path, text)

    assert "hosts[0] (tz01).timezone: " in output
    assert "is not an IANA time zone" in output
    assert LONG_TIMEZONE not in output  # a long value is not echoed
    assert not Host.objects.exists()


def test_a_bad_time_zone_is_refused_by_the_web_import(staff_client, db):
    text = yaml_hosts({"host_id": "tz01", "name": "TZ", "timezone": LONG_TIMEZONE})
    for status, html in web_import(staff_client, text):
        assert status == 400
        assert "hosts[0] (tz01).timezone: " in html
    assert not Host.objects.exists()


@pytest.mark.parametrize("timezone", [LONG_TIMEZONE, "Europe", "../../etc/passwd", ""])
def test_a_bad_time_zone_is_refused_by_the_api(api, make_host, timezone):
    make_host("web01")
    created = api.post(
        "/api/v1/hosts", {"host_id": "tz01", "name": "TZ", "timezone": timezone}, format="json"
    )
    updated = api.patch("/api/v1/hosts/web01", {"timezone": timezone}, format="json")
    quick = api.patch(f"/api/v1/hosts/web01/config?timezone={timezone}")

    for response in (created, updated, quick):
        assert response.status_code == 400, response.content
        assert list(response.json()) == ["timezone"]
    assert host_ids() == ["web01"]
    assert Host.objects.get().timezone != timezone


@pytest.mark.django_db
def test_the_import_and_the_api_refuse_with_the_same_messages(admin_api, tmp_path):
    """One set of rules: every refusal of the API shows up in the import, for the field."""
    entries = [
        {"host_id": "a1", "name": "x" * 201},
        {"host_id": "b1", "name": "B", "frequency_seconds": 5},
        {"host_id": "c1", "name": "C", "grace_seconds": 10**9},
        {"host_id": "d1", "name": "D", "schedule_type": "weekly"},
        {"host_id": "e1", "name": "E", "schedule_type": "custom"},
        {"host_id": "f1", "name": "F", "tags": ["x" * 51]},
        {"host_id": "g1", "name": "G", "notes": "nul \x00 byte"},
        {"host_id": "h1", "name": "H", "log_analysis_config": {"method": "carrier pigeon"}},
    ]
    output = import_command(tmp_path, yaml_hosts(*entries))

    for index, entry in enumerate(entries):
        response = admin_api.post("/api/v1/hosts", entry, format="json")
        assert response.status_code == 400
        for field, messages in response.json().items():
            for message in messages:
                assert f"hosts[{index}] ({entry['host_id']}).{field}: {message}" in output
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_nothing_is_imported_when_one_host_is_refused(tmp_path, existing):
    text = yaml_hosts(
        {"host_id": "keep01", "name": "Renamed"},
        {"host_id": "new01", "name": "New"},
        {"host_id": "bad01", "name": "Bad", "timezone": "Nowhere/Atlantis"},
    )

    output = import_command(tmp_path, text, "--prune")

    assert "1 error(s), nothing was changed" in output
    assert host_ids() == existing
    assert Host.objects.get().name == "KEEP01"


def yaml_hosts(*entries: dict) -> str:
    """A hosts file; JSON is YAML, and keeps the values exactly as given."""
    return json.dumps({"hosts": list(entries)})


# The loader raises nothing but ConfigError -------------------------------------------------

NASTY_DOCUMENTS = [
    "[" * 10_000,
    "{a: " * 10_000,
    "- " * 10_000 + "x",
    "hosts: [{frequency_seconds: 0x_}]",
    "a: 0b_",
    "a: !!int 1e5",
    "a: !!int " + "9" * 5000,
    "a: " + "9" * 5000,
    "a: !!float abc",
    "a: !!bool maybe",
    "a: !!timestamp nope",
    "a: 2020-99-99",
    "a: 2020-01-01T00:00:00+99:00",
    "a: !!binary '==='",
    "a: !!python/object/apply:os.system [true]",
    "a: !!set {[1]: x}",
    "a: !!omap [1]",
    "? [a, b]\n: c",
    "{[1]: 2}",
    "\x00",
    "a: \ud800",
    "\ufeff\ufeffhosts: []",
    "%YAML 9.9\n---\na: 1",
    "%TAG ! tag:x,2000:\n--- !a 1",
    "--- 1\n--- 2",
    "a: *undefined",
    "a: 'unterminated",
    "\t- x",
]


@pytest.mark.parametrize("text", NASTY_DOCUMENTS)
def test_the_loader_refuses_nasty_documents_with_its_own_error(text):
    for source in (text, text.encode("utf-8", errors="surrogatepass")):
        try:
            load_yaml(source)
        except ConfigError as error:
            assert error.errors and all(isinstance(line, str) for line in error.errors)


@pytest.mark.django_db
@pytest.mark.parametrize("text", NASTY_DOCUMENTS)
def test_planning_an_import_of_a_nasty_document_raises_only_config_errors(text):
    with pytest.raises(ConfigError):
        plan_import(text)


SCALARS = [
    "x",
    "1",
    "0x_",
    "0b_",
    "2020-13-45",
    "2020-01-01 25:00:00",
    "!!int x",
    "!!bool maybe",
    "!!float x",
    "!!timestamp 1",
    "!!binary ?",
    "!!set [1]",
    "!!python/name:os.system",
    "&a x",
    "*a",
    "<<",
    "'quoted",
    '"\\u00"',
    "[",
    "{",
    "",
]
# Lines of YAML's building blocks: indents, list items, keys, and the scalars above.
LINES = st.tuples(
    st.sampled_from(["", "  ", "    "]),
    st.sampled_from(["", "- ", "k: ", "hosts: ", "? ", ": ", "- k: "]),
    st.sampled_from(SCALARS) | st.text(max_size=4),
).map("".join)
DOCUMENTS = st.lists(LINES, max_size=12).map("\n".join) | st.text(max_size=40)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(DOCUMENTS)
def test_the_loader_never_raises_anything_but_config_error(text):
    with contextlib.suppress(ConfigError):
        load_yaml(text)


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(LINES, max_size=8).map("\n    ".join))
def test_planning_an_import_never_raises_anything_but_config_error(entry):
    with contextlib.suppress(ConfigError):
        plan_import(f"hosts:\n  - host_id: h1\n    name: H\n    {entry}")
