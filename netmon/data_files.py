"""netmon's files in its data directory are readable by netmon's user alone.

The SQLite database (with its ``-wal`` and ``-shm``), the generated secret key and the
backups hold what signs sessions, webhook URLs, mail passwords and every host's records:
nothing for the other users of the machine. netmon creates the data directory 0700 and
these files 0600, and tightens any of them it finds wider (made by an older netmon, or
copied with a plain ``cp``) as long as they are its own: another user's file is that
user's choice, and chmod would fail on it anyway. A data directory made by the operator
(``mkdir data`` before the first container start) is left as it is: the files in it are
private either way.

SQLite creates a database with mode 0644 less the umask, and each ``-wal`` and ``-shm``
with the mode of its database: a database made 0600 keeps them 0600 too. ``serve`` sets
``PRIVATE_UMASK`` for itself and its children; a new database made by another command
(``manage.py migrate`` run by hand) is tightened at once, at its first connection
(:func:`tighten_sqlite_files`). The umask is not set for every command: the image runs
``collectstatic`` as root at build time, and its files must stay readable by netmon's user.
"""

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def make_private_directory(path: Path) -> None:
    """Create ``path`` 0700 (its missing parents as the umask says); keep an existing one."""
    path.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600, before anything writes to it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def tighten(path: Path) -> None:
    """Take group's and others' permissions off ``path`` if it is a regular file of ours."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)


def tighten_sqlite_files(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: a SQLite database file and its companions, 0600."""
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    database = str(connection.settings_dict["NAME"])
    for suffix in SQLITE_SUFFIXES:
        tighten(Path(database + suffix))
