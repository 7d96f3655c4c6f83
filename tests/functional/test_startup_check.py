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

"""The start-up check of ``[hostguard] one_process_per_host`` in real nova.

nova's functional framework runs every service in one process without an
indirection API, as nova-conductor runs; each compute service it starts
is still nova-compute's own start (nova's ``Service.start``), and is
checked once, as a nova-compute process is. The reads of compute service
rows by nova-api, nova-conductor and nova-scheduler are not.
"""

import time

import fixtures
from nova.conductor.tasks import live_migrate
from nova import exception
from nova import objects
from nova.objects import base as objects_base

from nova_hostguard import startup
from tests.harness import framework

#: [DEFAULT] report_interval for the compute services started here.
REPORT_INTERVAL = 1


class StartUpCheckTest(framework.SharedHypervisorTestCase):

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv2'}

    def setUp(self):
        super().setUp()
        self.assertIsNone(objects_base.NovaObject.indirection_api)
        self.flags(report_interval=REPORT_INTERVAL)
        # nova's first heartbeat comes one report interval after the start
        # rather than 5 s after it.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.servicegroup.api.INITIAL_REPORTING_DELAY', REPORT_INTERVAL))
        self.checked = []
        check = startup.check

        def record(read, host, *args):
            self.checked.append(host)
            return check(read, host, *args)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.check', record))

    def report_count(self, host):
        return objects.Service.get_by_host_and_binary(
            self.ctxt, host, 'nova-compute').report_count

    def wait_for_heartbeat(self, host):
        """Until nova's own heartbeat of ``host`` has been written."""
        before = self.report_count(host)
        deadline = time.monotonic() + REPORT_INTERVAL * 10
        while self.report_count(host) == before:
            self.assertLess(time.monotonic(), deadline,
                            'no heartbeat of %s' % host)
            time.sleep(0.1)

    def test_each_compute_start_is_checked(self):
        self.enable_guard()
        self._start_compute('hostA')
        self._start_compute('hostB')
        self.assertEqual(['hostA', 'hostB'], self.checked)
        for host in ('hostA', 'hostB'):
            self.assertIn("nova-hostguard: no nova-compute service record "
                          "for this host yet: its first start; starting as "
                          "host %r" % host, self.stdlog.logger.output)

    def test_other_services_reading_compute_rows_are_not_checked(self):
        self.enable_guard()
        self._start_compute('hostA')
        self.wait_for_heartbeat('hostA')
        del self.checked[:]
        # The scheduler and conductor (a boot), the API (services and
        # hypervisors), and nova-conductor's own read of a compute row
        # (live migration's check of the destination's version), the last
        # of the host name of this process.
        server = self._create_server(networks='none')
        self.assertEqual('hostA', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(
            ['hostA'],
            [s['host'] for s in self.admin_api.get_services(
                binary='nova-compute')])
        self.admin_api.api_get('/os-hypervisors/detail')
        self.flags(host='hostA')
        began = time.monotonic()
        self.assertTrue(live_migrate.supports_vif_related_pci_allocations(
            self.ctxt, 'hostA'))
        self.assertLess(time.monotonic() - began, REPORT_INTERVAL)
        self.assertEqual([], self.checked)

    def test_second_process_as_a_running_host_is_refused(self):
        self.enable_guard()
        self._start_compute('hostA')
        self.wait_for_heartbeat('hostA')

        # hostA heartbeats every second; the second process watches for
        # up to 4.5 s, so that a busy machine does not make it miss one.
        self.flags(report_interval=REPORT_INTERVAL * 3)
        began = time.monotonic()
        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.start_service, 'compute', host='hostA')
        self.assertLess(time.monotonic() - began, REPORT_INTERVAL * 4.5 + 1)
        self.assertIn("another nova-compute process is running as host "
                      "'hostA'", str(exc))
        self.assertEqual(['hostA', 'hostA'], self.checked)
        self.assertEqual(['hostA'], [n[0] for n in self.live_compute_nodes()])

    def test_restart_after_a_stop_is_checked_and_starts(self):
        self.enable_guard()
        compute = self._start_compute('hostA')
        self.wait_for_heartbeat('hostA')

        self.restart_compute_service(compute)
        self.assertEqual(['hostA', 'hostA'], self.checked)
        self.assertIn("nova-hostguard: watching the heartbeat of host "
                      "'hostA'", self.stdlog.logger.output)
        self.assertIn("nova-hostguard: no other nova-compute process runs as "
                      "host 'hostA'; starting", self.stdlog.logger.output)

    def test_without_guard_a_second_process_starts(self):
        # The control: nova itself lets a second process run as hostA.
        self._start_compute('hostA')
        self.wait_for_heartbeat('hostA')
        self.start_service('compute', host='hostA')
        self.assertEqual([], self.checked)
