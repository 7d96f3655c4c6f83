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

One set-based query per cell database. The database groups names by its
own collation, which on MariaDB/MySQL is looser than exact equality (case,
accents, trailing spaces), so its groups are a superset of the exact ones;
they are split again here by exact (Python) equality, as the guard
compares names.
"""

import collections
import itertools

import sqlalchemy as sa

#: One hypervisor and its live compute nodes (at least two).
Split = collections.namedtuple('Split', ['hypervisor_hostname', 'nodes'])

#: One live compute node: its host and uuid.
Node = collections.namedtuple('Node', ['host', 'uuid'])

compute_nodes = sa.table(
    'compute_nodes',
    sa.column('host'), sa.column('uuid'), sa.column('hypervisor_hostname'),
    sa.column('deleted'))


def _candidates_query():
    cn = compute_nodes
    live = sa.and_(cn.c.deleted == 0, cn.c.hypervisor_hostname.isnot(None))
    shared_names = sa.select(cn.c.hypervisor_hostname).where(live).group_by(
        cn.c.hypervisor_hostname).having(sa.func.count() > 1)
    return sa.select(cn.c.hypervisor_hostname, cn.c.host, cn.c.uuid).where(
        live, cn.c.hypervisor_hostname.in_(shared_names))


def split_hypervisors(connection):
    """Every hypervisor with more than one live compute node, exactly.

    :returns: a list of :class:`Split`, sorted by name, nodes sorted by
        host then uuid.
    """
    return group_splits(connection.execute(_candidates_query()).all())


def group_splits(rows):
    """Group ``(hypervisor_hostname, host, uuid)`` rows by exact name.

    :returns: a :class:`Split` for every name of more than one row.
    """
    by_name = sorted(rows, key=lambda r: r[0])
    splits = []
    for name, group in itertools.groupby(by_name, key=lambda r: r[0]):
        nodes = sorted(Node(host or '', uuid or '')
                       for _name, host, uuid in group)
        if len(nodes) > 1:
            splits.append(Split(name, nodes))
    return splits
