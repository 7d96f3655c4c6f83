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

"""The story on a cloud of real processes (``harness/processes/cloud.py``).

keystone, placement, nova-api, nova-scheduler and nova-conductor run as
they would on a controller; the two machines are two nova-compute
processes with their own nova.conf and state directory, started one at a
time by the test-only launcher, whose fake driver keeps the hypervisor's
guests in one shared file. With the guard, the two nova.conf lines are in
the conductor's and the computes' configuration.
"""

import os

import openstack
import sqlalchemy

from tests.harness.processes import cloud as processes_cloud
from tests.harness.processes import fake_image_network
from tests.harness.processes import shared_hypervisor
from tests.harness.reproduction import client as sdk_client
from tests.harness.reproduction import records
from tests.harness.reproduction import scenario

START_TIMEOUT = 180


class ProcessesCloud(scenario.Cloud):

    hypervisor = 'hv1'
    host_a = 'hostA'
    host_b = 'hostB'
    separate_processes = True

    def __init__(self, processes, guard):
        self.processes = processes
        self.guard = guard
        self.guests_file = os.path.join(processes.workdir, 'hv1-guests.json')
        self.api_engine = sqlalchemy.create_engine(processes.db_url('api'))
        processes.start_conductor(guard=guard)
        self.client = sdk_client.SdkClient(openstack.connection.Connection(
            auth={'auth_url': processes.keystone_url + '/v3',
                  'username': 'admin',
                  'password': processes_cloud.ADMIN_PASSWORD,
                  'project_name': 'admin', 'user_domain_name': 'Default',
                  'project_domain_name': 'Default'},
            region_name='RegionOne'))
        status, body = self.client.compute('POST', '/flavors', {'flavor': {
            'name': 'hostguard-tiny', 'ram': 512, 'vcpus': 1, 'disk': 1}})
        self.flavor_id = body['flavor']['id']

    def start_compute(self, machine, host):
        since = self.processes.log_size(machine)
        self.processes.start_compute(machine, self.hypervisor, host=host,
                                     guard=self.guard,
                                     guests=self.guests_file)
        running, log = self.processes.wait_started(machine, since,
                                                   START_TIMEOUT)
        if not running:
            self.processes.processes.pop(machine)
            return False, log
        # The scheduler maps new hosts to the cell every second.
        self.wait(lambda: records.host_mapped(self.api_engine, host),
                  START_TIMEOUT, '%s to be mapped to cell1' % host)
        return True, log

    def stop_compute(self, machine):
        self.processes.stop(machine)

    def guests(self):
        return set(shared_hypervisor.SharedGuests(self.guests_file))

    def compute_nodes(self):
        return records.compute_node_records(self.processes.engine)

    def set_node_identity(self, machine, node_uuid):
        path = os.path.join(self.processes.state_dir(machine), 'compute_id')
        with open(path, 'w') as f:
            f.write(node_uuid)

    def boot_request(self):
        return {'server': {'name': 'bug-1419785',
                           'imageRef': fake_image_network.IMAGE_ID,
                           'flavorRef': self.flavor_id,
                           'networks': 'none'}}

    def close(self):
        self.api_engine.dispose()
