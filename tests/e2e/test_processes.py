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

"""The guard in separate nova processes, over real RabbitMQ and MariaDB.

nova's in-process framework shares one object registry between its
services, so it cannot show what happens when only one side has the guard.
Here nova-conductor and each nova-compute are OS processes with their own
nova.conf: the guard is switched on in one of them by the two nova.conf
lines, exactly as an operator does.
"""

import json
import os
import subprocess
import sys

import testtools

from nova_hostguard import coverage
from tests.e2e import base
from tests.harness.processes import cloud

REFUSAL = "hypervisor 'hv1' is already managed by host 'hostA'"
STARTUP_TIMEOUT = 180


class SeparateProcessesTest(base.NovaProcessesTestCase):

    def _a_fails_over_to_b(self, conductor_guard, compute_guard):
        """hostA creates hv1's record and stops; standby hostB starts."""
        self.cloud.start_conductor(guard=conductor_guard)
        self.cloud.start_compute('hostA', 'hv1')
        self.cloud.wait_for(
            lambda: self.cloud.compute_nodes() == [('hostA', 'hv1', 0)],
            STARTUP_TIMEOUT, "hostA's compute node record")
        self.cloud.stop('hostA')
        return self.cloud.start_compute('hostB', 'hv1', guard=compute_guard)

    def _assert_b_refused(self, compute_b):
        returncode = compute_b.wait(STARTUP_TIMEOUT)
        self.assertNotEqual(0, returncode)
        self.assertIn(REFUSAL, self.cloud.log_of('hostB'))
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())

    def test_guard_in_conductor_only_stops_the_standby(self):
        # The refusal is raised in nova-conductor and reaches the unguarded
        # nova-compute as nova's InvalidConfiguration, which stops it.
        compute_b = self._a_fails_over_to_b(conductor_guard=True,
                                            compute_guard=False)
        self._assert_b_refused(compute_b)
        self.assertIn(REFUSAL, self.cloud.log_of('conductor'))

    def test_guard_in_compute_only_stops_the_standby(self):
        # The unguarded conductor only answers nova's own lookups.
        compute_b = self._a_fails_over_to_b(conductor_guard=False,
                                            compute_guard=True)
        self._assert_b_refused(compute_b)
        self.assertNotIn(REFUSAL, self.cloud.log_of('conductor'))

    def test_without_guard_the_standby_splits_the_hypervisor(self):
        compute_b = self._a_fails_over_to_b(conductor_guard=False,
                                            compute_guard=False)
        self.cloud.wait_for(
            lambda: len(self.cloud.compute_nodes()) == 2,
            STARTUP_TIMEOUT, "hostB's second record for hv1")
        self.assertEqual([('hostA', 'hv1', 0), ('hostB', 'hv1', 0)],
                         self.cloud.compute_nodes())
        self.assertIsNone(compute_b.poll(), 'hostB should still be running')

    def _services(self):
        """``nova-hostguard-manage services`` from the controller."""
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable),
                          'nova-hostguard-manage'),
             '--config-file', self.cloud.config('controller'),
             'services', '--format', 'json'],
            capture_output=True, text=True, timeout=120)
        self.addDetail('services', testtools.content.text_content(
            result.stdout + result.stderr))
        found = [(f['host'], f['state'], f['guard'], f['marks'])
                 for f in json.loads(result.stdout)['services']]
        return result.returncode, found

    def test_the_controller_sees_a_compute_restarted_without_the_guard(self):
        # An unguarded conductor: the mark travels in nova's own RPC.
        self.cloud.start_conductor()
        since = self.cloud.log_size('hostA')
        self.cloud.start_compute('hostA', 'hv1', guard=True)
        running, logged = self.cloud.wait_started('hostA', since,
                                                  STARTUP_TIMEOUT)
        self.assertTrue(running, logged[-4000:])
        # One line in nova's own log, once logging is set up.
        self.assertIn('nova-hostguard %s guards this nova-compute (host '
                      'hostA)' % coverage.version(), logged)
        self.assertEqual((0, [('hostA', 'up', 'guarded',
                               [coverage.mark('enforce')])]),
                         self._services())
        # The operator's upgrade left the plugin out of its Python, and
        # nova.conf still has the two lines: oslo.config cannot load the
        # source and prints so on stderr; then oslo.service, logging every
        # option at the start (log_options, on by default), meets the
        # [hostguard] driver value no installed driver takes, and
        # nova-compute stops: it fails closed.
        without = self.useFixture(cloud.PythonWithoutThePlugin())
        self.cloud.stop('hostA')
        since = self.cloud.log_size('hostA')
        self.cloud.start_compute('hostA', 'hv1', guard=True,
                                 python=without.python)
        running, logged = self.cloud.wait_started('hostA', since,
                                                  STARTUP_TIMEOUT)
        self.assertFalse(running, logged[-4000:])
        self.assertNotIn('guards this nova-compute', logged)
        self.assertIn("could not load configuration from 'hostguard'",
                      self.cloud.log_of('hostA'))
        self.assertIn("Valid values are [remote_file, castellan], but "
                      "found 'hostguard'", logged)
        # Without the two lines (or with log_options off) the same
        # Python starts nova-compute unguarded.
        self.cloud.processes.pop('hostA')
        since = self.cloud.log_size('hostA')
        self.cloud.start_compute('hostA', 'hv1', guard=False,
                                 python=without.python)
        running, logged = self.cloud.wait_started('hostA', since,
                                                  STARTUP_TIMEOUT)
        self.assertTrue(running, logged[-4000:])
        self.assertNotIn('guards this nova-compute', logged)
        # Listed as unguarded by the end of its start.
        self.assertEqual((1, [('hostA', 'up', 'unguarded', [])]),
                         self._services())
