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
(:mod:`tests.reproduction.processes`). Set ``HOSTGUARD_KEEP_LOGS`` to a
directory to keep the processes' logs of a failed run.
"""

import os

import fixtures
import testtools
import testtools.content
import testtools.content_type

from tests import backends
from tests.processes import cloud
from tests.reproduction import processes
from tests.reproduction import scenario


class MultiProcessReproductionTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        backends.require(self, 'mysql', 'rabbitmq')
        workdir = self.useFixture(fixtures.TempDir()).path
        self.processes = self.useFixture(cloud.NovaProcesses(workdir,
                                                             api=True))
        cloud.keep_logs_on_failure(self, self.processes,
                                   os.environ.get('HOSTGUARD_KEEP_LOGS'))

    def story(self, guard):
        lines = []
        self.addDetail('story', testtools.content.Content(
            testtools.content_type.UTF8_TEXT,
            lambda: ['\n'.join(lines).encode()]))
        the_cloud = processes.ProcessesCloud(self.processes, guard)
        self.addCleanup(the_cloud.close)
        checks = scenario.Story(the_cloud, lines.append).run()
        return {c.name: c for c in checks}

    def test_guarded_the_standby_is_refused_and_nothing_is_lost(self):
        checks = self.story(guard=True)
        self.assertEqual([], scenario.verdict(checks.values(), 'refusal'))
        self.assertIn("nova-hostguard: hypervisor 'hv1' is already managed "
                      "by host 'hostA'",
                      checks['standby_refused_by_hostguard'].detail)
        self.assertTrue(checks['standby_took_over_as_owner'].holds)

    def test_unguarded_nova_34_splits_the_hypervisor(self):
        checks = self.story(guard=False)
        self.assertEqual([], scenario.verdict(checks.values(), 'bug'))
        for name in ('hypervisor_listed_twice', 'one_placement_provider',
                     'guest_on_hypervisor'):
            self.assertTrue(checks[name].holds, checks[name])
        for name in ('evacuated_to_standby',
                     'guest_destroyed_while_api_says_active'):
            self.assertFalse(checks[name].holds, checks[name])
