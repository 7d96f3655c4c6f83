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

import os
import subprocess
import sys

import sqlalchemy as sa

from nova_hostguard.db import migration
from tests import databases
from tests.unit.db import base

MANAGE = os.path.join(os.path.dirname(sys.executable),
                      'nova-hostguard-manage')
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
        self.assertTrue(migration.constraint_present(engine))

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

    def test_a_missing_config_file(self):
        result = subprocess.run(
            [MANAGE, '--config-file', '/nonexistent/nova.conf', 'db', 'sync'],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(2, result.returncode)
        self.assertIn('/nonexistent/nova.conf', result.stderr)
        self.assertNotIn('Traceback', result.stderr)
