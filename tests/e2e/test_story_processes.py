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

"""Bug 1419785 end to end, with every service a real OS process.

keystone, placement, nova-api, nova-scheduler, nova-conductor and two
nova-compute machines sharing one hypervisor, over RabbitMQ and MariaDB
(:mod:`tests.harness.reproduction.processes`). Set ``HOSTGUARD_KEEP_LOGS`` to a
directory to keep the processes' logs of a failed run.
"""

import os

import fixtures
import testtools

from tests.harness import backends
from tests.harness.processes import cloud
from tests.harness.reproduction import expected
from tests.harness.reproduction import processes
from tests.harness.reproduction import scenario


class MultiProcessReproductionTest(expected.ExpectedOutcomes,
                                   testtools.TestCase):

    separate_processes = True

    def setUp(self):
        super().setUp()
        backends.require(self, 'mysql', 'rabbitmq')
        workdir = self.useFixture(fixtures.TempDir()).path
        self.processes = self.useFixture(cloud.NovaProcesses(workdir,
                                                             api=True))
        cloud.keep_logs_on_failure(self, self.processes,
                                   os.environ.get('HOSTGUARD_KEEP_LOGS'))

    def tell(self, guard, say):
        the_cloud = processes.ProcessesCloud(self.processes, guard)
        self.addCleanup(the_cloud.close)
        return scenario.Story(the_cloud, say).run()
