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

"""Ironic's move door: real nova 34 in process, its real IronicDriver, a
real ironic (PyPI, fake hardware) as the hypervisor.

Two nova-compute services configured for one ``[ironic] shard`` trade the
shard's nodes on every periodic run, guard or no guard on create: nova
moves a node's record by ``save()`` of ``host``. The unguarded control
counts the flips; the guarded runs show the second service refused at
start with nothing written, a contested node refused alone in a periodic
run, and the legitimate moves (failover after a forced down, a node moved
to another shard) going through.

In one process nova's options are one set: each service's own
``[DEFAULT] host`` and ``[ironic] shard`` are put in place before its
periodic run (:meth:`IronicTestCase.run_periodic`), as its own process
would have them.
"""

import datetime

import fixtures
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception
from nova import objects
from nova import servicegroup
from nova.tests.functional import integrated_helpers
from nova.virt.ironic import driver as ironic_driver
from oslo_utils import timeutils

from tests.harness import fixtures as hostguard_fixtures
from tests.harness import ironic

CONF = nova_conf.CONF
SHARD_A = 'shard-a'
SHARD_B = 'shard-b'


class IronicTestCase(hostguard_fixtures.GuardSwitch,
                     integrated_helpers.ProviderUsageBaseTestCase):

    compute_driver = 'ironic.IronicDriver'

    def setUp(self):
        self.flags(api_paste_config=hostguard_fixtures.nova_api_paste_ini(),
                   group='wsgi')
        self.nodes = self.useFixture(ironic.NodesFixture())
        super().setUp()
        self.flags(auth_type='none', group='ironic')
        self.flags(endpoint_override=self.nodes.ironic.endpoint,
                   group='ironic')
        self.ctxt = nova_context.get_admin_context()
        self.shards = {}

    def start_compute(self, host, shard):
        self.shards[host] = shard
        self.flags(shard=shard, group='ironic')
        return self.start_service('compute', host=host)

    def run_periodic(self, compute):
        """One update_available_resource run, with the service's options."""
        self.flags(host=compute.host)
        self.flags(shard=self.shards[compute.host], group='ironic')
        compute.manager.update_available_resource(self.ctxt)

    def owners(self):
        """node uuid -> host of its live compute node record."""
        return {cn.hypervisor_hostname: cn.host
                for cn in objects.ComputeNodeList.get_all(self.ctxt)}

    def records(self):
        """Every compute node row, deleted or not: (uuid, host, deleted)."""
        with nova_context.target_cell(self.ctxt, None) as ctxt:
            ctxt.read_deleted = 'yes'
            return sorted((cn.uuid, cn.host, cn.deleted) for cn in
                          objects.ComputeNodeList.get_all(ctxt))

    def force_down(self, host):
        service = objects.Service.get_by_compute_host(self.ctxt, host)
        service.forced_down = True
        service.save()


class SecondServiceForAShardTest(IronicTestCase):
    """ironic-b is configured with ironic-a's shard."""

    def _a_owns_the_shard(self):
        self.shard_nodes = self.nodes.enroll(SHARD_A, count=3)
        self.compute_a = self.start_compute('ironic-a', SHARD_A)
        self.assertEqual({n: 'ironic-a' for n in self.shard_nodes},
                         self.owners())

    def test_control_without_the_plugin_the_nodes_flip(self):
        self._a_owns_the_shard()
        history = [self.owners()]
        compute_b = self.start_compute('ironic-b', SHARD_A)
        history.append(self.owners())
        for compute in (self.compute_a, compute_b) * 2:
            self.run_periodic(compute)
            history.append(self.owners())
        self.assertEqual(6, len(history))
        flips = sum(1 for before, after in zip(history, history[1:])
                    for node in self.shard_nodes
                    if before[node] != after[node])
        # Every node changes host at every run: b's start, then a, b, a, b.
        self.assertEqual(3 * 5, flips, history)

    def test_control_a_server_built_while_the_nodes_flip(self):
        # ironic-b has taken the shard and claimed one of its nodes for a
        # server; ironic-a's periodic run comes before nova writes the
        # instance into the ironic node (prepare_for_spawn): the record of
        # the node moves to ironic-a under ironic-b's build, and the
        # server runs on ironic-b with its node's record naming ironic-a
        # until ironic-b's next run.
        self._a_owns_the_shard()
        compute_b = self.start_compute('ironic-b', SHARD_A)
        self.assertEqual({n: 'ironic-b' for n in self.shard_nodes},
                         self.owners())
        during_build = []
        prepare_for_spawn = ironic_driver.IronicDriver.prepare_for_spawn

        def a_runs_meanwhile(driver, instance):
            if not during_build:
                self.run_periodic(self.compute_a)
                during_build.append(self.owners())
                self.flags(host='ironic-b')
            return prepare_for_spawn(driver, instance)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.ironic.driver.IronicDriver.prepare_for_spawn',
            a_runs_meanwhile))
        server = self.boot_server()
        node = server['OS-EXT-SRV-ATTR:hypervisor_hostname']
        self.assertEqual('ironic-b', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('ironic-a', during_build[0][node])
        self.assertEqual('ironic-a', self.owners()[node])
        self.run_periodic(compute_b)
        self.assertEqual('ironic-b', self.owners()[node])

    def boot_server(self):
        """A server on one of the shard's nodes; its API view once ACTIVE."""
        flavor = self._create_flavor(
            memory_mb=1, vcpu=1, disk=1, ephemeral=0, extra_spec={
                'resources:CUSTOM_BAREMETAL': '1',
                'resources:VCPU': '0',
                'resources:MEMORY_MB': '0',
                'resources:DISK_GB': '0'})
        return self._create_server(flavor_id=flavor, networks='none')

    def test_guarded_the_second_service_is_refused_at_start(self):
        self.enable_guard()
        self._a_owns_the_shard()
        before = self.records()
        error = self.assertRaises(exception.InvalidConfiguration,
                                  self.start_compute, 'ironic-b', SHARD_A)
        self.assertIn("is managed by host 'ironic-a'", str(error))
        self.assertIn('"[DEFAULT] host = ironic-a"', str(error))
        self.assertIn('nova-manage db ironic_compute_node_move', str(error))
        # Nothing written: no node moved, no record created.
        self.assertEqual(before, self.records())
        # And a keeps every node over its next runs, a server built on one
        # of them among them.
        server = self.boot_server()
        self.assertEqual('ironic-a', server['OS-EXT-SRV-ATTR:host'])
        for _ in range(2):
            self.run_periodic(self.compute_a)
        self.assertEqual({n: 'ironic-a' for n in self.shard_nodes},
                         self.owners())

    def test_guarded_a_contested_node_is_refused_alone_and_logged_once(self):
        # ironic-b serves shard-b; later its periodic runs see shard-a
        # (its configuration changed under a running process, or two
        # processes of b): a's nodes stay a's, b's own node stays b's,
        # b's service stays enabled, and the refusal is logged once.
        self.enable_guard()
        self._a_owns_the_shard()
        own = self.nodes.enroll(SHARD_B)[0]
        compute_b = self.start_compute('ironic-b', SHARD_B)
        self.assertEqual('ironic-b', self.owners()[own])
        self.shards['ironic-b'] = SHARD_A
        for _ in range(3):
            self.run_periodic(compute_b)
        expected = {n: 'ironic-a' for n in self.shard_nodes}
        expected[own] = 'ironic-b'
        self.assertEqual(expected, self.owners())
        service = objects.Service.get_by_compute_host(self.ctxt, 'ironic-b')
        self.assertFalse(service.disabled)
        log = self.stdlog.logger.output
        for node in self.shard_nodes:
            self.assertEqual(1, log.count(
                "[nova_hostguard.moves] nova-hostguard: node '%s'" % node),
                log)

    def test_guarded_a_service_with_nodes_restarts_beside_contested_ones(self):
        # Every node of shard-a is re-labelled shard-b at once while
        # ironic-a runs: ironic-b must not take them (a would take them
        # back), but its restart must not fail for them either.
        self.enable_guard()
        self._a_owns_the_shard()
        own = self.nodes.enroll(SHARD_B)[0]
        compute_b = self.start_compute('ironic-b', SHARD_B)
        for node in self.shard_nodes:
            self.nodes.ironic.set_shard(node, SHARD_B)
        compute_b.stop()
        compute_b = self.start_compute('ironic-b', SHARD_B)
        expected = {n: 'ironic-a' for n in self.shard_nodes}
        expected[own] = 'ironic-b'
        self.assertEqual(expected, self.owners())
        self.run_periodic(compute_b)
        self.assertEqual(expected, self.owners())

    def test_guarded_warn_mode_lets_the_move_happen(self):
        self.enable_guard(mode='warn')
        self._a_owns_the_shard()
        self.start_compute('ironic-b', SHARD_A)
        self.assertEqual({n: 'ironic-b' for n in self.shard_nodes},
                         self.owners())
        self.assertIn('mode = warn: moving it anyway',
                      self.stdlog.logger.output)


class LegitimateMovesTest(IronicTestCase):
    """Moves nova makes on purpose go through with the guard on."""

    def setUp(self):
        super().setUp()
        self.enable_guard()

    def test_shard_moved_after_the_old_service_is_forced_down(self):
        shard_nodes = self.nodes.enroll(SHARD_A, count=2)
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_a.stop()
        self.force_down('ironic-a')
        self.start_compute('ironic-b', SHARD_A)
        self.assertEqual({n: 'ironic-b' for n in shard_nodes}, self.owners())

    def test_shard_moved_after_the_old_service_went_down(self):
        # Not forced down: stopped, and silent longer than
        # service_down_time, which nova's servicegroup calls down.
        shard_nodes = self.nodes.enroll(SHARD_A, count=2)
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_a.stop()
        service = objects.Service.get_by_compute_host(self.ctxt, 'ironic-a')
        service.last_seen_up = timeutils.utcnow() - datetime.timedelta(
            seconds=2 * CONF.service_down_time)
        service.save()
        self.assertFalse(servicegroup.API().service_is_up(service))
        self.start_compute('ironic-b', SHARD_A)
        self.assertEqual({n: 'ironic-b' for n in shard_nodes}, self.owners())

    def test_a_node_moved_to_another_shard(self):
        # The operator: "baremetal node set --shard shard-b <node>".
        nodes_a = self.nodes.enroll(SHARD_A, count=3)
        node_b = self.nodes.enroll(SHARD_B)[0]
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_b = self.start_compute('ironic-b', SHARD_B)
        moved = nodes_a[:2]
        for node in moved:
            self.nodes.ironic.set_shard(node, SHARD_B)
        for compute in (compute_b, compute_a, compute_b, compute_a):
            self.run_periodic(compute)
        expected = {n: 'ironic-b' for n in moved + [node_b]}
        expected[nodes_a[2]] = 'ironic-a'
        self.assertEqual(expected, self.owners())

    def test_nova_manage_moves_a_node_of_a_forced_down_service(self):
        # nova's way to move a node between services: the node to the new
        # service's shard, the old service stopped and forced down, then
        # "nova-manage db ironic_compute_node_move".
        from nova.cmd import manage

        node, other = self.nodes.enroll(SHARD_A, count=2)
        own_b = self.nodes.enroll(SHARD_B)[0]
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_b = self.start_compute('ironic-b', SHARD_B)
        self.nodes.ironic.set_shard(node, SHARD_B)
        compute_a.stop()
        self.force_down('ironic-a')
        manage.DbCommands().ironic_compute_node_move(node, 'ironic-b')
        self.run_periodic(compute_b)
        self.assertEqual({node: 'ironic-b', own_b: 'ironic-b',
                          other: 'ironic-a'}, self.owners())

    def test_nodes_deleted_and_enrolled_while_both_services_run(self):
        gone = self.nodes.enroll(SHARD_A)[0]
        node_b = self.nodes.enroll(SHARD_B)[0]
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_b = self.start_compute('ironic-b', SHARD_B)
        self.nodes.ironic.delete(gone)
        new_a, = self.nodes.enroll(SHARD_A)
        new_b, = self.nodes.enroll(SHARD_B)
        for compute in (compute_a, compute_b, compute_a, compute_b):
            self.run_periodic(compute)
        self.assertEqual({new_a: 'ironic-a', node_b: 'ironic-b',
                          new_b: 'ironic-b'}, self.owners())

    def test_same_host_restart_keeps_every_node(self):
        shard_nodes = self.nodes.enroll(SHARD_A, count=2)
        compute_a = self.start_compute('ironic-a', SHARD_A)
        compute_a.stop()
        self.start_compute('ironic-a', SHARD_A)
        self.assertEqual({n: 'ironic-a' for n in shard_nodes}, self.owners())


class ConductorGroupTest(IronicTestCase):
    """Two services for one conductor group, each with ``peer_list`` = itself.

    nova requires ``peer_list`` with ``conductor_group``; each ring then
    holds its own host alone, so without a shard each service claims every
    node of the group, as two services given one shard do.
    """

    def start_compute(self, host, shard=None):
        self.flags(conductor_group='', peer_list=[host], group='ironic')
        return super().start_compute(host, shard)

    def run_periodic(self, compute):
        self.flags(peer_list=[compute.host], group='ironic')
        super().run_periodic(compute)

    def test_control_without_the_plugin_the_second_takes_every_node(self):
        group_nodes = self.nodes.enroll(None, count=2)
        self.start_compute('ironic-a')
        self.start_compute('ironic-b')
        self.assertEqual({n: 'ironic-b' for n in group_nodes}, self.owners())

    def test_guarded_the_second_service_is_refused_at_start(self):
        self.enable_guard()
        group_nodes = self.nodes.enroll(None, count=2)
        compute_a = self.start_compute('ironic-a')
        self.assertEqual({n: 'ironic-a' for n in group_nodes}, self.owners())
        self.assertRaises(exception.InvalidConfiguration,
                          self.start_compute, 'ironic-b')
        self.run_periodic(compute_a)
        self.assertEqual({n: 'ironic-a' for n in group_nodes}, self.owners())
