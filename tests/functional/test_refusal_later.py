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

"""A refusal after startup: nova-compute keeps running, disabled.

nova stops nova-compute on ``InvalidConfiguration`` only from its startup
run of ``update_available_resource``; in a periodic run it logs the error
and carries on. Two ways to get there: the lookup failed at startup (a
conductor that did not answer), so the record was not created and the
next periodic run tries again; or the driver of a running host starts to
report another host's hypervisor. In enforce mode the guard then disables
the host's nova-compute service, naming the owner: the scheduler skips it
and ``openstack compute service list`` says why. Warn mode and no guard at
all are the controls: the host stays enabled and takes the server.
"""

import fixtures
from nova import exception
from nova import objects
from nova import test
import oslo_messaging
from sqlalchemy import exc as sqla_exc

from nova_hostguard import lookup
from tests.harness import framework

REASON = ("nova-hostguard: hypervisor 'hv1' is managed by host 'hostA'; "
          "refused a second compute node record for it")


class RefusalAfterStartupTest(framework.SharedHypervisorTestCase):
    """hostA owns ``hv1``; hostB also manages its own ``hvB``."""

    hypervisors = {'hostA': 'hv1', 'hostB': 'hvB'}

    def setUp(self):
        super().setUp()
        # nova 34 on SQLAlchemy 2.1 warns about noload() where it puts a
        # server that found no host in ERROR; nova's fixture turns the
        # warning into an error that leaves the server in BUILD.
        self.useFixture(fixtures.WarningsFilter([{
            'action': 'ignore', 'message': r'The noload\(\) option',
            'category': sqla_exc.SADeprecationWarning}]))

    def service(self, host):
        return self.admin_api.get_services(
            host=host, binary='nova-compute')[0]

    def periodic(self, host):
        """One periodic run of the resource tracker, as nova schedules it."""
        self.computes[host].manager.update_available_resource(self.ctxt)

    def hostb_reports_hv1_later(self):
        """hostB runs, enabled; then its driver reports hv1 as well."""
        self._start_compute('hostA')
        compute_b = self._start_compute('hostB')
        self.assertEqual('enabled', self.service('hostB')['status'])
        compute_b.manager.driver._set_nodes(['hvB', 'hv1'])
        self.periodic('hostB')

    def assert_disabled_naming_the_owner(self):
        service = self.service('hostB')
        self.assertEqual('disabled', service['status'])
        self.assertTrue(service['disabled_reason'].startswith(REASON),
                        service['disabled_reason'])
        self.assertEqual('enabled', self.service('hostA')['status'])
        self.assertEqual(['hostA'], [n[0] for n in self.live_compute_nodes()
                                     if n[1] == 'hv1'])

    def boot_on(self, host, expected_state='ACTIVE'):
        return self._create_server(networks='none', host=host,
                                   expected_state=expected_state)

    def test_refusal_in_a_periodic_run_disables_the_service(self):
        self.enable_guard()
        self.hostb_reports_hv1_later()

        # nova only logged the refusal: hostB is still running...
        self.assertIn("Error updating resources for node hv1: nova-hostguard:"
                      " hypervisor 'hv1' is already managed by host 'hostA'",
                      self.stdlog.logger.output)
        self.assertEqual('up', self.service('hostB')['state'])
        # ...but disabled, naming the owner, and the scheduler skips it.
        self.assert_disabled_naming_the_owner()
        self.assertIn('nova-hostguard: disabled the nova-compute service of '
                      "host 'hostB'", self.stdlog.logger.output)
        server = self.boot_on('hostB', expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        # Later runs refuse again and leave the service as it is.
        self.periodic('hostB')
        self.assert_disabled_naming_the_owner()

    def test_warn_mode_leaves_the_service_enabled(self):
        # The control: the same steps, warn mode: hostB takes servers.
        self.enable_guard(mode='warn')
        self.hostb_reports_hv1_later()

        self.assertEqual('enabled', self.service('hostB')['status'])
        self.assertEqual('hostB',
                         self.boot_on('hostB')['OS-EXT-SRV-ATTR:host'])

    def test_without_guard_the_service_stays_enabled(self):
        # The control without the guard: hv1 is split and hostB is enabled.
        self.hostb_reports_hv1_later()

        self.assertEqual(['hostA', 'hostB'],
                         [n[0] for n in self.live_compute_nodes()
                          if n[1] == 'hv1'])
        self.assertEqual('enabled', self.service('hostB')['status'])
        self.assertEqual('hostB',
                         self.boot_on('hostB')['OS-EXT-SRV-ATTR:host'])

    def test_an_operators_reason_is_kept(self):
        self.enable_guard()
        self._start_compute('hostA')
        compute_b = self._start_compute('hostB')
        self.admin_api.put_service(self.service('hostB')['id'], {
            'status': 'disabled', 'disabled_reason': 'maintenance'})
        compute_b.manager.driver._set_nodes(['hvB', 'hv1'])
        self.periodic('hostB')

        self.assertEqual('maintenance',
                         self.service('hostB')['disabled_reason'])
        self.assertEqual(['hostA'], [n[0] for n in self.live_compute_nodes()
                                     if n[1] == 'hv1'])


class LookupFailedAtStartupTest(framework.SharedHypervisorTestCase):
    """hostB is a standby for hostA; its startup lookup times out."""

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv1'}

    def fail_the_next_lookup(self):
        real = lookup.nodes_named
        failed = []

        def nodes_named(context, name, host):
            if not failed:
                failed.append(name)
                raise oslo_messaging.MessagingTimeout('no conductor')
            return real(context, name, host)
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', nodes_named))

    def map_host(self, host):
        """Map the host to cell1 ahead of nova's test harness.

        The harness maps a new compute host after its start, and for that
        reads the compute node that the failed lookup kept from being
        created.
        """
        mapping = objects.HostMapping(
            context=self.ctxt, host=host,
            cell_mapping=self.cell_mappings[test.CELL1_NAME])
        mapping.create()
        self.host_mappings[host] = mapping

    def test_refusal_after_a_failed_startup_lookup_disables_the_service(self):
        self.enable_guard()
        self._start_compute('hostA')
        self.fail_the_next_lookup()
        self.map_host('hostB')

        # nova logs the failure and carries on: hostB runs, no record.
        compute_b = self._start_compute('hostB')
        self.assertIn('MessagingTimeout: no conductor',
                      self.stdlog.logger.output)
        service = self.admin_api.get_services(
            host='hostB', binary='nova-compute')[0]
        self.assertEqual(('up', 'enabled'),
                         (service['state'], service['status']))

        compute_b.manager.update_available_resource(self.ctxt)

        service = self.admin_api.get_services(
            host='hostB', binary='nova-compute')[0]
        self.assertEqual(('up', 'disabled'),
                         (service['state'], service['status']))
        self.assertTrue(service['disabled_reason'].startswith(REASON),
                        service['disabled_reason'])
        self.assertEqual(['hostA'], [n[0] for n in self.live_compute_nodes()])

    def test_refusal_at_startup_stops_and_disables(self):
        # At startup nova stops on the refusal; the service record nova
        # wrote for hostB before that is left disabled, naming the owner.
        self.enable_guard()
        self._start_compute('hostA')
        self.assertRaises(exception.InvalidConfiguration,
                          self._start_compute, 'hostB')

        service = self.admin_api.get_services(
            host='hostB', binary='nova-compute')[0]
        self.assertEqual('disabled', service['status'])
        self.assertTrue(service['disabled_reason'].startswith(REASON),
                        service['disabled_reason'])
