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

"""Find the live compute nodes that carry a given hypervisor_hostname.

Two ways, chosen by where the guard runs:

* with database access (nova-conductor, or any process without an
  indirection API): one query on ``compute_nodes`` by equality, which the
  unique index of ``nova-hostguard-manage db sync`` serves. (In
  ``enforce`` mode, where that index is in place, the guard does not look
  at all: :mod:`nova_hostguard.constraint`.)
* in nova-compute, whose objects go over RPC to a conductor that may not
  have the guard: nova's own remotable ``ComputeNode.get_by_nodename``,
  one equality query in conductor (``hypervisor_hostname = :name AND
  deleted = 0``, ordered by id), which the constraint's index serves
  (without it, nova's schema has no index leading with the column and
  the query scans, as the ``LIKE`` does). nova returns the first row only
  and raises ``ComputeHostNotFound`` for none; its answer is used as it
  is where it is conclusive:

  - ``ComputeHostNotFound``: no live record whose name the database
    equates with this one, and the database's equality (exact, or
    MariaDB's case-, accent- and trailing-space-insensitive collation
    without the constraint) never misses an exact match: no owner;
  - a row whose name is exactly this one, of another host: that host
    owns the hypervisor; the refusal names it (the oldest such record; a
    hypervisor split already has more, which ``nova-hostguard-manage
    audit`` lists).

  nova's ``ComputeNodeList.get_by_hypervisor`` (an unescaped ``LIKE
  '%name%'`` scan of ``compute_nodes``, nova's own too, so nothing new is
  asked of the conductor) is the fallback, in exactly two cases:

  - the row returned differs from the name (MariaDB's collation without
    the constraint: ``HV1``, ``hv1 ``, ``hé`` for ``hv1``, ``hv1``,
    ``he``): an exact match may be behind it;
  - the row returned is this host's own live record (a revive next to
    it): another host's may be behind it.

Every way may return a superset (MariaDB's collation, ``LIKE``);
:func:`nova_hostguard.ownership.other_owners` keeps the exact matches.
"""

import copy

from nova.db.main import api as main_db_api
from nova.db.main import models
from nova import exception
from nova import objects

from nova_hostguard import constraint


def nodes_named(context, hypervisor_hostname, host):
    """Compute nodes whose hypervisor_hostname may equal the given one.

    :param host: the host about to own the hypervisor; nova-compute's
        exact lookup is conclusive only if it names another host.
    :returns: a list, a superset of the exact matches: see the module.
    """
    if constraint.has_database_access():
        return _nodes_named_in_db(context, hypervisor_hostname)
    return _nodes_named_from_compute(context, hypervisor_hostname, host)


@main_db_api.pick_context_manager_reader
def _nodes_named_in_db(context, hypervisor_hostname):
    cn = models.ComputeNode
    return context.session.query(
        cn.host, cn.uuid, cn.hypervisor_hostname, cn.deleted,
    ).filter(
        cn.hypervisor_hostname == hypervisor_hostname,
        cn.deleted == 0,
    ).all()


def _nodes_named_from_compute(context, hypervisor_hostname, host):
    try:
        node = objects.ComputeNode.get_by_nodename(
            _live_only(context), hypervisor_hostname)
    except exception.ComputeHostNotFound:
        return []
    if node.hypervisor_hostname == hypervisor_hostname and node.host != host:
        return [node]
    return _nodes_named_over_rpc(context, hypervisor_hostname)


def _live_only(context):
    """The context, reading live rows only.

    nova's resource tracker may revive a record with a context that reads
    deleted ones.
    """
    if context.read_deleted == 'no':
        return context
    live = copy.copy(context)
    live.read_deleted = 'no'
    return live


def _nodes_named_over_rpc(context, hypervisor_hostname):
    # nova builds LIKE '%<match>%' without escaping. A backslash would be
    # read as an escape character by MariaDB and PostgreSQL; the single
    # character wildcard keeps the result a superset of the exact match.
    match = hypervisor_hostname.replace('\\', '_')
    return objects.ComputeNodeList.get_by_hypervisor(context, match)
