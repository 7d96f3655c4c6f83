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

"""The guard on a real three-node MariaDB Galera cluster.

What differs from one MariaDB server: every node takes writes; two
writers on two nodes meet at commit, where certification lets the first
win and aborts the other with a deadlock error, instead of one waiting
for the other's row lock and then seeing a duplicate key; DDL runs in
total order isolation, aborting the transactions it conflicts with;
``GET_LOCK`` is each node's own.

"Nothing lost" here means: every write nova was told had succeeded is on
every node, and every node holds the same rows.
"""

import collections
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading

import fixtures
from nova import objects
from nova.objects import base as objects_base
from oslo_db import exception as db_exc
from oslo_utils import uuidutils
import sqlalchemy as sa
import testtools
import testtools.content

from nova_hostguard.db import migration
from nova_hostguard import lookup
from tests.harness import backends
from tests.harness import conductor
from tests.harness import databases
from tests.harness import fixtures as hostguard_fixtures


#: Creators racing for one hypervisor, spread over the cluster's nodes.
CREATORS = 16
#: Rounds of each race: a few here; a soak sets more (admin/constraint).
ROUNDS = int(os.environ.get('HOSTGUARD_GALERA_ROUNDS', '2'))


class GaleraTestCase(hostguard_fixtures.GuardSwitch, testtools.TestCase):
    """nova's cell schema on the cluster, built through its first node.

    By nova's own migrations, as ``nova-manage db sync`` on one controller
    builds it; nova's own database access in this process goes to the
    first node too.
    """

    def setUp(self):
        super().setUp()
        backends.require(self, 'galera')
        objects.register_all()
        self.db = self.useFixture(databases.NovaCellDatabase('galera'))
        self.nodes = len(self.db.urls)
        #: An engine on each node, whose reads see every write the
        #: cluster has committed (causal reads: wsrep_sync_wait).
        self.engines = []
        for url in self.db.urls:
            engine = sa.create_engine(url, connect_args={
                'init_command': 'SET SESSION wsrep_sync_wait = 1'})
            self.addCleanup(engine.dispose)
            self.engines.append(engine)

        self.mappings = [objects.CellMapping(
            uuid=uuidutils.generate_uuid(), name='node%d' % node,
            database_connection=url, transport_url='none:///')
            for node, url in enumerate(self.db.urls)]
        self.addCleanup(self._forget_cells)

    def _forget_cells(self):
        """Drop nova's cached engines of this test's "cells"."""
        from nova import context as nova_context

        for mapping in self.mappings:
            cached = nova_context.CELL_CACHE.pop(mapping.uuid, None)
            if cached is not None:
                cached[0].writer.get_engine().dispose()

    def context(self, node):
        """A nova admin context whose database is ``node``'s.

        nova's own way to reach a cell database: the context targets a
        cell mapping whose ``database_connection`` is that node (one
        mapping, so one engine, per node).
        """
        from nova import context as nova_context

        context = nova_context.get_admin_context()
        nova_context.set_target_cell(context, self.mappings[node])
        return context

    def new_compute_node(self, node, host, hypervisor_hostname):
        return objects.ComputeNode(
            context=self.context(node),
            **databases.compute_node_values(host, hypervisor_hostname))

    def rows(self, table, node):
        return databases.table_rows(self.engines[node], table)

    def live_owners(self, name, node=0):
        with self.engines[node].connect() as conn:
            return sorted(conn.execute(sa.text(
                'SELECT host FROM compute_nodes WHERE deleted = 0 AND '
                'hypervisor_hostname = :name'), {'name': name}).scalars())

    def assert_every_node_holds_the_same(self, table):
        first = self.rows(table, 0)
        for node in range(1, self.nodes):
            self.assertEqual(first, self.rows(table, node),
                             'node %d differs from node 0' % node)
        return first

    def command(self, node, *args):
        """nova-hostguard-manage with ``[database] connection`` on node."""
        return self.finish_command(self.start_command(node, *args))

    def start_command(self, node, *args):
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'nova.conf')
        with open(path, 'w') as f:
            f.write('[database]\nconnection = %s\n' % self.db.urls[node])
        process = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable),
                          'nova-hostguard-manage'),
             '--config-file', path] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.name = 'node %d: %s' % (node, ' '.join(args))
        self.addCleanup(process.kill)
        return process

    def finish_command(self, process):
        stdout, stderr = process.communicate(timeout=300)
        self.addDetail(process.name, testtools.content.text_content(
            stdout + stderr))
        return subprocess.CompletedProcess(process.args, process.returncode,
                                           stdout, stderr)


class DbSyncTest(GaleraTestCase):

    def test_db_sync_through_one_node_while_nova_writes_through_another(
            self):
        # The constraint's DDL runs in total order isolation on every
        # node while nova (a conductor on node 1) creates records: a
        # create it conflicts with fails with a deadlock error, as any
        # DDL's would (nova's resource tracker tries again in its next
        # periodic run); nothing nova was told is written is lost.
        self.enable_guard()
        written, errors = [], []
        stop = threading.Event()

        def nova_writes():
            i = 0
            while not stop.is_set() or i < 20:
                name = 'hv-w-%d' % i
                try:
                    self.new_compute_node(1, 'host-w-%d' % i, name).create()
                    written.append(name)
                except Exception as e:
                    errors.append(e)
                i += 1
        writer = threading.Thread(target=nova_writes)
        writer.start()
        try:
            result = self.command(0, 'db', 'sync')
        finally:
            stop.set()
            writer.join(120)
        self.addDetail('nova writes', testtools.content.text_content(
            '%d written, %d failed: %r' % (
                len(written), len(errors), errors)))

        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('applied', result.stdout)
        self.assertEqual([], [e for e in errors
                              if not isinstance(e, db_exc.DBDeadlock)])
        rows = self.assert_every_node_holds_the_same('compute_nodes')
        self.assertEqual(sorted(written), sorted(
            r.hypervisor_hostname for r in self.live_nodes(2)))
        self.assertEqual(len(written), len(rows))
        head = migration.head_revision()
        for node in range(self.nodes):
            self.assertTrue(migration.in_place(
                migration.state(self.engines[node]), head),
                'node %d' % node)

    def test_two_db_syncs_through_two_nodes_at_once(self):
        # GET_LOCK, db sync's run lock, is each node's own: two runs
        # through two nodes do not take turns. The constraint's DDL is
        # ordered by the cluster and each step leaves what is already
        # there alone, so both end well, and the constraint is recorded
        # once. (Run it through one node all the same: the docs say so.)
        head = migration.head_revision()
        for trial in range(ROUNDS):
            if trial:
                self.assertEqual(0, self.command(0, 'db', 'remove')
                                 .returncode)
            runs = [self.start_command(node, 'db', 'sync')
                    for node in (0, 1)]
            results = [self.finish_command(run) for run in runs]
            for result in results:
                self.assertEqual(0, result.returncode, result.stderr)
            self.assertTrue(any('applied' in r.stdout for r in results),
                            [r.stdout for r in results])
            for node in range(self.nodes):
                self.assertTrue(migration.in_place(
                    migration.state(self.engines[node]), head),
                    'node %d' % node)
            self.assertEqual([(head,)], self.rows(
                migration.VERSION_TABLE, 2))

    def live_nodes(self, node):
        with self.engines[node].connect() as conn:
            return conn.execute(sa.text(
                'SELECT host, hypervisor_hostname FROM compute_nodes '
                'WHERE deleted = 0')).all()


class AuditTest(GaleraTestCase):

    def test_audit_through_one_node_finds_a_split_written_through_two(
            self):
        # Without the constraint, unguarded: hostA's record for hv1 via
        # node 0 and hostB's via node 1, the split nova makes alone.
        a = self.new_compute_node(0, 'hostA', 'hv1')
        a.create()
        b = self.new_compute_node(1, 'hostB', 'hv1')
        b.create()
        before = self.rows('compute_nodes', 2)

        result = self.command(2, 'audit', '--format', 'json')

        self.assertEqual(1, result.returncode, result.stderr)
        found = json.loads(result.stdout)
        self.assertEqual(
            [{'host': 'hostA', 'uuid': a.uuid},
             {'host': 'hostB', 'uuid': b.uuid}],
            found['split_hypervisors'][0]['compute_nodes'])
        self.assertEqual(before, self.assert_every_node_holds_the_same(
            'compute_nodes'))


def _create(url, host, name, results, start=None, compute=False,
            hold=None):
    """One creator, a process of its own: nova's database is one node.

    As a nova-conductor whose ``[database] connection`` names that node
    would create the record; or, with ``compute``, as a guarded
    nova-compute whose conductor (without the guard) does. ``start``, a
    barrier, makes all creators create at once. ``hold``, two events
    ``(inserted, release)``, holds the insert's transaction before its
    commit: it sets ``inserted`` and waits for ``release``.
    """
    from nova import context as nova_context
    from nova.db.main import api as main_db_api
    from oslo_db.sqlalchemy import test_fixtures

    test_fixtures.ReplaceEngineFacadeFixture(
        main_db_api.context_manager,
        main_db_api.create_context_manager(url)).setUp()
    if compute:
        objects_base.NovaObject.indirection_api = conductor.Conductor()
    if hold is not None:
        _hold_the_insert_at_commit(*hold)
    node = objects.ComputeNode(
        context=nova_context.get_admin_context(),
        **databases.compute_node_values(host, name))
    # The refusal's log line stays in the process; the test reads what
    # the database said first: the error the refusal was raised from.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        if start is not None:
            start.wait(timeout=60)
        node.create()
    except Exception as e:
        results.put((host, type(e).__name__, str(e),
                     type(e.__context__).__name__))
    else:
        results.put((host, None, None, None))


def _hold_the_insert_at_commit(inserted, release):
    wrote = []

    def before_cursor_execute(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(
                'INSERT INTO COMPUTE_NODES'):
            wrote.append(True)

    def commit(conn):
        if wrote and not inserted.is_set():
            inserted.set()
            release.wait(60)
    sa.event.listen(sa.engine.Engine, 'before_cursor_execute',
                    before_cursor_execute)
    sa.event.listen(sa.engine.Engine, 'commit', commit)


class RaceTest(GaleraTestCase):
    """CREATORS processes race for one hypervisor, over the three nodes.

    Creator i writes through node i % 3; a barrier starts all creates
    at once. With the constraint in place (``enforce`` mode) the guard
    looks nothing up first: the cluster decides, and the guard explains
    its refusal.
    """

    def setUp(self):
        super().setUp()
        self.processes = multiprocessing.get_context('fork')
        #: What the database said to each loser, by error: on Galera a
        #: duplicate key (the winner's row was there first) or a deadlock
        #: (both met at commit).
        self.causes = collections.Counter()
        self.addCleanup(lambda: self.addDetail(
            'database errors of the losers', testtools.content.text_content(
                repr(dict(self.causes)))))
        for node in range(self.nodes):
            self.new_compute_node(node, 'bystander%d' % node,
                                  'other-hv%d' % node).create()

    def start_process(self, process):
        """Start a forked process, which the test's end will not outlive.

        nova's engines of this process are disposed first: a child must
        not share their connections.
        """
        from nova import context as nova_context

        for cached in nova_context.CELL_CACHE.values():
            cached[0].writer.get_engine().dispose()
        for engine in self.engines:
            engine.dispose()
        process.start()
        self.addCleanup(process.join, 60)
        self.addCleanup(process.terminate)
        return process

    def test_a_loser_that_meets_the_owner_at_commit_is_refused(self):
        # Forced: hostB's insert through node 1 waits before its commit
        # until hostA's, through node 0, has committed. Applying hostA's
        # write on node 1 aborts hostB's transaction (a deadlock error at
        # its commit), which the guard turns into the refusal.
        self.enable_guard()
        self.assertEqual(0, self.command(1, 'db', 'sync').returncode)
        inserted, release = self.processes.Event(), self.processes.Event()
        results = self.processes.Queue()
        self.start_process(self.processes.Process(
            target=_create, args=(self.db.urls[1], 'hostB', 'hv1', results),
            kwargs={'hold': (inserted, release)}))
        self.assertTrue(inserted.wait(60), 'hostB never inserted')
        self.start_process(self.processes.Process(
            target=_create, args=(self.db.urls[0], 'hostA', 'hv1', results)))
        self.assertEqual(('hostA', None, None, None), results.get(timeout=60))
        release.set()
        host, error, message, cause = results.get(timeout=60)

        self.assertEqual(('hostB', 'InvalidConfiguration', 'DBDeadlock'),
                         (host, error, cause))
        self.assertIn("hypervisor 'hv1' is already managed by host 'hostA'",
                      message)
        for node in range(self.nodes):
            self.assertEqual(['hostA'], self.live_owners('hv1', node))

    def synchronise_lookups(self, parties):
        """Hold each creator after its first lookup until all have looked."""
        barrier = self.processes.Barrier(parties)
        real = lookup.nodes_named
        looked = []

        def nodes_named(context, name, host):
            found = real(context, name, host)
            if not looked:
                looked.append(True)
                barrier.wait(timeout=60)
            return found
        self.useFixture(fixtures.MockPatchObject(
            lookup, 'nodes_named', nodes_named))

    def race(self, name, start=None, compute=False):
        """Race CREATORS processes for ``name``: {host: (error, message)}."""
        results = self.processes.Queue()
        creators = [self.processes.Process(target=_create, args=(
            self.db.urls[i % self.nodes], 'standby%d' % i, name, results,
            start, compute)) for i in range(CREATORS)]
        for creator in creators:
            self.start_process(creator)
        outcomes = {}
        for _ in creators:
            host, error, message, cause = results.get(timeout=120)
            outcomes[host] = (error, message)
            self.causes[cause] += 1
        for creator in creators:
            creator.join(60)
        return outcomes

    def assert_one_owner_and_every_loser_refused(self, name, outcomes):
        winners = [h for h, (error, _) in outcomes.items() if error is None]
        self.assertEqual(1, len(winners), outcomes)
        for node in range(self.nodes):
            self.assertEqual(winners, self.live_owners(name, node))
        refused = {h: o for h, o in outcomes.items() if h not in winners}
        bad = {h: o for h, o in refused.items()
               if o[0] != 'InvalidConfiguration' or
               "hypervisor %r is already managed by host %r" % (
                   name, winners[0]) not in o[1]}
        self.assertEqual({}, bad, 'losers not refused by the guard')

    def test_synchronised_races_over_three_nodes(self):
        self.enable_guard()
        result = self.command(1, 'db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        before = self.assert_every_node_holds_the_same('compute_nodes')
        for i in range(ROUNDS):
            name = 'hv-race-%d' % i
            self.assert_one_owner_and_every_loser_refused(
                name, self.race(name, self.processes.Barrier(CREATORS)))

        after = self.assert_every_node_holds_the_same('compute_nodes')
        self.assertEqual(before, [r for r in after if r in before])
        self.assertEqual(len(before) + ROUNDS, len(after))

    def test_races_of_guarded_computes_behind_unguarded_conductors(self):
        # The guard in nova-compute only: it looks the owner up through
        # conductor, and a conflict at commit reaches it over RPC as a
        # RemoteError of the deadlock, which it explains as the refusal.
        self.enable_guard()
        result = self.command(1, 'db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        for i in range(ROUNDS):
            name = 'hv-race-%d' % i
            self.assert_one_owner_and_every_loser_refused(
                name, self.race(name, self.processes.Barrier(CREATORS),
                                compute=True))

    def test_without_the_constraint_a_synchronised_race_splits(self):
        # The control: the same race on the same cluster, without the
        # constraint of db sync, each creator held after its lookup until
        # all have looked: every creator passes the check and writes, and
        # every node holds the split.
        self.enable_guard()
        self.synchronise_lookups(CREATORS)
        outcomes = self.race('hv-race-0')
        self.assertEqual({(None, None)}, set(outcomes.values()))
        for node in range(self.nodes):
            self.assertEqual(CREATORS, len(self.live_owners('hv-race-0',
                                                            node)))
