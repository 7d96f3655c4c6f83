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

"""Never worse than nova alone: a nova-compute that never finishes starting.

A restart of hostA hangs in ``init_host`` (a hypervisor that does not
answer). Without the plugin, nova calls the service down
``service_down_time`` after its last heartbeat and the operator can
evacuate its servers. With the guard, its start-up check must not keep the
service "up" (issue 19, defect 3: its start-up heartbeat did, for ever):
the same flow, side by side with the unguarded control.
"""

import threading
import time

import fixtures
from nova import conf as nova_conf
from nova import objects
from nova.virt import fake

from nova_hostguard import startup
from tests.harness import framework

REPORT_INTERVAL = 1
SERVICE_DOWN_TIME = 4


class HungStartEnded(Exception):
    """The end of a start that hung in init_host, as its process's death."""


class HungStartTest(framework.SharedHypervisorTestCase):

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv2'}

    def setUp(self):
        # Before the API service starts: its service group reads both
        # once (and raises service_down_time to 2.5 report intervals).
        for name, value in (('service_down_time', SERVICE_DOWN_TIME),
                            ('report_interval', REPORT_INTERVAL)):
            nova_conf.CONF.set_override(name, value)
            self.addCleanup(nova_conf.CONF.clear_override, name)
        super().setUp()
        self.flags(report_interval=REPORT_INTERVAL,
                   service_down_time=SERVICE_DOWN_TIME)
        self.useFixture(fixtures.MonkeyPatch(
            'nova.servicegroup.api.INITIAL_REPORTING_DELAY', REPORT_INTERVAL))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.SETTLE', 0.3))
        self.hang = threading.Event()
        self.released = threading.Event()
        patched_init_host = fake.FakeDriverWithoutFakeNodes.init_host
        test = self

        def init_host(driver, host):
            if host == 'hostA' and test.hang.is_set():
                test.released.wait(120)
                # The process that hung is gone: its start goes no
                # further (nor stops anything of the framework's).
                raise HungStartEnded()
            return patched_init_host(driver, host)
        self.useFixture(fixtures.MockPatchObject(
            fake.FakeDriverWithoutFakeNodes, 'init_host', init_host))

    def _start_hung(self):
        try:
            self.start_service('compute', host='hostA')
        except HungStartEnded:
            pass

    def service_state(self, host):
        services = self.admin_api.get_services(host=host,
                                               binary='nova-compute')
        return services[0]['state']

    def service(self, host):
        return objects.Service.get_by_host_and_binary(
            self.ctxt, host, 'nova-compute')

    def last_seen_up(self, host):
        return self.service(host).last_seen_up

    def report_count(self, host):
        return self.service(host).report_count

    def _hung_restart_then_evacuate(self):
        hosta = self.start_service('compute', host='hostA')
        self.start_service('compute', host='hostB')
        server = self._create_server(networks='none', host='hostA')
        self.assertEqual('hostA', server['OS-EXT-SRV-ATTR:host'])
        # hostA's process dies; its restart hangs in init_host.
        hosta.stop()
        last_seen_up = self.last_seen_up('hostA')
        self.counted_at_stop = self.report_count('hostA')
        self.hang.set()
        hung = threading.Thread(target=self._start_hung, daemon=True)
        hung.start()
        # Run first at cleanup, while the framework's services still run.
        self.addCleanup(hung.join, 30)
        self.addCleanup(self.released.set)
        began = time.monotonic()
        while self.service_state('hostA') == 'up':
            self.assertLess(time.monotonic() - began,
                            SERVICE_DOWN_TIME + 15 * REPORT_INTERVAL,
                            "hostA's service never went down")
            time.sleep(0.2)
        # Nothing moved the heartbeat after the process died: the service
        # went down when nova alone would have.
        self.assertEqual(last_seen_up, self.last_seen_up('hostA'))
        # Down: nova lets the operator evacuate its servers.
        server = self._evacuate_server(server, expected_host='hostB')
        self.assertEqual('hostB', server['OS-EXT-SRV-ATTR:host'])
        return time.monotonic() - began

    def test_control_without_the_plugin(self):
        self._hung_restart_then_evacuate()

    def test_guarded_a_hung_start_goes_down_and_is_evacuated(self):
        self.enable_guard()
        checked = []
        check = startup.check

        def record(read, host, *args):
            checked.append(host)
            return check(read, host, *args)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.check', record))
        self._hung_restart_then_evacuate()
        # The check ran on the hung start, and the row was claimed: a
        # count below the one hostA's last heartbeat wrote.
        self.assertEqual(['hostA', 'hostB', 'hostA'], checked)
        self.assertLess(self.report_count('hostA'), self.counted_at_stop)
