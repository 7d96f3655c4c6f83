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
import sqlalchemy as sa

from nova_hostguard.db import migration
from nova_hostguard import lookup
from tests.unit.db import base

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

        def nodes_named(context, name):
            found = real(context, name)
            if not getattr(looked, 'once', False):
                looked.once = True
                barrier.wait(timeout=60)
            return found
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', nodes_named))

    def race(self, name, creators=CREATORS):
        """Start ``creators`` threads creating ``name``; their outcomes."""
        outcomes = {}

        def create(host):
            try:
                self.create(host, name)
                outcomes[host] = None
            except Exception as e:
                outcomes[host] = e
        threads = [threading.Thread(target=create, args=('standby%d' % i,))
                   for i in range(creators)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(creators, len(outcomes), 'a creator never finished')
        return outcomes

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

    def test_without_the_constraint_a_synchronised_race_splits(self):
        # The control: the check alone cannot stop creators that all read
        # before any writes; this is what the constraint is for.
        self.synchronise_lookups(CREATORS)
        outcomes = self.race('hv-race-0')
        self.assertEqual([None] * CREATORS, list(outcomes.values()))
        self.assertEqual(CREATORS, len(self.live_owners('hv-race-0')))
