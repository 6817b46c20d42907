"""What a heartbeat does to its host: the busiest write in the product.

An ``up`` host only moves its deadline: one conditional UPDATE in plain SQL, written once
here (building it with the ORM cost more CPU than running it, and on SQLite that work
happened while holding the database's single write lock). Only a host that changes state
(first heartbeat, recovery), is paused or is in the middle of a run takes the slower ORM
path that locks the row and records the transition (``Host.receive_heartbeat``).
"""

from datetime import datetime

from django.db import connection
from django.db.backends.utils import CursorWrapper

from hosts.choices import HostStatus
from hosts.models import Host
from hosts.schedule import Deadline, next_deadline

_UPDATE_UP_HOST = (
    f"UPDATE {Host._meta.db_table} SET last_heartbeat_at = %s, next_expected_at = %s, "
    "next_deadline = %s, updated_at = %s WHERE id = %s AND status = %s "
    "AND run_started_at IS NULL"
)


def up_host_update(host: Host, at: datetime) -> tuple[str, list, Deadline]:
    """The conditional UPDATE that moves an ``up`` host's deadline for a heartbeat at
    ``at`` (it changes nothing for a host in any other state or in a run), its
    parameters, and the deadline it sets. For ``receive_heartbeat``, and for the heartbeat
    path's single statement on PostgreSQL (heartbeats/recording.py)."""
    due = next_deadline(host.get_schedule(), at)
    adapt = connection.ops.adapt_datetimefield_value
    stamp, expected, deadline = adapt(at), adapt(due.expected_at), adapt(due.deadline)
    return _UPDATE_UP_HOST, [stamp, expected, deadline, stamp, host.pk, HostStatus.UP.value], due


def moved(host: Host, at: datetime, due: Deadline) -> Host:
    """``host`` as ``up_host_update`` left it, when that changed its row."""
    host.status = HostStatus.UP
    host.last_heartbeat_at = at
    host.next_expected_at, host.next_deadline = due.expected_at, due.deadline
    return host


def receive_heartbeat(host: Host, at: datetime, cursor: CursorWrapper, run_id: str = "") -> Host:
    """Record a heartbeat at ``at`` on its host, with the cursor (and inside the transaction)
    that stores the heartbeat. Returns the host as now stored.

    A host in the middle of a run (a start signal without its finish yet) takes the slow
    path, which ends the run the heartbeat's ``run_id`` names."""
    sql, params, due = up_host_update(host, at)
    cursor.execute(sql, params)
    if cursor.rowcount:
        return moved(host, at, due)
    locked = Host.objects.select_for_update().get(pk=host.pk)
    locked.receive_heartbeat(at, run_id)
    return locked
