"""``netmon-run``: start netmon from anywhere, as ``manage.py serve`` does.

Installed with the package (``pip install -e .``; ``.venv/bin/netmon-run`` after the
quick start). Arguments go to ``serve``: ``netmon-run --bind 0.0.0.0:8080``,
``netmon-run --only worker --no-migrate``. The project directory, its ``.env`` and
its ``data/`` are used whatever the current directory is.
"""

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    # Every app of the project importable, as with manage.py: an editable install maps
    # only the packages pyproject.toml lists, and INSTALLED_APPS may hold more.
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "netmon.settings")
    from django.core.management import execute_from_command_line

    args = sys.argv[1:] if argv is None else argv
    execute_from_command_line(["netmon-run", "serve", *args])


if __name__ == "__main__":
    main()
