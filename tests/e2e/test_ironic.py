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

"""One live nova-compute per ironic shard, with real processes.

nova's own ``nova-compute`` and ``nova-conductor`` processes, its ironic
driver, a real ironic (tests/harness/ironic.py), MariaDB and RabbitMQ.
nova-compute looks for its nodes at start and then once a minute (its
``update_available_resource`` periodic task runs at oslo.service's
default interval: nova reads ``update_resources_interval`` before it
parses its configuration), so the control waits for one periodic run.
"""

import time

from tests.e2e import base
from tests.harness import ironic

SHARD = 'shard-a'
STARTUP_TIMEOUT = 180
#: How long the owners are watched after a refusal or a failover.
WATCH = 6
#: Longer than one periodic run of nova-compute (60 s).
PERIODIC_TIMEOUT = 150
REFUSAL = "is managed by host 'ironic-a'"


class IronicShardTest(base.NovaProcessesTestCase):

    def setUp(self):
        super().setUp()
        self.nodes = self.useFixture(ironic.NodesFixture())
        self.shard_nodes = sorted(self.nodes.enroll(SHARD, count=2))

    def start_compute(self, machine, host=None, guard=False):
        return self.cloud.start_ironic_compute(
            machine, SHARD, self.nodes.ironic.endpoint, host=host,
            guard=guard)

    def owners(self):
        """node -> host of its live record."""
        return {hv: host for host, hv, deleted in self.cloud.compute_nodes()
                if not deleted}

    def wait_owned_by(self, host):
        expected = {node: host for node in self.shard_nodes}
        self.cloud.wait_for(lambda: self.owners() == expected,
                            STARTUP_TIMEOUT, 'every node owned by %s' % host)

    def watch_flips(self, seconds, until=None):
        """Owner changes seen by polling the database.

        For ``seconds``, or until ``until(history)`` holds (then failing
        after ``seconds``); ``history`` is the owners seen, in order.
        """
        flips, history = 0, [self.owners()]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until is not None and until(history):
                return flips, history
            time.sleep(0.2)
            after = self.owners()
            flips += sum(1 for node in self.shard_nodes
                         if history[-1].get(node) != after.get(node))
            if after != history[-1]:
                history.append(after)
        if until is not None:
            self.fail('after %ss the owners were %s' % (seconds, history))
        return flips, history

    def test_without_the_plugin_two_services_trade_the_shard(self):
        self.cloud.start_conductor()
        compute_a = self.start_compute('ironic-a')
        self.wait_owned_by('ironic-a')
        compute_b = self.start_compute('ironic-b')

        def back_to_a(history):
            return (any(set(h.values()) == {'ironic-b'} for h in history)
                    and 'ironic-a' in history[-1].values())
        # b takes every node at its start, a takes them back at its next
        # periodic run (and b at its next, and so on).
        flips, history = self.watch_flips(PERIODIC_TIMEOUT, until=back_to_a)
        self.assertGreaterEqual(flips, 3, history)
        self.assertIsNone(compute_a.poll())
        self.assertIsNone(compute_b.poll())
        self.assertIn('moving from ironic-a to ironic-b',
                      self.cloud.log_of('ironic-b'))
        self.assertIn('moving from ironic-b to ironic-a',
                      self.cloud.log_of('ironic-a'))

    def test_guarded_one_service_per_shard_and_its_failovers(self):
        self.cloud.start_conductor(guard=True)
        compute_a = self.start_compute('ironic-a', guard=True)
        self.wait_owned_by('ironic-a')
        records = self.cloud.compute_nodes()

        # A second service for the live shard stops; nothing changes, for
        # several of a's runs.
        compute_b = self.start_compute('ironic-b', guard=True)
        self.assertNotEqual(0, compute_b.wait(STARTUP_TIMEOUT))
        self.assertIn(REFUSAL, self.cloud.log_of('ironic-b'))
        self.assertEqual(0, self.watch_flips(WATCH)[0])
        self.assertEqual(records, self.cloud.compute_nodes())
        self.assertIsNone(compute_a.poll())

        # Same-host failover after kill -9: the standby machine runs as
        # ironic-a and keeps every record as it is.
        compute_a.kill()
        compute_a.wait()
        self.cloud.processes.pop('ironic-a')
        standby = self.start_compute('ironic-a2', host='ironic-a',
                                     guard=True)
        running, _ = self.cloud.wait_started('ironic-a2', 0, STARTUP_TIMEOUT)
        self.assertTrue(running, self.cloud.log_of('ironic-a2')[-4000:])
        self.assertEqual(0, self.watch_flips(WATCH)[0])
        self.assertEqual(records, self.cloud.compute_nodes())

        # The shard moved to a new host once its old service is stopped
        # and forced down.
        self.cloud.stop('ironic-a2')
        self.assertIsNotNone(standby.poll())
        self.cloud.force_down('ironic-a')
        since = self.cloud.log_size('ironic-b')
        compute_b = self.start_compute('ironic-b', guard=True)
        self.wait_owned_by('ironic-b')
        running, logged = self.cloud.wait_started('ironic-b', since,
                                                  STARTUP_TIMEOUT)
        self.assertTrue(running, logged[-4000:])
        self.assertNotIn(REFUSAL, logged)
