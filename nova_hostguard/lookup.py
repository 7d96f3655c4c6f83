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
  unique index of ``nova-hostguard-manage db sync`` serves;
* in nova-compute, whose objects go over RPC to a conductor that may not
  have the guard: nova's own remotable ``ComputeNodeList.get_by_hypervisor``
  (a ``LIKE`` search), so that nothing new is asked of the conductor.

Both may return a superset (MariaDB's case-insensitive collation, ``LIKE``);
:func:`nova_hostguard.ownership.other_owners` keeps the exact matches.
"""

from nova.db.main import api as main_db_api
from nova.db.main import models
from nova import objects
from nova.objects import base as objects_base


def nodes_named(context, hypervisor_hostname):
    """Compute nodes whose hypervisor_hostname may equal the given one."""
    if objects_base.NovaObject.indirection_api is None:
        return _nodes_named_in_db(context, hypervisor_hostname)
    return _nodes_named_over_rpc(context, hypervisor_hostname)


@main_db_api.pick_context_manager_reader
def _nodes_named_in_db(context, hypervisor_hostname):
    cn = models.ComputeNode
    return context.session.query(
        cn.host, cn.uuid, cn.hypervisor_hostname, cn.deleted,
    ).filter(
        cn.hypervisor_hostname == hypervisor_hostname,
        cn.deleted == 0,
    ).all()


def _nodes_named_over_rpc(context, hypervisor_hostname):
    # nova builds LIKE '%<match>%' without escaping. A backslash would be
    # read as an escape character by MariaDB and PostgreSQL; the single
    # character wildcard keeps the result a superset of the exact match.
    match = hypervisor_hostname.replace('\\', '_')
    return objects.ComputeNodeList.get_by_hypervisor(context, match)
