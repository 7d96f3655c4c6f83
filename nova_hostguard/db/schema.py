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

"""The columns of nova's cell tables that nova-hostguard's commands use.

Lightweight ``sa.table()`` stubs, not nova's models: the commands read
nova's databases without importing nova's database layer (which would
configure nova's enginefacade), and on every nova release the columns
named here are the same. Typed, so that a repair's undo statements can be
written out with literal values (:meth:`nova_hostguard.repair.Plan.undo`).
"""

import sqlalchemy as sa

compute_nodes = sa.table(
    'compute_nodes', sa.column('id', sa.Integer),
    sa.column('host', sa.String), sa.column('uuid', sa.String),
    sa.column('hypervisor_hostname', sa.String),
    sa.column('stats', sa.Text),
    sa.column('deleted', sa.Integer), sa.column('deleted_at', sa.DateTime))

instances = sa.table(
    'instances', sa.column('id', sa.Integer),
    sa.column('uuid', sa.String), sa.column('host', sa.String),
    sa.column('node', sa.String), sa.column('compute_id', sa.BigInteger),
    sa.column('task_state', sa.String), sa.column('deleted', sa.Integer),
    sa.column('updated_at', sa.DateTime))

services = sa.table(
    'services', sa.column('host', sa.String),
    sa.column('binary', sa.String), sa.column('deleted', sa.Integer),
    sa.column('forced_down', sa.Boolean),
    sa.column('created_at', sa.DateTime),
    sa.column('last_seen_up', sa.DateTime))

migrations = sa.table(
    'migrations', sa.column('id', sa.Integer),
    sa.column('instance_uuid', sa.String), sa.column('status', sa.String),
    sa.column('migration_type', sa.String),
    sa.column('source_compute', sa.String),
    sa.column('dest_compute', sa.String), sa.column('deleted', sa.Integer))

#: nova's index of instances on (host, node, deleted).
INSTANCES_BY_HOST_NODE = 'instances_host_node_deleted_idx'
