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

"""Standbys racing for one hypervisor: the database decides.

Each creator is a thread with its own nova context, so its own database
connection, creating a compute node for its own host and the same
hypervisor through nova's object layer (the guarded ``ComputeNode``), as
conductors serving several standbys at once would.

The check in ``create()`` reads before nova writes, so creators that all
read before any writes all pass it. The "synchronised" races force exactly
that, every time: a barrier holds each creator after its ownership lookup
until all have looked (the lookup itself is nova's and ours, unchanged).
The "free" races add no barrier.

"Nothing lost or changed" means: exactly one live row for the raced
hypervisor, whose host is the one creator that succeeded; every other
creator refused with the guard's message naming that host; every other row
of ``compute_nodes`` as it was before the race.
"""

import threading

import fixtures
from nova import exception
from nova import objects
from nova.objects import base as objects_base
from oslo_db import exception as db_exc
import oslo_messaging as messaging
from oslo_utils import uuidutils
import sqlalchemy as sa

from nova_hostguard.db import migration
from nova_hostguard import guard
from nova_hostguard import lookup
from tests.db import base
from tests.harness import conductor
from tests.harness import databases


CREATORS = 8
ROUNDS = 10


class RaceTest(base.BackendTestCase):

    def setUp(self):
        super().setUp()
        self.enable_guard()
        # Rows the race must leave alone: other hypervisors, a deleted
        # owner of the raced ones.
        for i in range(3):
            self.create('bystander%d' % i, 'other-hv%d' % i)
        for i in range(ROUNDS):
            self.create('old-owner', 'hv-race-%d' % i).destroy()

    def synchronise_lookups(self, parties):
        """Hold each creator after its first lookup until all have looked."""
        barrier = threading.Barrier(parties)
        looked = threading.local()
        real = lookup.nodes_named

        def nodes_named(context, name, host):
            found = real(context, name, host)
            if not getattr(looked, 'once', False):
                looked.once = True
                barrier.wait(timeout=60)
            return found
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', nodes_named))

    def deleted_owners(self, name, count):
        """Hosts whose record for ``name`` was deleted: {host: node uuid}."""
        deleted = {}
        for i in range(count):
            node = self.create('returning%d' % i, name)
            node.destroy()
            deleted[node.host] = node.uuid
        return deleted

    def race(self, name, creators=CREATORS, deleted=None):
        """Race creators and revivers for ``name``; outcomes by host.

        ``creators`` threads create a record; for each host of
        ``deleted`` one thread revives its soft-deleted record, as nova's
        resource tracker does for a node uuid it finds deleted (bug
        1839560).
        """
        outcomes = {}
        deleted = deleted or {}

        def create(host):
            try:
                if host in deleted:
                    self.revive(deleted[host])
                else:
                    self.create(host, name)
                outcomes[host] = None
            except Exception as e:
                outcomes[host] = e
        hosts = ['standby%d' % i for i in range(creators)] + list(deleted)
        threads = [threading.Thread(target=create, args=(host,))
                   for host in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(len(hosts), len(outcomes),
                         'a creator never finished')
        return outcomes

    def revive(self, node_uuid):
        """Undelete a compute node the way nova's resource tracker does."""
        context = self.db.context()
        context.read_deleted = 'yes'
        node = objects.ComputeNode.get_by_uuid(context, node_uuid)
        node.deleted = False
        node.deleted_at = None
        node.save()

    def live_owners(self, name):
        with self.db.engine.connect() as conn:
            return sorted(conn.execute(sa.text(
                'SELECT host FROM compute_nodes WHERE deleted = 0 AND '
                'hypervisor_hostname = :name'), {'name': name}).scalars())

    def assert_one_winner_and_clear_refusals(self, name, outcomes):
        winners = [h for h, e in outcomes.items() if e is None]
        self.assertEqual(1, len(winners), outcomes)
        winner = winners[0]
        self.assertEqual([winner], self.live_owners(name))
        for host, error in outcomes.items():
            if host == winner:
                continue
            self.assertIsInstance(error, exception.InvalidConfiguration,
                                  '%s: %r' % (host, error))
            self.assertIn("hypervisor %r is already managed by host %r "
                          "(compute node" % (name, winner), str(error))
            self.assertIn("on host %r" % host, str(error))

    def assert_only_the_winners_were_added(self, before, rounds):
        after = self.db.rows('compute_nodes')
        self.assertEqual(before, [r for r in after if r in before])
        self.assertEqual(len(before) + rounds, len(after))

    def test_synchronised_races_with_the_constraint(self):
        migration.upgrade(self.db.engine)
        log = self.useFixture(fixtures.FakeLogger(
            name='nova_hostguard.guard'))
        before = self.db.rows('compute_nodes')
        for i in range(ROUNDS):
            self.synchronise_lookups(CREATORS)
            name = 'hv-race-%d' % i
            self.assert_one_winner_and_clear_refusals(name, self.race(name))
        # Every loser passed the check and was refused by the database.
        self.assertEqual(ROUNDS * (CREATORS - 1),
                         log.output.count('refused by the database'))
        self.assert_only_the_winners_were_added(before, ROUNDS)

    def test_free_races_with_the_constraint(self):
        migration.upgrade(self.db.engine)
        before = self.db.rows('compute_nodes')
        for i in range(ROUNDS):
            name = 'hv-race-%d' % i
            self.assert_one_winner_and_clear_refusals(name, self.race(name))
        self.assert_only_the_winners_were_added(before, ROUNDS)

    def test_synchronised_revive_races_with_the_constraint(self):
        # Creators and revivers pass the check together; the database
        # refuses all but one, and a reviver that loses gets the same
        # refusal as a creator, not the database's duplicate-key error.
        migration.upgrade(self.db.engine)
        revivers = CREATORS // 2
        names = ['hv-revive-%d' % i for i in range(ROUNDS)]
        before = self.db.rows('compute_nodes')
        deleted = {name: self.deleted_owners(name, revivers)
                   for name in names}
        for name in names:
            self.synchronise_lookups(CREATORS)
            outcomes = self.race(name, creators=CREATORS - revivers,
                                 deleted=deleted[name])
            self.assert_one_winner_and_clear_refusals(name, outcomes)
        after = self.db.rows('compute_nodes')
        self.assertEqual(before, [r for r in after if r in before])

    def test_a_revive_refused_by_the_database_crosses_rpc_as_the_refusal(
            self):
        # nova-compute revives over RPC, and what it receives is what
        # nova-conductor's exception becomes through oslo.messaging's reply
        # serialisation, with the modules nova allows. Only
        # InvalidConfiguration stops nova-compute at startup; anything
        # outside nova.exception arrives as a RemoteError it only logs.
        migration.upgrade(self.db.engine)
        node = self.create('returning0', 'hv-revive')
        node.destroy()
        self.create_after_first_lookup('winner', 'hv-revive')

        try:
            self.revive(node.uuid)
        except Exception as e:
            error = e
        else:
            self.fail('the revive was not refused')

        received = conductor.over_rpc(error)
        self.assertIsInstance(received, exception.InvalidConfiguration)
        self.assertIn("hypervisor 'hv-revive' is already managed by host "
                      "'winner'", str(received))
        self.assertIn("on host 'returning0'", str(received))
        self.assertEqual(['winner'], self.live_owners('hv-revive'))

    def test_a_revive_refused_by_an_unguarded_conductor_is_the_refusal(
            self):
        # The guard in nova-compute only: nova's own conductor sends the
        # database's duplicate-key error of a revive as a RemoteError.
        migration.upgrade(self.db.engine)
        node = self.create('returning0', 'hv-revive')
        node.destroy()
        self.useFixture(fixtures.MockPatchObject(
            objects_base.NovaObject, 'indirection_api',
            conductor.Conductor()))
        self.create_after_first_lookup('winner', 'hv-revive')

        error = self.assertRaises(exception.InvalidConfiguration,
                                  self.revive, node.uuid)

        self.assertIn("hypervisor 'hv-revive' is already managed by host "
                      "'winner'", str(error))
        self.assertIn("on host 'returning0'", str(error))
        self.assertEqual(['winner'], self.live_owners('hv-revive'))

    def create_after_first_lookup(self, host, name):
        """Let another host create ``name`` right after the next lookup.

        The one who looked then writes after the winner has committed:
        the race of two connections, in a fixed order.
        """
        real = lookup.nodes_named
        done = []

        def nodes_named(context, wanted, host_to_own):
            found = real(context, wanted, host_to_own)
            if not done:
                done.append(True)
                self.create(host, name)
            return found
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', nodes_named))

    def test_without_the_constraint_a_synchronised_race_splits(self):
        # The control: the check alone cannot stop creators that all read
        # before any writes; this is what the constraint is for.
        self.synchronise_lookups(CREATORS)
        outcomes = self.race('hv-race-0')
        self.assertEqual([None] * CREATORS, list(outcomes.values()))
        self.assertEqual(CREATORS, len(self.live_owners('hv-race-0')))


class CommitConflictTest(base.BackendTestCase):
    """A create that fails with a deadlock error, another owner or not.

    On a Galera cluster that is how a second owner writing through
    another node is refused (tests/db/test_galera.py races it for real);
    here the deadlock is injected into nova's insert, on SQLite, to show
    what the guard makes of one in each case.
    """

    scenarios = [('sqlite', {'backend': 'sqlite'})]

    def setUp(self):
        super().setUp()
        from nova import conf
        from nova import rpc

        # Disabling a service sends nova's notification: a notifier that
        # drops it, as nova's own tests have one.
        self.useFixture(fixtures.MockPatchObject(rpc, 'NOTIFIER', (
            messaging.Notifier(messaging.get_notification_transport(
                conf.CONF, url='fake:/'), driver='noop'))))

    def deadlock_on_create(self, then_owner=None):
        """nova's insert fails with a deadlock error.

        First ``then_owner``, if any, writes a record for the hypervisor,
        as the winner through another node would have.
        """
        from nova.db.main import api as main_db_api

        def compute_node_create(context, values):
            if then_owner:
                self.insert('compute_nodes', **databases.compute_node_values(
                    then_owner, values['hypervisor_hostname'],
                    uuid=uuidutils.generate_uuid(), deleted=0))
            raise db_exc.DBDeadlock()
        self.useFixture(fixtures.MockPatchObject(
            main_db_api, 'compute_node_create', compute_node_create))

    def test_enforce_refuses_when_the_owner_won_at_commit(self):
        self.enable_guard()
        log = self.useFixture(fixtures.FakeLogger(
            name='nova_hostguard.guard'))
        self.add_service('hostA')
        self.add_service('hostB')
        self.deadlock_on_create(then_owner='hostA')
        node = self.new_compute_node('hostB', 'hv1')
        error = self.assertRaises(exception.InvalidConfiguration,
                                  node.create)
        self.assertIn("hypervisor 'hv1' is already managed by host "
                      "'hostA'", str(error))
        self.assertIsInstance(error.__context__, db_exc.DBDeadlock)
        self.assertIn("(refused by the database: it met the record of "
                      "'hostA' at commit", log.output)
        self.assertTrue(objects.Service.get_by_compute_host(
            self.ctxt, 'hostB').disabled)

    def test_a_deadlock_without_another_owner_goes_on_to_nova(self):
        self.enable_guard()
        self.useFixture(fixtures.FakeLogger())
        self.deadlock_on_create()
        self.useFixture(fixtures.MockPatchObject(
            guard, 'CONFLICT_LOOKS', (0, 0)))
        node = self.new_compute_node('hostB', 'hv1')
        self.assertRaises(db_exc.DBDeadlock, node.create)

    def test_warn_mode_refuses_nothing_on_a_deadlock(self):
        # warn mode lets a second owner be: a deadlock stays a deadlock,
        # which nova logs, as without the guard; never a refusal that
        # would stop nova-compute at its start.
        self.enable_guard(mode='warn')
        self.useFixture(fixtures.FakeLogger())
        self.add_service('hostA')
        self.add_service('hostB')
        self.deadlock_on_create(then_owner='hostA')
        node = self.new_compute_node('hostB', 'hv1')
        self.assertRaises(db_exc.DBDeadlock, node.create)
        self.assertFalse(objects.Service.get_by_compute_host(
            self.ctxt, 'hostB').disabled)

    def test_another_remote_error_goes_on_to_nova(self):
        self.enable_guard()
        self.create('hostA', 'hv1')
        self.useFixture(fixtures.MockPatchObject(
            objects_base.NovaObject, 'indirection_api',
            conductor.Conductor()))
        from nova.db.main import api as main_db_api
        self.useFixture(fixtures.MockPatchObject(
            main_db_api, 'compute_node_create',
            side_effect=db_exc.DBConnectionError()))
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', return_value=[]))
        node = self.new_compute_node('hostB', 'hv1')
        error = self.assertRaises(messaging.RemoteError, node.create)
        self.assertEqual('DBConnectionError', error.exc_type)
