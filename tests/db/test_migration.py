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

"""Our migrations on nova's real schema, on each backend."""

import threading

import sqlalchemy as sa

from nova_hostguard.db import migration
from tests.db import base
from tests.harness import databases

INDEX = 'uniq_compute_nodes0hypervisor_hostname0deleted'


class MigrationTest(base.BackendTestCase):

    def nova_version(self):
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(
                'SELECT version_num FROM alembic_version')).scalar()

    def our_index(self):
        for index in sa.inspect(self.db.engine).get_indexes('compute_nodes'):
            if index['name'] == INDEX:
                return index

    def test_sync_adds_the_index_and_a_second_sync_does_nothing(self):
        nova_version = self.nova_version()
        self.assertIsNone(migration.current_revision(self.db.engine))
        self.assertIsNone(self.our_index())

        migration.upgrade(self.db.engine)

        index = self.our_index()
        self.assertEqual(['hypervisor_hostname', 'deleted'],
                         index['column_names'])
        self.assertTrue(index['unique'])
        self.assertEqual(migration.head_revision(),
                         migration.current_revision(self.db.engine))
        self.assertEqual(nova_version, self.nova_version())
        after_first = databases.schema_dump(self.db.engine)

        migration.upgrade(self.db.engine)
        self.assertEqual(after_first, databases.schema_dump(self.db.engine))

    def test_remove_leaves_nova_schema_as_nova_made_it(self):
        nova_made_it = databases.schema_dump(self.db.engine)
        migration.upgrade(self.db.engine)
        self.assertNotEqual(nova_made_it,
                            databases.schema_dump(self.db.engine))

        migration.remove(self.db.engine)

        self.assertEqual(nova_made_it, databases.schema_dump(self.db.engine))
        self.assertNotIn(migration.VERSION_TABLE,
                         sa.inspect(self.db.engine).get_table_names())
        # Removing again is harmless.
        migration.remove(self.db.engine)
        self.assertEqual(nova_made_it, databases.schema_dump(self.db.engine))

    def test_sync_keeps_every_row(self):
        for i, name in enumerate(('hv1', 'HV1', 'hv1 ', None, None, '')):
            self.create('host%d' % i, name)
        gone = self.create('hostX', 'hv1')
        gone.destroy()
        before = self.db.rows('compute_nodes')
        migration.upgrade(self.db.engine)
        self.assertEqual(before, self.db.rows('compute_nodes'))
        migration.remove(self.db.engine)
        self.assertEqual(before, self.db.rows('compute_nodes'))

    def test_the_index_refuses_a_second_live_owner_by_itself(self):
        # Without the guard's check, straight through nova's object layer:
        # the database alone refuses, with nova's own DuplicateRecord.
        from nova import exception

        migration.upgrade(self.db.engine)
        self.create('hostA', 'hv1')
        before = self.db.rows('compute_nodes')
        self.assertRaises(exception.DuplicateRecord,
                          self.create, 'hostB', 'hv1')
        self.assertEqual(before, self.db.rows('compute_nodes'))


class PostgresqlIndexTestCase(base.BackendTestCase):
    """On PostgreSQL, reading our index's validity from the catalog."""

    scenarios = [('postgresql', {'backend': 'postgresql'})]

    def index_validity(self):
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(
                'SELECT i.indisvalid FROM pg_class c JOIN pg_index i '
                'ON i.indexrelid = c.oid WHERE c.relname = :n'),
                {'n': INDEX}).scalar()


class PostgresqlConcurrentBuildTest(PostgresqlIndexTestCase):
    """A failed concurrent index build is never taken for a finished one.

    PostgreSQL's CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index
    behind when it fails.
    """

    def split(self):
        self.create('hostA', 'hv1')
        self.create('hostB', 'hv1')

    def heal(self):
        with self.db.engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE compute_nodes SET deleted = id WHERE host = 'hostB'"))

    def test_a_failed_build_is_dropped_not_left_invalid(self):
        self.split()
        self.assertRaises(sa.exc.IntegrityError, migration.upgrade,
                          self.db.engine)
        self.assertIsNone(self.index_validity())
        self.assertIsNone(migration.current_revision(self.db.engine))
        self.heal()
        migration.upgrade(self.db.engine)
        self.assertIs(True, self.index_validity())

    def test_an_invalid_index_left_by_a_crash_is_rebuilt(self):
        self.split()
        with self.db.engine.connect().execution_options(
                isolation_level='AUTOCOMMIT') as conn:
            self.assertRaises(
                sa.exc.IntegrityError, conn.execute, sa.text(
                    'CREATE UNIQUE INDEX CONCURRENTLY %s ON compute_nodes '
                    '(hypervisor_hostname, deleted)' % INDEX))
        self.assertIs(False, self.index_validity())
        self.heal()
        migration.upgrade(self.db.engine)
        self.assertIs(True, self.index_validity())


class PostgresqlConcurrentSyncTest(PostgresqlIndexTestCase):
    """Two syncs at once, one paused after reading the index state.

    The pause is SQLAlchemy's own statement hook on that run's engine: it
    holds the run just before its CREATE UNIQUE INDEX CONCURRENTLY, after
    it found no index. The other side is a second real session.
    """

    def paused_run(self):
        """A sync in a thread, held before it creates the index."""
        engine = sa.create_engine(self.db.url)
        self.addCleanup(engine.dispose)
        reached, go_on = threading.Event(), threading.Event()
        self.addCleanup(go_on.set)

        @sa.event.listens_for(engine, 'before_cursor_execute')
        def pause(conn, cursor, statement, *args):
            if statement.startswith('CREATE UNIQUE INDEX'):
                reached.set()
                go_on.wait(60)
        thread, result = self.in_thread(migration.upgrade, engine)
        self.assertTrue(reached.wait(60), result)
        return thread, result, go_on

    def assert_one_live_owner_only(self):
        from nova import exception

        self.assertIs(True, self.index_validity())
        self.assertEqual(migration.head_revision(),
                         migration.current_revision(self.db.engine))
        self.create('hostA', 'hv1')
        self.assertRaises(exception.DuplicateRecord,
                          self.create, 'hostB', 'hv1')

    def test_the_loser_never_drops_the_winners_index(self):
        paused, paused_result, go_on = self.paused_run()
        # Its lock timeout only bounds the test: the paused run builds the
        # index once released, however slow the machine.
        other, other_result = self.in_thread(migration.upgrade,
                                             self.db.engine, lock_timeout=300)
        # The other run either builds the index while this one is paused
        # (each on its own) or waits for it to finish (they take turns).
        self.wait_until(lambda: not other.is_alive() or self.sessions_waiting(
            '%pg_try_advisory_lock%', for_lock=False) == 1,
            'the other run to finish or wait', interval=0)
        go_on.set()
        paused.join(60)
        other.join(60)
        self.assert_one_live_owner_only()
        # Each says what it did: one applied it, the other found it done.
        self.assertEqual(
            [migration.APPLIED, migration.NOTHING],
            [paused_result.get('value', paused_result.get('error')),
             other_result.get('value', other_result.get('error'))])

    def test_an_index_another_session_built_meanwhile_is_kept(self):
        # The other session is not a run of this release (an older one,
        # or an operator's own build): nothing makes it wait.
        paused, result, go_on = self.paused_run()
        with self.db.engine.connect().execution_options(
                isolation_level='AUTOCOMMIT') as conn:
            conn.execute(sa.text(
                'CREATE UNIQUE INDEX CONCURRENTLY %s ON compute_nodes '
                '(hypervisor_hostname, deleted)' % INDEX))
        go_on.set()
        paused.join(60)
        self.assert_one_live_owner_only()
        self.assertEqual(migration.APPLIED, result.get('value', result))

    def test_a_sync_rebuilds_an_index_whose_build_was_interrupted(self):
        migration.upgrade(self.db.engine)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text('DROP INDEX %s' % INDEX))
        self.interrupted_build(INDEX)
        self.assertIs(False, self.index_validity())
        self.assertIn('is INVALID', migration.state(self.db.engine).problem)

        self.assertEqual(migration.REPAIRED, migration.upgrade(
            self.db.engine))

        self.assertEqual((migration.head_revision(), None),
                         migration.state(self.db.engine))
        self.assert_one_live_owner_only()
