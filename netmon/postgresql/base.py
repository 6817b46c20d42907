"""PostgreSQL for netmon: Django's backend without a health query on every request.

Django's ``CONN_HEALTH_CHECKS`` sends ``SELECT 1`` before the first statement of every
request on a persistent connection. On the heartbeat path that was a sixth of a request's
time: one round trip more for three of real work. This backend drops it and finds a dead
connection (the server restarted, a proxy or the server dropped it while it was idle) by
its first statement instead:

- A request's first statement in autocommit mode (every read, and the heartbeat's single
  statement) runs as it is; if it fails because the connection is gone, the connection
  is reopened and the statement sent once more. Nothing was done on the dead connection,
  so running it again is what the request asked for.
- A request whose first use of the database opens a transaction still gets the health
  query first: a statement inside a transaction cannot be sent again on its own.

An error of the statement itself (a deadlock, a timeout, bad SQL) leaves the connection
usable and is raised as it was.
"""

from django.db import InterfaceError, OperationalError
from django.db.backends.postgresql import base
from django.db.backends.utils import CursorWrapper


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        """Nothing here: the request's first statement tells (``FirstStatementReconnects``).
        ``health_check_done`` stays False until that statement has run."""

    def set_autocommit(self, autocommit: bool, *args, **kwargs) -> None:
        if not autocommit:  # a transaction begins: its statements cannot be re-sent alone
            super().close_if_health_check_failed()
        super().set_autocommit(autocommit, *args, **kwargs)

    def make_cursor(self, cursor) -> CursorWrapper:
        return FirstStatementReconnects(cursor, self)

    def make_debug_cursor(self, cursor) -> CursorWrapper:
        return DebugFirstStatementReconnects(cursor, self)


class FirstStatementReconnects(CursorWrapper):
    def execute(self, sql, params=None):
        db = self.db
        if db.health_check_done or not db.health_check_enabled or not db.get_autocommit():
            return super().execute(sql, params)
        db.health_check_done = True
        try:
            return super().execute(sql, params)
        except (OperationalError, InterfaceError):
            if db.is_usable():  # the statement failed, not the connection
                raise
        db.close()
        db.ensure_connection()
        self.cursor = db.create_cursor()
        return super().execute(sql, params)


class DebugFirstStatementReconnects(FirstStatementReconnects, base.CursorDebugWrapper):
    """The same, logging its statements (DEBUG, and tests that capture queries)."""
