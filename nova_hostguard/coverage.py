# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Which nova-compute services run the guard, as the controller sees it.

A guarded nova-compute marks the compute node records it reports: its
mode and version under the key ``hostguard`` of their ``stats``. That
field is nova's own: nova keeps it in the cell database and carries it
over its own RPC, so the mark arrives through a nova-conductor without
the plugin too. nova-compute's resource tracker rebuilds ``stats`` from
scratch on every resource update, the first one during its start: a
nova-compute started without the plugin (not installed in its Python, or
``config_source`` left out) writes its records without the mark, and
:func:`read` then lists it as unguarded.
"""

import collections
import functools
import json

from oslo_utils import timeutils
import pbr.version
import sqlalchemy as sa

from nova_hostguard import cells
from nova_hostguard.db import schema
from nova_hostguard.db import splits as db_splits
from nova_hostguard import ownership

#: The key of the mark in a compute node record's ``stats``.
STATS_KEY = 'hostguard'

#: What :func:`read` says of a service.
GUARDED = 'guarded'
UNGUARDED = 'unguarded'
NO_RECORD = 'no compute node record'

#: A service's state where heartbeats are not in the database (a service
#: group driver other than nova's 'db'): up or down cannot be read here.
UNKNOWN = 'unknown'

#: One nova-compute service: its cell (as ``cells.describe`` names it),
#: host, state ('up', 'down', 'forced down' or ``UNKNOWN``), how many
#: live compute node records it owns and how many of them carry a mark,
#: the marks themselves (mode and version, sorted) and the verdict
#: (``GUARDED``, ``UNGUARDED`` or ``NO_RECORD``).
Service = collections.namedtuple('Service', [
    'cell', 'host', 'state', 'nodes', 'marked', 'marks', 'guard'])


@functools.lru_cache(maxsize=None)
def version():
    """This plugin's version, as its package metadata gives it.

    Read once per process: the mark is written for every node on every
    resource update, under nova's resource tracker lock. A version that
    cannot be read is 'unknown', never an error in nova's update.
    """
    try:
        return pbr.version.VersionInfo('nova-hostguard').version_string()
    except Exception:
        return 'unknown'


def mark(mode):
    """The value a guarded nova-compute writes under :data:`STATS_KEY`."""
    return '%s %s' % (mode, version())


def marking(copy_resources, current_mode):
    """Wrap nova's ``ResourceTracker._copy_resources``.

    nova clears the node's ``Stats`` there and gives the record a new
    ``stats``; the mark goes into that ``Stats`` itself, so that nova's
    later updates of a node's stats (an instance claimed or freed) keep
    it, and a record is written only when something else changed.

    :param current_mode: returns the guard's mode when it is called, or
        None while the guard is switched off (in tests, which switch it on
        and off in one process).
    """
    if getattr(copy_resources, '_hostguard_marking', False):
        return copy_resources

    @functools.wraps(copy_resources)
    def copy_resources_marked(tracker, compute_node, *args, **kwargs):
        copy_resources(tracker, compute_node, *args, **kwargs)
        mode = current_mode()
        if mode is not None:
            stats = tracker.stats[compute_node.hypervisor_hostname]
            stats[STATS_KEY] = mark(mode)
            compute_node.stats = stats
    copy_resources_marked._hostguard_marking = True
    return copy_resources_marked


def read_cells(targets, conf):
    """Every nova-compute service of every cell of ``targets``.

    :param conf: nova's configuration: ``[DEFAULT] service_down_time``,
        and ``servicegroup_driver`` (other than 'db', every state is
        :data:`UNKNOWN`).
    :raises nova_hostguard.exception.CellDatabaseError: a cell's database
        could not be read.
    """
    heartbeats_in_db = conf.servicegroup_driver == 'db'

    def read_cell(cell, engine):
        with engine.connect() as conn:
            return read(conn, cells.describe(cell), conf.service_down_time,
                        heartbeats_in_db=heartbeats_in_db)
    return [f for _cell, found in cells.walk(targets, read_cell)
            for f in found]


def read(connection, cell, service_down_time, now=None,
         heartbeats_in_db=True):
    """Every nova-compute service of one cell database and its guard.

    Two queries: the live nova-compute services, and the host and
    ``stats`` of the live compute node records.

    :returns: a list of :class:`Service`, sorted by host.
    """
    now = now or timeutils.utcnow()
    dialect = connection.dialect.name
    s, cn = schema.services, schema.compute_nodes
    services = connection.execute(sa.select(
        db_splits.exact(s.c.host, dialect).label('host'), s.c.forced_down,
        s.c.last_seen_up, s.c.created_at).where(
            s.c.deleted == 0, s.c.binary == 'nova-compute')).all()
    marks = collections.defaultdict(list)
    for host, stats in connection.execute(sa.select(
            db_splits.exact(cn.c.host, dialect), cn.c.stats).where(
                cn.c.deleted == 0)):
        marks[db_splits.text(host)].append(_mark_of(stats))
    found = []
    for row in services:
        host = db_splits.text(row.host)
        if row.forced_down:
            state = 'forced down'
        elif not heartbeats_in_db:
            state = UNKNOWN
        elif ownership.is_up(row, service_down_time, now):
            state = 'up'
        else:
            state = 'down'
        node_marks = marks.get(host, [])
        marked = [m for m in node_marks if m]
        if not node_marks:
            guard = NO_RECORD
        elif len(marked) == len(node_marks):
            guard = GUARDED
        else:
            guard = UNGUARDED
        found.append(Service(cell, host, state, len(node_marks),
                             len(marked), sorted(set(marked)), guard))
    return sorted(found, key=lambda f: f.host)


def _mark_of(stats):
    """The mark in a record's ``stats`` column, or None."""
    if not stats:
        return None
    try:
        value = json.loads(stats)
    except ValueError:
        return None
    return value.get(STATS_KEY) if isinstance(value, dict) else None


def unguarded_up(services):
    """The services, up or maybe up, that write records without the mark.

    A record keeps the mark of the last resource update that saved it: a
    nova-compute restarted without the plugin shows here once its first
    update has been saved (during its start, unless that update fails:
    the driver not ready, placement not answering).
    """
    return [f for f in services
            if f.state in ('up', UNKNOWN) and f.guard == UNGUARDED]
