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

"""What a guarded nova-compute shows the controller: the mark in its
compute node records' stats and one line in nova's log.

In-process, so the guard is switched on and off in one process; the same
with real processes, and a nova-compute restarted without the plugin:
tests/e2e/test_processes.py.
"""

from nova import conf as nova_conf
from nova import context as nova_context
from nova import objects

from nova_hostguard import coverage
from tests.harness import fixtures as hostguard_fixtures
from tests.harness import framework

ANNOUNCED = 'nova-hostguard %s guards this nova-compute (host %s)'


class CoverageTest(framework.SharedHypervisorTestCase):

    hypervisors = {'hostA': 'hv1', 'ironic1': ['n1', 'n2']}

    def marks(self):
        """{(host, hypervisor_hostname): the record's mark, or None}."""
        return {(cn.host, cn.hypervisor_hostname):
                cn.stats.get(coverage.STATS_KEY)
                for cn in objects.ComputeNodeList.get_all(self.ctxt)}

    def test_a_guarded_compute_marks_each_record_and_says_so(self):
        self.enable_guard()
        compute = self._start_compute('hostA')
        # On hostA, the only host yet.
        self._create_server(networks='none')
        self._start_compute('ironic1')
        mark = coverage.mark('enforce')
        self.assertEqual({('hostA', 'hv1'): mark, ('ironic1', 'n1'): mark,
                          ('ironic1', 'n2'): mark}, self.marks())
        log = self.stdlog.logger.output
        for host in ('hostA', 'ironic1'):
            self.assertIn(ANNOUNCED % (coverage.version(), host), log)
        self.assertIn('[hostguard] mode = enforce, one_process_per_host = '
                      'True, backend_url unset.', log)
        # nova's own updates of the stats (an instance claimed) kept the
        # mark, and a periodic run with nothing changed writes nothing.
        compute.manager.update_available_resource(
            nova_context.get_admin_context())
        node = objects.ComputeNode.get_by_nodename(self.ctxt, 'hv1')
        self.assertEqual('1', node.stats['num_instances'])
        self.assertEqual(mark, node.stats[coverage.STATS_KEY])
        compute.manager.update_available_resource(
            nova_context.get_admin_context())
        self.assertEqual(
            node.updated_at,
            objects.ComputeNode.get_by_nodename(self.ctxt, 'hv1').updated_at)

    def test_warn_mode_is_in_the_mark(self):
        self.enable_guard(mode='warn')
        self._start_compute('hostA')
        self.assertEqual(coverage.mark('warn'),
                         self.marks()[('hostA', 'hv1')])

    def test_without_the_guard_no_mark_and_no_line(self):
        # The control: nova alone writes its stats without the mark.
        self._start_compute('hostA')
        self.assertEqual({('hostA', 'hv1'): None},
                         {k: v for k, v in self.marks().items()
                          if k[0] == 'hostA'})
        self.assertNotIn('guards this nova-compute',
                         self.stdlog.logger.output)

    def test_a_restart_without_the_guard_wipes_the_mark(self):
        guard = hostguard_fixtures.HostGuardFixture(nova_conf.CONF)
        guard.setUp()
        on = [guard]

        def switch_off():
            while on:
                on.pop().cleanUp()
        self.addCleanup(switch_off)
        compute = self._start_compute('hostA')
        self.assertEqual(coverage.mark('enforce'),
                         self.marks()[('hostA', 'hv1')])
        switch_off()   # as a restart without the plugin
        self.restart_compute_service(compute)
        self.assertIsNone(self.marks()[('hostA', 'hv1')])
