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

"""``nova-hostguard-manage db``: the installed command, in a process of its
own, reading a nova.conf, on each backend.

"Nothing changed" means: the database's schema (as the backend states it)
and every row of ``compute_nodes`` are as they were before the command.
"""

import json
import os
import subprocess
import sys
import time

import fixtures
import sqlalchemy as sa
import testtools.content

from nova_hostguard.db import migration
from tests.db import base
from tests.harness import databases

MANAGE = os.path.join(os.path.dirname(sys.executable),
                      'nova-hostguard-manage')
STATUS = os.path.join(os.path.dirname(sys.executable),
                      'nova-hostguard-status')
SQLITE = [s for s in databases.SCENARIOS if s[0] == 'sqlite']
HEAD = migration.head_revision()


class ManageTestCase(base.CommandTestCase):

    def manage(self, *args, conf=None):
        return self.command('nova-hostguard-manage', *args, conf=conf)

    def snapshot(self, db):
        return databases.schema_dump(db.engine), db.rows('compute_nodes')

    def split(self, name='hv1'):
        a = self.create('hostA', name)
        b = self.create('hostB', name)
        return a, b


class DbSyncTest(ManageTestCase):

    def test_sync_version_again_and_remove(self):
        nova_made_it = databases.schema_dump(self.db.engine)
        self.create('hostA', 'hv1')

        result = self.manage('db', 'version')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('not applied (head is %s)' % HEAD, result.stdout)

        result = self.manage('db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn(': applied %s (unique hypervisor_hostname per live '
                      'compute node)' % HEAD, result.stdout)
        self.assertEqual(HEAD, migration.current_revision(self.db.engine))
        applied = self.snapshot(self.db)

        result = self.manage('db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('already at %s, nothing to do' % HEAD, result.stdout)
        self.assertEqual(applied, self.snapshot(self.db))

        result = self.manage('db', 'version')
        self.assertIn('%s (head)' % HEAD, result.stdout)

        result = self.manage('db', 'remove')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('removed %s' % HEAD, result.stdout)
        self.assertEqual(nova_made_it, databases.schema_dump(self.db.engine))
        self.assertEqual(applied[1], self.db.rows('compute_nodes'))

    def test_sync_refuses_a_split_hypervisor_and_changes_nothing(self):
        a, b = self.split()
        self.create('hostC', 'hv2')
        before = self.snapshot(self.db)

        result = self.manage('db', 'sync')

        self.assertEqual(1, result.returncode)
        self.assertEqual('', result.stdout)
        self.assertIn('refusing to add the unique constraint: 1 hypervisor '
                      'already has more than one live owner. Nothing was '
                      'changed.', result.stderr)
        self.assertIn("[database] connection (%s): hypervisor 'hv1' has 2 "
                      "live compute nodes:" % self.masked_url(),
                      result.stderr)
        self.assertIn("host 'hostA', compute node %s" % a.uuid, result.stderr)
        self.assertIn("host 'hostB', compute node %s" % b.uuid, result.stderr)
        self.assertNotIn('hv2', result.stderr)
        self.assertIn('openstack compute service delete', result.stderr)
        self.assertEqual(before, self.snapshot(self.db))
        self.assertIsNone(migration.current_revision(self.db.engine))

    def test_sync_repairs_a_constraint_recorded_but_not_there(self):
        # Recorded at head, but the index was dropped behind its back:
        # version, sync and the database must not disagree.
        result = self.manage('db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        applied = databases.schema_dump(self.db.engine)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text(
                'DROP INDEX %s%s' % (migration.INDEX, ' ON compute_nodes'
                                     if self.backend == 'mysql' else '')))

        result = self.manage('db', 'version')
        self.assertIn('%s (head), but the constraint is not really there: '
                      'its index %s is missing ("db sync" repairs it)'
                      % (HEAD, migration.INDEX), result.stdout)

        result = self.manage('db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('repaired %s: it was recorded, but its index %s is '
                      'missing; the constraint is in place now'
                      % (HEAD, migration.INDEX), result.stdout)
        self.assertEqual(applied, databases.schema_dump(self.db.engine))
        self.assertEqual((HEAD, None), migration.state(self.db.engine))

    def masked_url(self):
        return sa.engine.make_url(self.db.url).render_as_string(
            hide_password=True)

    def test_names_that_differ_are_not_a_split(self):
        # Exact comparison, as the guard's: no refusal for these, on any
        # backend (MariaDB's own collation would call several equal).
        for i, name in enumerate(('hv1', 'HV1', 'hv1 ', ' hv1', 'hé', 'he',
                                  None, None, '')):
            self.create('host%d' % i, name)
        result = self.manage('db', 'sync')
        self.assertEqual(0, result.returncode, result.stderr)


class NovaManageSchemaTest(ManageTestCase):
    """On the schema ``nova-manage db sync`` of the installed nova makes.

    The other tests build nova's schema with nova's migrations directly;
    this shows that is the schema ``nova-manage`` makes on this release,
    and runs the commands on the latter.
    """

    @staticmethod
    def unordered(dump):
        """A schema dump without the order of each table's parts.

        nova creates some tables' indexes in an order that varies from
        process to process; MySQL's ``SHOW CREATE TABLE`` lists them so.
        """
        return [sorted(line.rstrip(',') for line in str(part).splitlines())
                for part in dump]

    def test_the_commands_on_a_schema_nova_manage_made(self):
        made = self.useFixture(databases.Database(self.backend))
        conf = '[database]\nconnection = %s\n' % made.url
        result = self.command('nova-manage', 'db', 'sync', '--local_cell',
                              conf=conf)
        self.assertEqual(0, result.returncode, result.stderr)
        engine = sa.create_engine(made.url)
        self.addCleanup(engine.dispose)
        self.assertEqual(self.unordered(databases.schema_dump(self.db.engine)),
                         self.unordered(databases.schema_dump(engine)))

        for args, output in ((('db', 'sync'), 'applied %s' % HEAD),
                             (('db', 'version'), '%s (head)' % HEAD),
                             (('audit',), 'Clean.')):
            result = self.manage(*args, conf=conf)
            self.assertEqual(0, result.returncode, result.stderr)
            self.assertIn(output, result.stdout)
        self.assertEqual(HEAD, migration.current_revision(engine))
        self.assertIsNone(migration.state(engine).problem)

        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', conf=conf +
            '[DEFAULT]\nconfig_source = hostguard\n'
            '[hostguard]\ndriver = hostguard\n')
        self.assertEqual(0, result.returncode, result.stdout)


class AllCellsTest(ManageTestCase):

    def setUp(self):
        super().setUp()
        (self.cell0, self.api, self.cell0_uuid,
         self.cell1_uuid) = self.two_cells()
        self.conf = '[api_database]\nconnection = %s\n' % self.api.url

    def test_a_split_in_one_cell_changes_no_cell(self):
        self.split()
        before = [self.snapshot(self.cell0), self.snapshot(self.db)]

        result = self.manage('db', 'sync', '--all-cells', conf=self.conf)

        self.assertEqual(1, result.returncode)
        self.assertIn("cell1 (%s): hypervisor 'hv1' has 2 live compute "
                      "nodes:" % self.cell1_uuid, result.stderr)
        self.assertNotIn('cell0 (', result.stderr)
        self.assertEqual(before,
                         [self.snapshot(self.cell0), self.snapshot(self.db)])

    def test_sync_applies_to_every_cell(self):
        self.create('hostA', 'hv1')
        result = self.manage('db', 'sync', '--all-cells', conf=self.conf)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual(
            ['cell0 (%s): applied %s' % (self.cell0_uuid, HEAD),
             'cell1 (%s): applied %s' % (self.cell1_uuid, HEAD)],
            [line.split(' (unique')[0]
             for line in result.stdout.splitlines()])
        for db in (self.cell0, self.db):
            self.assertEqual(HEAD, migration.current_revision(db.engine))

        result = self.manage('db', 'version', '--all-cells', conf=self.conf)
        self.assertEqual(2, result.stdout.count('%s (head)' % HEAD))

        result = self.manage('db', 'remove', '--all-cells', conf=self.conf)
        self.assertEqual(0, result.returncode, result.stderr)
        for db in (self.cell0, self.db):
            self.assertIsNone(migration.current_revision(db.engine))


class BadInputTest(ManageTestCase):
    """Clear errors, nothing changed."""

    UNREACHABLE = {
        'sqlite': 'sqlite:////nonexistent-hostguard-dir/nova.db',
        'mysql': 'mysql+pymysql://nova:s3cret@127.0.0.1:1/nova',
        'postgresql': 'postgresql+psycopg2://nova:s3cret@127.0.0.1:1/nova',
    }

    def test_an_unreachable_cell_database(self):
        url = self.UNREACHABLE[self.backend]
        result = self.manage(
            'db', 'sync', conf='[database]\nconnection = %s\n' % url)
        self.assertEqual(3, result.returncode)
        self.assertIn('cannot read the database', result.stderr)
        self.assertIn('Nothing was changed.', result.stderr)
        self.assertNotIn('s3cret', result.stderr)
        self.assertNotIn('Traceback', result.stderr)

    def test_one_unreachable_cell_stops_every_cell(self):
        api = self.useFixture(databases.NovaApiDatabase(self.backend))
        api.map_cell('cell1', self.db.url)
        api.map_cell('broken', self.UNREACHABLE[self.backend])
        before = self.snapshot(self.db)
        result = self.manage(
            'db', 'sync', '--all-cells',
            conf='[api_database]\nconnection = %s\n' % api.url)
        self.assertEqual(3, result.returncode)
        self.assertIn('broken (', result.stderr)
        self.assertEqual(before, self.snapshot(self.db))

    def test_no_database_configured(self):
        result = self.manage('db', 'sync', conf='[DEFAULT]\n')
        self.assertEqual(2, result.returncode)
        self.assertIn('[database] connection is not set in', result.stderr)

    def test_all_cells_without_an_api_database(self):
        result = self.manage('db', 'sync', '--all-cells')
        self.assertEqual(2, result.returncode)
        self.assertIn('--all-cells reads the cell mappings from the API '
                      'database, but [api_database] connection is not set',
                      result.stderr)
        self.assertIsNone(migration.current_revision(self.db.engine))

    def test_a_lock_timeout_that_is_not_a_positive_number(self):
        before = self.snapshot(self.db)
        for value in ('0', '-5', 'ten', '1.5'):
            result = self.manage('db', 'sync', '--lock-timeout', value)
            self.assertEqual(2, result.returncode)
            self.assertIn('expected a whole number of seconds, at least 1, '
                          'not %r' % value, result.stderr)
            self.assertNotIn('Traceback', result.stderr)
        self.assertEqual(before, self.snapshot(self.db))
        self.assertIsNone(migration.current_revision(self.db.engine))

    def test_a_missing_config_file(self):
        result = subprocess.run(
            [MANAGE, '--config-file', '/nonexistent/nova.conf', 'db', 'sync'],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(2, result.returncode)
        self.assertIn('/nonexistent/nova.conf', result.stderr)
        self.assertNotIn('Traceback', result.stderr)


class CommandLineErrorsTest(ManageTestCase):
    """One line on stderr, a documented exit status, no retries.

    Not 1, which audit uses for "problems found": monitoring must not take
    a configuration error for a split hypervisor. "Nothing lost": the
    cell database's schema and compute_nodes rows are as before.
    """

    scenarios = SQLITE

    def setUp(self):
        super().setUp()
        self.create('hostA', 'hv1')
        self.before = self.snapshot(self.db)
        self.addCleanup(lambda: self.assertEqual(self.before,
                                                 self.snapshot(self.db)))

    def assert_one_line(self, result, code, text):
        self.assertEqual(code, result.returncode,
                         result.stdout + result.stderr)
        self.assertEqual([text], [line for line in result.stderr.splitlines()
                                  if text in line], result.stderr)
        self.assertEqual(1, len(result.stderr.splitlines()), result.stderr)
        self.assertNotIn('Traceback', result.stdout + result.stderr)
        self.assertNotIn('s3cret', result.stdout + result.stderr)

    def status(self, conf):
        """upgrade check --json: (result, {check: details})."""
        result = self.command('nova-hostguard-status', 'upgrade', 'check',
                              '--json', conf=conf)
        self.assertNotIn('Traceback', result.stdout + result.stderr)
        checks = json.loads(result.stdout)['checks']
        return result, {c['check']: c['details'] for c in checks}

    def test_a_directory_as_the_configuration_file(self):
        path = self.useFixture(fixtures.TempDir()).path
        for command in ([MANAGE, '--config-file', path, 'audit'],
                        [STATUS, '--config-file', path, 'upgrade', 'check']):
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=300)
            self.assert_one_line(
                result, 2, '%s: cannot read the configuration: [Errno 21] '
                'Is a directory: %r' % (os.path.basename(command[0]), path))

    def test_database_urls_that_cannot_be_used(self):
        for url, why in (
                ('mysql+pymysql://nova:s3cret@127.0.0.1:abc/nova',
                 "invalid literal for int() with base 10: 'abc'"),
                ('mysql+mysqldb://nova:s3cret@127.0.0.1/nova',
                 "No module named 'MySQLdb'")):
            for option in ('database', 'api_database'):
                conf = '[%s]\nconnection = %s\n' % (option, url)
                message = ('[%s] connection is not a database URL that can '
                           'be used here: %s' % (option, why))
                result = self.manage(
                    'audit', *(['--all-cells'] if option == 'api_database'
                               else []), conf=conf)
                self.assert_one_line(result, 2,
                                     'nova-hostguard-manage: ' + message)
                result, checks = self.status(conf)
                self.assertEqual(2, result.returncode)
                self.assertEqual('', result.stderr)
                self.assertEqual(message, checks[
                    'Unique hypervisor constraint in every cell'])

    def test_the_api_database_down_fails_at_once(self):
        # nova's own API database access retries ([api_database]
        # max_retries): a command must not, whatever nova.conf says.
        conf = ('[api_database]\nconnection = mysql+pymysql://nova:s3cret@'
                '127.0.0.1:1/nova_api\nmax_retries = 3\nretry_interval = 1\n')
        started = time.monotonic()
        result = self.manage('audit', '--all-cells', conf=conf)
        self.addDetail('seconds', testtools.content.text_content(
            '%.1f' % (time.monotonic() - started)))
        self.assert_one_line(
            result, 3, "nova-hostguard-manage: database error: (2003, "
            "\"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] "
            "Connection refused)\")")
        self.assertNotIn('attempts left', result.stderr)
        result, checks = self.status(conf)
        self.assertEqual(2, result.returncode)
        self.assertEqual('', result.stderr)
        self.assertIn("cannot read the cell mappings from the API database: "
                      "(2003, \"Can't connect to MySQL server",
                      checks['No hypervisor with more than one live owner'])

    def test_an_unexpected_error_is_one_line_and_255(self):
        # A cell mapping without a database_connection: nova's own
        # CellMapping fails on it.
        api = self.useFixture(databases.NovaApiDatabase(self.backend))
        api.map_cell('broken', None)
        conf = '[api_database]\nconnection = %s\n' % api.url
        result = self.manage('audit', '--all-cells', conf=conf)
        self.assert_one_line(result, 255, 'nova-hostguard-manage: unexpected '
                             'error: TypeError: argument of type '
                             "'NoneType' is not iterable")
        result = self.command('nova-hostguard-status', 'upgrade', 'check',
                              conf=conf)
        self.assert_one_line(result, 255, 'nova-hostguard-status: unexpected '
                             'error: TypeError: argument of type '
                             "'NoneType' is not iterable")
        self.assertEqual('', result.stdout)


class TerminalSafetyTest(ManageTestCase):
    """Names from the database reach no terminal raw, cell names too."""

    scenarios = SQLITE

    def test_cell_names_are_escaped_in_every_command(self):
        api = self.useFixture(databases.NovaApiDatabase(self.backend))
        cell_uuid = api.map_cell('evil\x1b[2J\u202e', self.db.url)
        self.split()
        shown = r'evil\x1b[2J\u202e (%s)' % cell_uuid
        conf = '[api_database]\nconnection = %s\n' % api.url
        for command in (('nova-hostguard-manage', 'audit', '--all-cells'),
                        ('nova-hostguard-manage', 'db', 'version',
                         '--all-cells'),
                        ('nova-hostguard-manage', 'db', 'sync',
                         '--all-cells'),
                        ('nova-hostguard-status', 'upgrade', 'check',
                         '--json')):
            result = self.command(*command, conf=conf)
            output = result.stdout + result.stderr
            self.assertNotIn('\x1b', output, command)
            self.assertNotIn('\u202e', output, command)
            if command[0] == 'nova-hostguard-status':
                output = json.loads(result.stdout)['checks'][0]['details']
            self.assertIn(shown, output, command)


class LocksTest(ManageTestCase):
    """db sync next to open transactions and to another db sync.

    The transaction is a real one on a second connection that wrote to
    compute_nodes and stays open, as a nova process stuck before its
    commit would leave it.
    """

    scenarios = base.SERVER_BACKENDS

    def start(self, *args):
        return self.start_command('nova-hostguard-manage', *args)

    def manage_behind_an_open_writer(self, *args):
        """The command run while a transaction holds compute_nodes.

        :returns: ``(snapshot before, the command's result)``; the
            transaction is rolled back once the command has exited.
        """
        before = self.snapshot(self.db)
        writer = self.open_writer()
        result = self.manage(*args)
        writer.rollback()
        return before, result

    def test_sync_behind_an_open_transaction_gives_up_changing_nothing(self):
        self.create('hostA', 'hv1')

        before, result = self.manage_behind_an_open_writer(
            'db', 'sync', '--lock-timeout', '1')

        self.assertEqual(3, result.returncode, result.stderr)
        self.assertIn('could not apply the constraint: waited 1 s for a lock '
                      'on compute_nodes, held by a transaction still open '
                      'on it, then gave up (--lock-timeout); this run changed '
                      'nothing', result.stderr)
        self.assertIn('This cell is unchanged.', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
        # Nothing changed: schema, rows, and no version recorded.
        self.assertEqual(before, self.snapshot(self.db))
        self.assertIsNone(migration.current_revision(self.db.engine))

        # Once that transaction is gone, the same command goes through.
        result = self.manage('db', 'sync', '--lock-timeout', '1')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual((HEAD, None), migration.state(self.db.engine))

    def test_remove_behind_an_open_transaction_changes_nothing(self):
        self.create('hostA', 'hv1')
        migration.upgrade(self.db.engine)

        before, result = self.manage_behind_an_open_writer(
            'db', 'remove', '--lock-timeout', '1')

        self.assertEqual(3, result.returncode, result.stderr)
        self.assertIn('could not remove the constraint: waited 1 s for a '
                      'lock on compute_nodes', result.stderr)
        # Nothing changed: the constraint, recorded and really there.
        self.assertEqual(before, self.snapshot(self.db))
        self.assertEqual((HEAD, None), migration.state(self.db.engine))

    def test_a_second_sync_waits_for_the_first_and_says_so(self):
        self.create('hostA', 'hv1')
        writer = self.open_writer()
        first = self.start('db', 'sync', '--lock-timeout', '120')
        # The first holds the run lock and waits for the writer.
        self.wait_until(lambda: self.sessions_waiting(
            'ALTER TABLE%' if self.backend == 'mysql' else 'LOCK TABLE%')
            == 1, 'the first sync to wait for the open transaction')
        second = self.start('db', 'sync', '--lock-timeout', '120')
        if self.backend == 'mysql':
            # Its first read of compute_nodes queues behind the first's
            # ALTER, as every query does: bounded by the first's timeout.
            self.wait_until(lambda: self.sessions_waiting('%') == 2,
                            'the second sync to wait for the first')
        else:
            # Its reads go on; it tries the run lock in turn.
            self.wait_until(lambda: self.sessions_waiting(
                '%pg_try_advisory_lock%', for_lock=False) == 1,
                'the second sync to wait for the first', interval=0)
        writer.rollback()
        first_out, first_err = first.communicate(timeout=300)
        second_out, second_err = second.communicate(timeout=300)

        self.assertEqual((0, 0), (first.returncode, second.returncode),
                         first_err + second_err)
        self.assertIn(': applied %s' % HEAD, first_out)
        self.assertIn(': already at %s, nothing to do' % HEAD, second_out)
        if self.backend == 'postgresql':
            self.assertIn('nothing to do: another session applied it while '
                          'this one ran', second_out)
        self.assertEqual((HEAD, None), migration.state(self.db.engine))
