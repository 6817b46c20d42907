"""Configuration from the environment: a bad value stops start-up and names the variable.

The settings are tested as the server loads them, in fresh ``manage.py`` processes; the
readers of ``netmon/env.py`` directly, with ``monkeypatch.setenv``.
"""

import stat
import subprocess
from datetime import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from netmon import env
from tests.processes import MANAGE, ROOT, manage, process_env

GOOD_SECRET = "a-perfectly-good-secret-key-of-more-than-32-characters"

PRINT_SETTING = "from django.conf import settings; print(settings.{})"


@pytest.fixture
def base_env(tmp_path) -> dict[str, str]:
    """A clean, valid environment: no .env file, SQLite and the data directory in tmp_path."""
    return process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")


def setting(name: str, variables: dict[str, str]) -> str:
    """The value of ``settings.<name>`` in a fresh process started with ``variables``."""
    result = manage("shell", "--no-imports", "-c", PRINT_SETTING.format(name), env=variables)
    return result.stdout.strip().splitlines()[-1]


# The server as started -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("BUSINESS_HOURS_START", "25:00"),
        ("BUSINESS_HOURS_DAYS", "0,8"),
        ("BUSINESS_HOURS_TIMEZONE", "Mars/Base"),
        ("BUSINESS_HOURS_TIMEZONE", "Europe"),  # a directory of the zone database
        ("DATABASE_URL", "mysql://x"),
        ("DISCORD_WEBHOOK_URL", "not-a-url"),
        ("TASK_BROKER", "rabbit"),
        ("SWEEP_INTERVAL_SECONDS", "abc"),
        ("SECRET_KEY", "short"),
        ("TASK_WORKERS", "0"),
        ("BUSINESS_HOURS_END", "08:00"),  # the same as the default start
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("DATABASE_TRANSACTION_POOLING", "pgbouncer"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(base_env, name, value):
    result = manage("check", env=base_env | {name: value}, check=False)

    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert name in last_line


def test_transaction_pooling_turns_off_server_side_cursors(base_env):
    postgres = base_env | {"DATABASE_URL": "postgres://netmon@127.0.0.1:5432/netmon"}
    name = "DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS']"

    assert setting(name, postgres) == "False"
    assert setting(name, postgres | {"DATABASE_TRANSACTION_POOLING": "true"}) == "True"


def test_secret_key_is_not_echoed_in_the_error(base_env):
    result = manage("check", env=base_env | {"SECRET_KEY": "tooShort42"}, check=False)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "tooShort42" not in result.stderr + result.stdout


def test_good_configuration_passes_the_checks(base_env):
    good = {
        "DEBUG": "false",
        "SECRET_KEY": GOOD_SECRET,
        "BUSINESS_HOURS_START": "07:30",
        "BUSINESS_HOURS_END": "17:00",
        "BUSINESS_HOURS_DAYS": "1,2,3,4,5,6",
        "BUSINESS_HOURS_TIMEZONE": "Europe/Berlin",
        "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc",
        "TASK_BROKER": "orm",
        "SWEEP_INTERVAL_SECONDS": "0.5",
    }

    result = manage("check", env=base_env | good)

    assert "System check identified no issues" in result.stdout


def test_secret_key_is_generated_once_and_kept(tmp_path, base_env):
    data_dir = tmp_path / "data"
    variables = base_env | {"NETMON_DATA_DIR": str(data_dir)}

    first = setting("SECRET_KEY", variables)
    second = setting("SECRET_KEY", variables)

    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first == second
    assert len(first) >= 50
    assert [path.name for path in data_dir.iterdir()] == ["secret_key"]  # no temporary left


def test_processes_starting_together_agree_on_one_secret_key(tmp_path, base_env):
    """The web server, the workers and the monitor loop start at once on a fresh install."""
    data_dir = tmp_path / "data"
    variables = base_env | {"NETMON_DATA_DIR": str(data_dir)}
    code = PRINT_SETTING.format("SECRET_KEY")
    starts = [
        subprocess.Popen(
            [*MANAGE, "shell", "--no-imports", "-c", code],
            cwd=ROOT,
            env=variables,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=60)[0].strip().splitlines()[-1] for process in starts}

    assert [process.returncode for process in starts] == [0, 0, 0, 0]
    assert keys == {(data_dir / "secret_key").read_text().strip()}


def test_secret_key_from_the_environment_is_used_and_not_stored(tmp_path, base_env):
    variables = base_env | {"SECRET_KEY": GOOD_SECRET}

    assert setting("SECRET_KEY", variables) == GOOD_SECRET
    assert not (tmp_path / "secret_key").exists()


def test_dotenv_file_sets_values(tmp_path, base_env):
    dotenv = tmp_path / ".env"
    dotenv.write_text("# netmon\nBUSINESS_HOURS_TIMEZONE=Europe/Berlin\n")

    value = setting("BUSINESS_HOURS_TIMEZONE", base_env | {"NETMON_ENV_FILE": str(dotenv)})

    assert value == "Europe/Berlin"


def test_real_environment_wins_over_dotenv_file(tmp_path, base_env):
    dotenv = tmp_path / ".env"
    dotenv.write_text("BUSINESS_HOURS_TIMEZONE=Europe/Berlin\n")
    variables = base_env | {
        "NETMON_ENV_FILE": str(dotenv),
        "BUSINESS_HOURS_TIMEZONE": "Asia/Tokyo",
    }

    assert setting("BUSINESS_HOURS_TIMEZONE", variables) == "Asia/Tokyo"


def test_bad_value_in_dotenv_file_is_named_too(tmp_path, base_env):
    dotenv = tmp_path / ".env"
    dotenv.write_text("BUSINESS_HOURS_DAYS=weekdays\n")

    result = manage("check", env=base_env | {"NETMON_ENV_FILE": str(dotenv)}, check=False)

    assert result.returncode != 0
    assert "BUSINESS_HOURS_DAYS" in result.stderr.strip().splitlines()[-1]


def test_without_dotenv_file_the_default_applies(base_env):
    assert base_env["NETMON_ENV_FILE"] == ""
    assert setting("BUSINESS_HOURS_TIMEZONE", base_env) == "America/New_York"


# The readers -----------------------------------------------------------------------------


def raises_naming(name: str):
    return pytest.raises(ImproperlyConfigured, match=rf"^{name}=")


def test_unset_or_blank_means_default(monkeypatch):
    monkeypatch.delenv("NETMON_X", raising=False)
    assert env.env_str("NETMON_X", "fallback") == "fallback"
    assert env.env_int("NETMON_X", 7) == 7
    monkeypatch.setenv("NETMON_X", "   ")
    assert env.env_str("NETMON_X", "fallback") == "fallback"
    assert env.env_bool("NETMON_X", True) is True
    assert env.env_url("NETMON_X", "https://default.example") == "https://default.example"


def test_values_are_stripped(monkeypatch):
    monkeypatch.setenv("NETMON_X", "  value \n")
    assert env.env_str("NETMON_X") == "value"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        (" YES ", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("OFF", False),
    ],
)
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("NETMON_X", value)
    assert env.env_bool("NETMON_X", not expected) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "y", "enabled"])
def test_env_bool_rejects(monkeypatch, value):
    monkeypatch.setenv("NETMON_X", value)
    with raises_naming("NETMON_X"):
        env.env_bool("NETMON_X", False)


def test_env_int(monkeypatch):
    monkeypatch.setenv("NETMON_X", "42")
    assert env.env_int("NETMON_X", 1, 1, 100) == 42
    monkeypatch.setenv("NETMON_X", "101")
    with pytest.raises(ImproperlyConfigured, match="from 1 to 100"):
        env.env_int("NETMON_X", 1, 1, 100)
    for bad in ("4.5", "1e3", "forty"):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_int("NETMON_X", 1)


def test_env_float(monkeypatch):
    monkeypatch.setenv("NETMON_X", "0.5")
    assert env.env_float("NETMON_X", 1.0, 0.1, 60) == 0.5
    for bad in ("abc", "nan", "inf", "0.01", "61"):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_float("NETMON_X", 1.0, 0.1, 60)


def test_env_time(monkeypatch):
    monkeypatch.delenv("NETMON_X", raising=False)
    assert env.env_time("NETMON_X", "08:00") == time(8, 0)
    monkeypatch.setenv("NETMON_X", "17:45")
    assert env.env_time("NETMON_X", "08:00") == time(17, 45)
    for bad in ("25:00", "07:60", "7", "07:00:00", "ab:cd", "-1:00"):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_time("NETMON_X", "08:00")


def test_env_weekdays(monkeypatch):
    monkeypatch.setenv("NETMON_X", "5, 1,1,,3")
    assert env.env_weekdays("NETMON_X", "1") == (1, 3, 5)
    monkeypatch.delenv("NETMON_X")
    assert env.env_weekdays("NETMON_X", "1,2,3,4,5") == (1, 2, 3, 4, 5)
    for bad in ("0,8", "7,8", "mon", ","):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_weekdays("NETMON_X", "1")


def test_env_timezone(monkeypatch):
    monkeypatch.setenv("NETMON_X", "Europe/Berlin")
    assert env.env_timezone("NETMON_X", "UTC") == "Europe/Berlin"
    for bad in ("Mars/Base", "../../etc/passwd", "Europe/", "Europe", "zone1970.tab"):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_timezone("NETMON_X", "UTC")


def test_env_url(monkeypatch):
    monkeypatch.setenv("NETMON_X", "https://discord.com/api/webhooks/1/abc")
    assert env.env_url("NETMON_X") == "https://discord.com/api/webhooks/1/abc"
    monkeypatch.setenv("NETMON_X", "redis://127.0.0.1:6379/0")
    assert env.env_url("NETMON_X", schemes=("redis", "rediss")) == "redis://127.0.0.1:6379/0"
    for bad in ("not-a-url", "ftp://example.com", "https://", "discord.com/api/webhooks/1/abc"):
        monkeypatch.setenv("NETMON_X", bad)
        with raises_naming("NETMON_X"):
            env.env_url("NETMON_X")


def test_env_list(monkeypatch):
    monkeypatch.setenv("NETMON_X", " a, b,,c ,")
    assert env.env_list("NETMON_X") == ["a", "b", "c"]
    monkeypatch.delenv("NETMON_X")
    assert env.env_list("NETMON_X") == []
    assert env.env_list("NETMON_X", "x,y") == ["x", "y"]


def test_env_choice(monkeypatch):
    monkeypatch.setenv("NETMON_X", "ORM")
    assert env.env_choice("NETMON_X", "redis", ("orm", "redis")) == "orm"
    monkeypatch.setenv("NETMON_X", "rabbit")
    with raises_naming("NETMON_X"):
        env.env_choice("NETMON_X", "orm", ("orm", "redis"))


def test_secret_key_generated_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    data_dir = tmp_path / "not" / "there" / "yet"

    first = env.secret_key(data_dir)

    assert len(first) >= 50
    key_file = data_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert env.secret_key(data_dir) == first
    assert sorted(path.name for path in data_dir.iterdir()) == ["secret_key"]


def test_secret_key_from_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    assert env.secret_key(tmp_path) == GOOD_SECRET
    assert not (tmp_path / "secret_key").exists()

    monkeypatch.setenv("SECRET_KEY", "tooShort42")
    with raises_naming("SECRET_KEY") as error:
        env.secret_key(tmp_path)
    assert "tooShort42" not in str(error.value)
