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

"""Find hypervisors that already have more than one live owner.

The one split finder of ``db sync``, ``audit`` and ``upgrade check``: one
query per cell database reads every named live compute node record
(:func:`live_nodes`), and :func:`find_splits` groups them by exact name,
as the guard compares names. On MySQL/MariaDB the query reads the bytes of
names (``CAST(... AS BINARY)``): the columns' collation is looser than
exact equality (case, accents, trailing spaces).
"""

import collections
import itertools

import sqlalchemy as sa

from nova_hostguard.db import schema

#: A live compute node record, as the commands read it.
Node = collections.namedtuple('Node', ['hypervisor_hostname', 'host',
                                       'uuid', 'id'])

#: One hypervisor of a cell (as :func:`nova_hostguard.cells.describe`
#: names it) and its live compute nodes (at least two).
Split = collections.namedtuple('Split', ['cell', 'hypervisor_hostname',
                                         'nodes'])


def exact(column, dialect):
    """The column's bytes on MySQL (its collation folds case and spaces)."""
    if dialect == 'mysql':
        return sa.cast(column, sa.dialects.mysql.BINARY())
    return column


def text(value):
    """A value read through :func:`exact`, as text again."""
    return value.decode('utf-8') if isinstance(value, bytes) else value


def live_nodes(connection):
    """Every live compute node record with a hypervisor_hostname.

    :returns: a list of :class:`Node`, names and hosts exactly as stored.
    """
    dialect = connection.dialect.name
    cn = schema.compute_nodes
    rows = connection.execute(sa.select(
        exact(cn.c.hypervisor_hostname, dialect), exact(cn.c.host, dialect),
        cn.c.uuid, cn.c.id).where(
            cn.c.deleted == 0, cn.c.hypervisor_hostname.isnot(None))).all()
    return [Node(text(name), text(host), uuid, node_id)
            for name, host, uuid, node_id in rows]


def find_splits(cell, nodes):
    """Group ``nodes`` by exact name, as the guard compares names.

    :returns: a :class:`Split` for every name of more than one record,
        sorted by name, its nodes sorted by host then uuid.
    """
    by_name = sorted(nodes, key=lambda n: n.hypervisor_hostname)
    splits = []
    for name, group in itertools.groupby(
            by_name, key=lambda n: n.hypervisor_hostname):
        group = sorted((n._replace(host=n.host or '', uuid=n.uuid or '')
                        for n in group), key=lambda n: (n.host, n.uuid))
        if len(group) > 1:
            splits.append(Split(cell, name, group))
    return splits
