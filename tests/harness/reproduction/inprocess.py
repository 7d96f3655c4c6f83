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

"""The story on real nova 34 running in this process (SQLite, no services).

nova's functional framework runs API, conductor, scheduler, placement and
compute in one process. The two machines are two nova-compute services
started one at a time, whose fake drivers report the same hypervisor and
share its guests; each machine has its own node identity, as two
nova-compute services with their own ``state_path`` have.
"""

import json
import uuid
import warnings

from nova.db.main import api as main_db_api
from nova import exception
import sqlalchemy

from tests.harness import fixtures as hostguard_fixtures
from tests.harness import framework
from tests.harness.reproduction import records
from tests.harness.reproduction import scenario


class FrameworkApi:
    """nova's API and placement, through the framework's own clients."""

    def __init__(self, test):
        self.test = test

    def compute(self, method, path, body=None, microversion=None):
        api = self.test.admin_api
        api.microversion = microversion or 'latest'
        response = api.api_request(
            path.lstrip('/'), method=method,
            body=json.dumps(body) if body is not None else None)
        return response.status_code, (response.json() if response.content
                                      else None)

    def providers(self):
        return [p['name'] for p in self.test._get_all_providers()]


class InProcessCloud(framework.SharedHypervisorTestCase, scenario.Cloud):

    hypervisor = 'hv1'
    host_a = 'hostA'
    host_b = 'hostB'
    hypervisors = {host_a: hypervisor, host_b: hypervisor}
    share_guests = True

    #: Whether the guard is on (set before running).
    guard = False
    #: Where the story is told, and where its checks go (set before
    #: running: nova's test base clears a test's attributes afterwards).
    say = None
    checks = None

    def setUp(self):
        super().setUp()
        # nova's framework turns SQLAlchemy deprecation warnings into
        # errors; nova 34's evacuation path raises one with SQLAlchemy 2.1
        # (noload()), which a deployed nova only logs.
        warnings.filterwarnings(
            'ignore', category=sqlalchemy.exc.SADeprecationWarning)
        self.guard_fixture = None
        if self.guard:
            self.guard_fixture = self.enable_guard()
        self.client = FrameworkApi(self)
        self.identities = {}
        self.machine_of_host = {}
        self.running = {}

    def node_uuid(self, host, nodename):
        machine = self.machine_of_host[host]
        return self.identities.get(machine) or str(uuid.uuid5(
            hostguard_fixtures.NODE_ID_NAMESPACE, machine))

    def start_compute(self, machine, host):
        self.machine_of_host[host] = machine
        logged = len(self.stdlog.logger.output)
        try:
            self.running[machine] = self._start_compute(host)
        except exception.InvalidConfiguration as e:
            return False, str(e)
        return True, self.stdlog.logger.output[logged:]

    def stop_compute(self, machine):
        compute = self.running.pop(machine)
        compute.stop()
        if self.guard_fixture is not None:
            # The machine's nova-compute process has exited.
            self.guard_fixture.state.end_startup_heartbeat(
                compute.service_ref)
        self.computes.pop(compute.host, None)

    def guests(self):
        return set(self.guests_by_hypervisor[self.hypervisor])

    def compute_nodes(self):
        return records.compute_node_records(main_db_api.get_engine())

    def set_node_identity(self, machine, node_uuid):
        self.identities[machine] = node_uuid

    def boot_request(self):
        return {'server': self._build_server(name='bug-1419785',
                                             networks='none')}

    def runTest(self):
        self.checks.extend(scenario.Story(self, self.say).run())


def run(guard, say):
    """Run the story once; returns (checks, errors)."""
    checks = []
    case = InProcessCloud()
    case.guard, case.say, case.checks = guard, say, checks
    return checks, hostguard_fixtures.run_case(case)
