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

"""What the story reads from nova's databases directly, on any cloud."""

import sqlalchemy

from tests.harness.reproduction import scenario


def compute_node_records(engine):
    """Every row of a cell's ``compute_nodes``, as story records, by id."""
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            'SELECT * FROM compute_nodes ORDER BY id')).mappings().all()
    return [scenario.Record(r['host'], r['hypervisor_hostname'], r['uuid'],
                            r['deleted'], tuple(r.values())) for r in rows]


def host_mapped(engine, host):
    """Whether the API database maps ``host`` to a cell yet."""
    with engine.connect() as conn:
        return conn.execute(sqlalchemy.text(
            'SELECT COUNT(*) FROM host_mappings WHERE host = :host'),
            {'host': host}).scalar()
