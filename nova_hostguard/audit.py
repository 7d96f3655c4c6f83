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

from nova_hostguard.db import splits as db_splits
from nova_hostguard import display

Split = collections.namedtuple('Split', ['cell', 'hypervisor_hostname',
                                         'nodes'])
CrossCell = collections.namedtuple('CrossCell', ['hypervisor_hostname',
                                                 'owners'])
Partitioned = collections.namedtuple(
    'Partitioned', ['cell', 'uuid', 'host', 'node', 'owners'])
Orphan = collections.namedtuple('Orphan', ['cell', 'host',
                                           'hypervisor_hostname', 'uuid'])

#: An owner of a hypervisor in :class:`CrossCell`: cell, host, node uuid.
CellOwner = collections.namedtuple('CellOwner', ['cell', 'host', 'uuid'])

instances = sa.table(
    'instances', sa.column('uuid'), sa.column('host'), sa.column('node'),
    sa.column('deleted'))
services = sa.table(
    'services', sa.column('host'), sa.column('binary'),
    sa.column('deleted'))

#: How many names go into one IN (...) list.
CHUNK = 500

#: nova's index of instances on (host, node, deleted).
INSTANCES_BY_HOST_NODE = 'instances_host_node_deleted_idx'


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


def _exact(column, dialect):
    """The column's bytes on MySQL (its collation folds case and spaces)."""
    if dialect == 'mysql':
        return sa.cast(column, sa.dialects.mysql.BINARY())
    return column


def _text(value):
    return value.decode('utf-8') if isinstance(value, bytes) else value


def live_nodes(connection):
    """``(hypervisor_hostname, host, uuid)`` of every named live record."""
    dialect = connection.dialect.name
    cn = db_splits.compute_nodes
    rows = connection.execute(sa.select(
        _exact(cn.c.hypervisor_hostname, dialect), _exact(cn.c.host, dialect),
        cn.c.uuid).where(cn.c.deleted == 0,
                         cn.c.hypervisor_hostname.isnot(None))).all()
    return [(_text(name), _text(host), uuid) for name, host, uuid in rows]


def cell_splits(cell, nodes):
    """The :class:`Split` hypervisors among a cell's live nodes."""
    return [Split(cell, split.hypervisor_hostname, split.nodes)
            for split in db_splits.group_splits(nodes)]


def audit_cell(connection, cell, report):
    """Add one cell's findings to ``report``; returns its live nodes."""
    nodes = live_nodes(connection)
    report.splits.extend(cell_splits(cell, nodes))
    owners = collections.defaultdict(set)
    for name, host, _uuid in nodes:
        owners[name].add(host)
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
    i = instances
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
    if INSTANCES_BY_HOST_NODE in {ix['name'] for ix in sa.inspect(
            connection).get_indexes('instances')}:
        query = query.with_hint(
            i, 'FORCE INDEX (%s)' % INSTANCES_BY_HOST_NODE, 'mysql')
    pairs, merged = set(), set()
    for min_node, max_node, min_host, max_host in connection.execute(query):
        if min_node == max_node and min_host == max_host:
            pairs.add((_text(min_node), _text(min_host)))
        else:
            merged.update((_text(min_node), _text(max_node)))
    return pairs, merged


def _partitioned(connection, cell, owners, report):
    dialect = connection.dialect.name
    i = instances
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
    s = services
    hosts = {_text(h) for h in connection.execute(sa.select(
        _exact(s.c.host, dialect)).where(
            s.c.deleted == 0, s.c.binary == 'nova-compute')).scalars()}
    report.orphans.extend(sorted(
        Orphan(cell, host, name, uuid) for name, host, uuid in nodes
        if host not in hosts))


def cross_cell(nodes_by_cell, report):
    """Hypervisors with live records in more than one cell."""
    owners = collections.defaultdict(list)
    for cell, nodes in nodes_by_cell:
        for name, host, uuid in nodes:
            owners[name].append(CellOwner(cell, host, uuid))
    for name in sorted(owners):
        if len({o.cell for o in owners[name]}) > 1:
            report.cross_cell.append(CrossCell(name, sorted(owners[name])))


#: A name for a terminal: control characters escaped, as %r does.
safe = display.quoted


def render(report):
    """The report as lines a person reads at a glance."""
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
