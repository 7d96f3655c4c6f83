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

"""The guard inside real nova 34: active/passive failover and what must
keep working (restarts, many nodes, deleted owners, ironic rebalance)."""

from nova import exception
from nova.objects import base as objects_base

from nova_hostguard import install
from nova_hostguard import objects as hostguard_objects
from tests.harness import framework


class ActivePassiveFailoverTest(framework.SharedHypervisorTestCase):
    """Host B is a standby for host A; both reach hypervisor ``hv1``."""

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv1'}

    def _boot_on_a(self):
        self._start_compute('hostA')
        server = self._create_server(networks='none')
        self.assertEqual('hostA', server['OS-EXT-SRV-ATTR:host'])
        return server

    def test_standby_with_other_host_refuses_to_start(self):
        self.enable_guard()
        server = self._boot_on_a()
        nodes_before = self.table_rows('compute_nodes')
        instances_before = self.table_rows('instances')
        providers_before = self._get_all_providers()

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self._start_compute, 'hostB')

        message = str(exc)
        self.assertIn("hypervisor 'hv1' is already managed by host 'hostA'",
                      message)
        self.assertIn("nova-compute service up", message)
        self.assertIn("on host 'hostB'", message)
        self.assertIn('"[DEFAULT] host = hostA"', message)
        self.assertIn('openstack compute service delete', message)
        self.assertIn(message, self.stdlog.logger.output)
        # Nothing lost or added: the compute node and instance tables are
        # byte for byte what they were, placement has no new provider, the
        # server is ACTIVE on hostA and its guest is still on the
        # hypervisor. (The services row of hostB is written by nova before
        # any driver is asked anything, as for nova's own start-up checks.)
        self.assertEqual(nodes_before, self.table_rows('compute_nodes'))
        self.assertEqual(instances_before, self.table_rows('instances'))
        self.assertEqual(providers_before, self._get_all_providers())
        self.assertEqual([('hostA', 'hv1', self.live_compute_nodes()[0][2])],
                         self.live_compute_nodes())
        server = self.api.get_server(server['id'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('hostA', server['OS-EXT-SRV-ATTR:host'])
        self.assertIn(server['id'], self.computes['hostA'].manager.driver
                      .list_instance_uuids())

    def test_without_guard_nova_splits_the_hypervisor(self):
        # The control: the same steps, guard off, show the bug in nova 34.
        self._boot_on_a()
        self._start_compute('hostB')

        nodes = self.live_compute_nodes()
        self.assertEqual(['hostA', 'hostB'], [n[0] for n in nodes])
        self.assertEqual(['hv1', 'hv1'], [n[1] for n in nodes])
        hypervisors = self.api.api_get(
            '/os-hypervisors/detail').body['hypervisors']
        self.assertEqual(['hv1', 'hv1'],
                         [h['hypervisor_hostname'] for h in hypervisors])
        self.assertEqual({'up'}, {h['state'] for h in hypervisors})

    def test_warn_mode_logs_and_lets_nova_create(self):
        self.enable_guard(mode='warn')
        self._boot_on_a()
        self._start_compute('hostB')

        self.assertEqual(['hostA', 'hostB'],
                         [n[0] for n in self.live_compute_nodes()])
        output = self.stdlog.logger.output
        self.assertIn("hypervisor 'hv1' is already managed by host 'hostA'",
                      output)
        self.assertIn('[hostguard] mode = warn: creating it anyway', output)

    def test_refusal_names_every_owner_of_an_already_split_hypervisor(self):
        # Split first (guard off), then a third host is refused, naming
        # both owners with the state of their services.
        self.hypervisors['hostC'] = 'hv1'
        self._boot_on_a()
        self._start_compute('hostB')
        self.computes['hostB'].stop()
        self.admin_api.put_service_force_down(
            self.admin_api.get_services(host='hostB',
                                        binary='nova-compute')[0]['id'],
            True)
        self.enable_guard()

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self._start_compute, 'hostC')
        self.assertIn("managed by hosts 'hostA' (compute node", str(exc))
        self.assertIn("'hostB' (compute node", str(exc))
        self.assertIn('nova-compute service down, forced down', str(exc))
        self.assertEqual(['hostA', 'hostB'],
                         [n[0] for n in self.live_compute_nodes()])

    def test_standby_may_take_over_after_owner_service_deleted(self):
        # The documented way to move a hypervisor: delete the old compute
        # service (nova soft-deletes its compute nodes), then start B.
        self.enable_guard()
        self._start_compute('hostA')
        self.computes['hostA'].stop()
        service = self.admin_api.get_services(
            host='hostA', binary='nova-compute')[0]
        self.admin_api.api_delete('/os-services/%s' % service['id'])

        self._start_compute('hostB')
        self.assertEqual(['hostB'], [n[0] for n in self.live_compute_nodes()])

    def _deleted_owner_comes_back(self):
        """hostB owned hv1 and was deleted; hostA took over; B restarts.

        B's restart finds its own soft-deleted record by node uuid and
        nova revives it (bug 1839560) rather than creating one.
        """
        self._start_compute('hostB')
        self.computes['hostB'].stop()
        service = self.admin_api.get_services(
            host='hostB', binary='nova-compute')[0]
        self.admin_api.api_delete('/os-services/%s' % service['id'])
        self.computes.pop('hostB')
        self._start_compute('hostA')
        return self._start_compute, 'hostB'

    def test_deleted_owner_coming_back_is_refused(self):
        self.enable_guard()
        start, host = self._deleted_owner_comes_back()
        nodes_before = self.table_rows('compute_nodes')

        exc = self.assertRaises(exception.InvalidConfiguration, start, host)

        self.assertIn("hypervisor 'hv1' is already managed by host 'hostA'",
                      str(exc))
        self.assertIn("on host 'hostB'", str(exc))
        self.assertEqual(nodes_before, self.table_rows('compute_nodes'))
        self.assertEqual(['hostA'], [n[0] for n in self.live_compute_nodes()])
        # The host reviving its own record is the one disabled.
        self.assertEqual(
            ['enabled', 'disabled'],
            [self.admin_api.get_services(host=h, binary='nova-compute')[0]
             ['status'] for h in ('hostA', 'hostB')])

    def test_without_guard_a_deleted_owner_coming_back_splits(self):
        # The control for the test above: nova revives B's record.
        start, host = self._deleted_owner_comes_back()
        start(host)
        self.assertIn('Undeleting compute node', self.stdlog.logger.output)
        self.assertEqual(['hostA', 'hostB'],
                         [n[0] for n in self.live_compute_nodes()])


class ReviveByAnotherHostTest(framework.SharedHypervisorTestCase):
    """A host revives a record whose last host is a healthy bystander.

    nova's resource tracker finds a compute node record by the uuid the
    driver reports, deleted or not, undeletes it and saves it while it
    still names its previous host, and only then, in a later save, moves
    it to its own host. hostB's node identity is hostA's (its state_path,
    compute_id file included, was copied from hostA), so hostB revives
    the hv1 record hostA left when it moved to hvA; hostC owns hv1 by
    then. hostB is refused; hostA, running hvA, has nothing to do with it.
    """

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv1', 'hostC': 'hv1'}

    def node_uuid(self, host, nodename):
        return super().node_uuid('hostA' if host == 'hostB' else host,
                                 nodename)

    def service(self, host):
        return self.admin_api.get_services(
            host=host, binary='nova-compute')[0]

    def test_the_reviving_host_is_refused_not_the_records_last_host(self):
        self.enable_guard()
        # hostA managed hv1, then was moved to hvA the documented way:
        # its service deleted (nova soft-deletes its hv1 record), hostC
        # started for hv1, hostA restarted for hvA.
        self._start_compute('hostA')
        self.computes.pop('hostA').stop()
        self.admin_api.api_delete('/os-services/%s' %
                                  self.service('hostA')['id'])
        self._start_compute('hostC')
        self.hypervisors['hostA'] = 'hvA'
        self._start_compute('hostA')
        self.assertEqual(['hvA', 'hv1'],
                         [n[1] for n in self.live_compute_nodes()])

        exc = self.assertRaises(exception.InvalidConfiguration,
                                self._start_compute, 'hostB')

        self.assertIn('Undeleting compute node', self.stdlog.logger.output)
        self.assertIn("hypervisor 'hv1' is already managed by host 'hostC'",
                      str(exc))
        self.assertIn("on host 'hostB'", str(exc))
        self.assertNotIn("'hostA'", str(exc))
        # The bystander runs its own hypervisor, enabled.
        bystander = self.service('hostA')
        self.assertEqual(('up', 'enabled'),
                         (bystander['state'], bystander['status']))
        # The refused host is disabled, naming the owner.
        refused = self.service('hostB')
        self.assertEqual('disabled', refused['status'])
        self.assertTrue(refused['disabled_reason'].startswith(
            "nova-hostguard: hypervisor 'hv1' is managed by host 'hostC'; "
            "refused a second compute node record for it"),
            refused['disabled_reason'])
        self.assertIn('nova-hostguard: disabled the nova-compute service of '
                      "host 'hostB'", self.stdlog.logger.output)
        self.assertEqual([('hostA', 'hvA'), ('hostC', 'hv1')],
                         [n[:2] for n in self.live_compute_nodes()])


class KeepsWorkingTest(framework.SharedHypervisorTestCase):
    """What a guard must not break."""

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv10',
                   'ironic1': ['n1', 'n2', 'n3']}

    def test_same_host_restart(self):
        self.enable_guard()
        compute = self._start_compute('hostA')
        before = self.live_compute_nodes()
        self.restart_compute_service(compute)
        self.assertEqual(before, self.live_compute_nodes())

    def test_names_containing_one_another_are_different_hypervisors(self):
        self.enable_guard()
        self._start_compute('hostA')
        self._start_compute('hostB')
        self.assertEqual([('hostA', 'hv1'), ('hostB', 'hv10')],
                         [n[:2] for n in self.live_compute_nodes()])

    def test_many_nodes_per_host(self):
        self.enable_guard()
        self._start_compute('ironic1')
        self.assertEqual(['n1', 'n2', 'n3'],
                         [n[1] for n in self.live_compute_nodes()])

    def test_guard_installs_once_however_often_loaded(self):
        for _ in range(4):
            self.enable_guard()
        classes = objects_base.NovaObjectRegistry.obj_classes()
        self.assertEqual(
            [hostguard_objects.GuardedComputeNode], classes['ComputeNode'])
        self.assertTrue(install.is_installed())
        from nova import objects
        self.assertIs(hostguard_objects.GuardedComputeNode,
                      objects.ComputeNode)
        self.assertEqual(objects_base.NovaObjectRegistry.obj_classes()
                         ['ComputeNode'][0].VERSION, '1.19')


class IronicRebalanceTest(framework.SharedHypervisorTestCase):
    """An ironic node moves between hosts by uuid: no create, no refusal.

    Modelled on nova's regressions/test_bug_1853009.py.
    """

    compute_driver = 'fake.PredictableNodeUUIDDriver'

    def _start_ironic_compute(self, host):
        compute = self._start_compute(host)
        compute.manager.driver.rebalances_nodes = True
        return compute

    def test_rebalance_moves_the_node(self):
        self.enable_guard()
        host_a = self._start_ironic_compute('host_a')
        host_a.manager.driver._set_nodes(['ironic-node'])
        host_a.manager.update_available_resource(self.ctxt)
        node_uuid = [n[2] for n in self.live_compute_nodes()
                     if n[1] == 'ironic-node'][0]
        host_a.stop()

        host_b = self._start_ironic_compute('host_b')
        host_b.manager.driver._set_nodes(['ironic-node'])
        host_b.manager.update_available_resource(self.ctxt)

        moved = [n for n in self.live_compute_nodes() if n[1] == 'ironic-node']
        self.assertEqual([('host_b', 'ironic-node', node_uuid)], moved)
        self.assertIn('ComputeNode ironic-node moving from host_a to host_b',
                      self.stdlog.logger.output)
        self.assertNotIn('nova-hostguard: hypervisor',
                         self.stdlog.logger.output)
