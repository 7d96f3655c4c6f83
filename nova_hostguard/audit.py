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

"""Find what bug 1419785 left behind, cell by cell and across cells.

Four kinds of finding:

* a hypervisor with more than one live compute node record in a cell (the
  split the guard and the constraint prevent);
* a hypervisor with live records in more than one cell (which the per-cell
  constraint cannot see);
* partitioned instances: live instances whose ``node`` is a hypervisor that
  another host also owns, or owns instead of the instance's ``host``;
* live compute node records whose host has no live nova-compute service.

A few set-based queries per cell, never one per row. Names compare
exactly, as the guard compares them: on MySQL/MariaDB the queries group
and compare the bytes of names (``CAST(... AS BINARY)``), not the columns'
case-insensitive collation.
"""

import collections

import sqlalchemy as sa

from nova_hostguard import cells as cell_dbs
from nova_hostguard.db import schema
from nova_hostguard.db import splits as db_splits
from nova_hostguard import display

CrossCell = collections.namedtuple('CrossCell', ['hypervisor_hostname',
                                                 'owners'])
Partitioned = collections.namedtuple(
    'Partitioned', ['cell', 'uuid', 'host', 'node', 'owners'])
Orphan = collections.namedtuple('Orphan', ['cell', 'host',
                                           'hypervisor_hostname', 'uuid'])

#: An owner of a hypervisor in :class:`CrossCell`: cell, host, node uuid.
CellOwner = collections.namedtuple('CellOwner', ['cell', 'host', 'uuid'])

#: How many names go into one IN (...) list.
CHUNK = 500

_exact = db_splits.exact
_text = db_splits.text


class Report:
    """Every finding of an audit; ``clean`` when there are none."""

    def __init__(self, cells):
        self.cells = cells
        self.splits = []
        self.cross_cell = []
        self.partitioned = []
        self.orphans = []

    @property
    def problems(self):
        return (len(self.splits) + len(self.cross_cell) +
                len(self.partitioned) + len(self.orphans))

    @property
    def clean(self):
        return not self.problems

    @property
    def split_names(self):
        """Every hypervisor with more than one live owner.

        In one cell or across cells.
        """
        return ([s.hypervisor_hostname for s in self.splits] +
                [c.hypervisor_hostname for c in self.cross_cell])

    def as_dict(self):
        return {
            'cells': self.cells,
            'split_hypervisors': [
                {'cell': s.cell, 'hypervisor_hostname': s.hypervisor_hostname,
                 'compute_nodes': [{'host': n.host, 'uuid': n.uuid}
                                   for n in s.nodes]}
                for s in self.splits],
            'hypervisors_in_several_cells': [
                {'hypervisor_hostname': c.hypervisor_hostname,
                 'compute_nodes': [o._asdict() for o in c.owners]}
                for c in self.cross_cell],
            'partitioned_instances': [p._asdict() for p in self.partitioned],
            'compute_nodes_without_service': [
                o._asdict() for o in self.orphans],
            'problems': self.problems,
        }


def run(targets):
    """Audit every cell of ``targets``, then across them.

    :returns: the :class:`Report`.
    :raises nova_hostguard.exception.CellDatabaseError: a cell's database
        could not be read.
    """
    report = Report([cell_dbs.describe(c) for c in targets])

    def audit(cell, engine):
        with engine.connect() as conn:
            return audit_cell(conn, cell_dbs.describe(cell), report)
    cross_cell([(cell_dbs.describe(cell), nodes) for cell, nodes in
                cell_dbs.walk(targets, audit)], report)
    return report


def audit_cell(connection, cell, report):
    """Add one cell's findings to ``report``; returns its live nodes."""
    nodes = db_splits.live_nodes(connection)
    report.splits.extend(db_splits.find_splits(cell, nodes))
    owners = collections.defaultdict(set)
    for node in nodes:
        owners[node.hypervisor_hostname].add(node.host)
    _partitioned(connection, cell, owners, report)
    _orphans(connection, cell, nodes, report)
    return nodes


def _instance_pairs(connection):
    """Every ``(node, host)`` of live instances, exactly, in one pass.

    Grouped along nova's ``instances_host_node_deleted_idx`` (an index
    scan, no temporary table). On MySQL/MariaDB the grouping follows the
    columns' case-insensitive collation, so each group also reports the
    smallest and largest byte values of its names: where they differ, the
    group merged names that differ exactly, and those names are returned
    in ``merged`` to be read row by row.
    """
    i = schema.instances
    if connection.dialect.name != 'mysql':
        rows = connection.execute(sa.select(i.c.node, i.c.host).where(
            i.c.deleted == 0, i.c.node.isnot(None)).group_by(
                i.c.node, i.c.host)).all()
        return {(n, h) for n, h in rows}, set()
    node, host = _exact(i.c.node, 'mysql'), _exact(i.c.host, 'mysql')
    query = sa.select(
        sa.func.min(node), sa.func.max(node), sa.func.min(host),
        sa.func.max(host)).where(i.c.deleted == 0, i.c.node.isnot(None)
                                 ).group_by(i.c.host, i.c.node)
    index = schema.INSTANCES_BY_HOST_NODE
    if index in {ix['name'] for ix in sa.inspect(
            connection).get_indexes('instances')}:
        query = query.with_hint(i, 'FORCE INDEX (%s)' % index, 'mysql')
    pairs, merged = set(), set()
    for min_node, max_node, min_host, max_host in connection.execute(query):
        if min_node == max_node and min_host == max_host:
            pairs.add((_text(min_node), _text(min_host)))
        else:
            merged.update((_text(min_node), _text(max_node)))
    return pairs, merged


def _partitioned(connection, cell, owners, report):
    dialect = connection.dialect.name
    i = schema.instances
    pairs, merged = _instance_pairs(connection)
    wrong = {(n, h) for n, h in pairs if n in owners and owners[n] - {h}}
    names = sorted({n for n, _h in wrong} | merged)
    for start in range(0, len(names), CHUNK):
        rows = connection.execute(sa.select(
            i.c.uuid, _exact(i.c.host, dialect),
            _exact(i.c.node, dialect)).where(
                i.c.deleted == 0,
                i.c.node.in_(names[start:start + CHUNK]))).all()
        for uuid, h, n in rows:
            h, n = _text(h), _text(n)
            if n in owners and owners[n] - {h}:
                report.partitioned.append(Partitioned(
                    cell, uuid, h, n, sorted(owners[n])))
    report.partitioned.sort(key=lambda p: (p.cell, p.node, p.host, p.uuid))


def _orphans(connection, cell, nodes, report):
    dialect = connection.dialect.name
    s = schema.services
    hosts = {_text(h) for h in connection.execute(sa.select(
        _exact(s.c.host, dialect)).where(
            s.c.deleted == 0, s.c.binary == 'nova-compute')).scalars()}
    report.orphans.extend(sorted(
        Orphan(cell, n.host, n.hypervisor_hostname, n.uuid) for n in nodes
        if n.host not in hosts))


def cross_cell(nodes_by_cell, report):
    """Hypervisors with live records in more than one cell."""
    owners = collections.defaultdict(list)
    for cell, nodes in nodes_by_cell:
        for n in nodes:
            owners[n.hypervisor_hostname].append(
                CellOwner(cell, n.host, n.uuid))
    for name in sorted(owners):
        if len({o.cell for o in owners[name]}) > 1:
            report.cross_cell.append(CrossCell(name, sorted(owners[name])))


def render(report):
    """The report as lines a person reads at a glance."""
    safe = display.quoted
    lines = ['nova-hostguard audit of %d cell(s): %s' % (
        len(report.cells), ', '.join(report.cells))]

    def section(title, items, describe):
        lines.append('')
        lines.append('%s: %d' % (title, len(items)))
        lines.extend('  ' + describe(item) for item in items)

    section('Hypervisors with more than one live compute node record',
            report.splits, lambda s: '%s: hypervisor %s: %s' % (
                s.cell, safe(s.hypervisor_hostname), ', '.join(
                    'host %s (compute node %s)' % (safe(n.host), n.uuid)
                    for n in s.nodes)))
    section('Hypervisors with live records in more than one cell',
            report.cross_cell, lambda c: 'hypervisor %s: %s' % (
                safe(c.hypervisor_hostname), ', '.join(
                    '%s host %s (compute node %s)' % (o.cell, safe(o.host),
                                                      o.uuid)
                    for o in c.owners)))
    section('Partitioned instances (on a hypervisor another host owns)',
            report.partitioned, lambda p: '%s: instance %s on host %s, '
            'hypervisor %s, owned by %s' % (
                p.cell, p.uuid, safe(p.host), safe(p.node),
                ', '.join(safe(o) for o in p.owners)))
    section('Compute node records whose host has no live nova-compute '
            'service', report.orphans,
            lambda o: '%s: host %s, hypervisor %s (compute node %s)' % (
                o.cell, safe(o.host), safe(o.hypervisor_hostname), o.uuid))
    lines.append('')
    lines.append('Clean.' if report.clean else
                 '%d problem(s) found.' % report.problems)
    return lines
