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

"""Parts of the reproduction that the end-to-end runs rely on."""

import os
import subprocess
import sys

import fixtures
import sqlalchemy as sa
import testtools

from tests.harness.processes import service_log
from tests.harness.processes import shared_hypervisor
from tests.harness.reproduction import devstack
from tests.harness.reproduction import scenario

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class Guest:
    def __init__(self, name, state, uuid):
        self.name, self.state, self.uuid = name, state, uuid


class SharedGuestsTest(testtools.TestCase):
    """Two nova-compute processes of one hypervisor see the same guests."""

    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                                 'guests.json')

    def test_what_one_process_does_the_other_sees(self):
        primary = shared_hypervisor.SharedGuests(self.path)
        standby = shared_hypervisor.SharedGuests(self.path)
        primary['u1'] = Guest('instance-1', 1, 'u1')
        self.assertEqual(['u1'], list(standby))
        self.assertIn('u1', standby)
        self.assertEqual('instance-1', standby['u1'].name)
        # The fake driver changes a guest's state in place.
        standby['u1'].state = 4
        self.assertEqual(4, primary['u1'].state)
        self.assertEqual(4, primary['u1']['state'])
        primary['u2'] = Guest('instance-2', 1, 'u2')
        del standby['u1']
        self.assertEqual(['u2'], list(primary))
        self.assertEqual(1, len(standby))
        self.assertEqual(Guest('instance-2', 1, 'u2').name,
                         primary.pop('u2').name)
        self.assertEqual(0, len(standby))
        self.assertRaises(KeyError, standby.__getitem__, 'u2')

    def test_opening_keeps_existing_guests(self):
        shared_hypervisor.SharedGuests(self.path)['u1'] = Guest('i', 1, 'u1')
        self.assertEqual(['u1'],
                         list(shared_hypervisor.SharedGuests(self.path)))


class Systemd:
    """A stand-in for sudo/systemctl/journalctl: records, answers."""

    def __init__(self, started=True):
        self.calls = []
        self.started = started
        self.journal_reads = 0

    def __call__(self, argv):
        self.calls.append(' '.join(argv))
        if '--show-cursor' in argv:
            return 'some line\n-- cursor: s=abc;i=12\n'
        if 'journalctl' in argv and '-o' in argv:
            self.journal_reads += 1
            if self.journal_reads < 2:
                return 'Starting compute node (version 34.0.0)\n'
            if self.started:
                return ('Starting compute node\n%s compute\n'
                        % service_log.STARTED)
            return "nova-hostguard: hypervisor 'hostguard-hv1' is ...\n"
        if 'is-active' in argv:
            if self.started or self.journal_reads < 2:
                return 'active\n'
            raise subprocess.CalledProcessError(3, argv, output='failed\n')
        return ''


class DevstackCloudTest(testtools.TestCase):
    """Service control on devstack, with systemd stood in for."""

    def setUp(self):
        super().setUp()
        work = self.useFixture(fixtures.TempDir()).path
        self.conf_dir = os.path.join(work, 'etc-nova')
        self.data_dir = os.path.join(work, 'data')
        os.makedirs(self.conf_dir)
        os.makedirs(os.path.join(self.data_dir, 'standby'))
        cell = 'sqlite:///%s/cell1.db' % work
        api = 'sqlite:///%s/api.db' % work
        with open(os.path.join(self.conf_dir, 'nova_cell1.conf'), 'w') as f:
            f.write('[database]\nconnection = %s\n' % cell)
        with open(os.path.join(self.conf_dir, 'nova.conf'), 'w') as f:
            f.write('[api_database]\nconnection = %s\n' % api)
        engine = sa.create_engine(api)
        with engine.begin() as conn:
            conn.execute(sa.text('CREATE TABLE host_mappings (host TEXT)'))
            conn.execute(sa.text(
                "INSERT INTO host_mappings VALUES ('hostguard-a')"))
        engine.dispose()
        engine = sa.create_engine(cell)
        with engine.begin() as conn:
            conn.execute(sa.text(
                'CREATE TABLE compute_nodes (id INTEGER, host TEXT, '
                'hypervisor_hostname TEXT, uuid TEXT, deleted INTEGER)'))
            conn.execute(sa.text(
                "INSERT INTO compute_nodes VALUES (1, 'hostguard-a', "
                "'hostguard-hv1', 'u-a', 0)"))
        engine.dispose()

    def cloud(self, systemd, **kwargs):
        the_cloud = devstack.DevstackCloud(
            conf_dir=self.conf_dir, data_dir=self.data_dir, runner=systemd,
            connection=object(), **kwargs)
        self.addCleanup(the_cloud.close)
        return the_cloud

    def test_a_start_that_comes_up(self):
        systemd = Systemd(started=True)
        running, log = self.cloud(systemd).start_compute('primary',
                                                         'hostguard-a')
        self.assertTrue(running)
        self.assertIn(service_log.STARTED, log)
        with open(os.path.join(self.conf_dir,
                               'hostguard-primary-host.conf')) as f:
            self.assertEqual('[DEFAULT]\nhost = hostguard-a\n', f.read())
        unit = 'devstack@hostguard-primary.service'
        self.assertEqual(
            ['sudo journalctl -u %s -n 0 --show-cursor --no-pager' % unit,
             'sudo systemctl start %s' % unit],
            systemd.calls[:2])
        self.assertIn('sudo journalctl -u %s -o cat --no-pager '
                      '--after-cursor=s=abc;i=12' % unit, systemd.calls)

    def test_user_units_are_reached_as_devstack_says(self):
        # USER_UNITS=True: devstack's $SYSTEMCTL is "systemctl --user",
        # and the units' journal is the user's.
        systemd = Systemd(started=True)
        the_cloud = self.cloud(systemd, systemctl='systemctl --user')
        running, log = the_cloud.start_compute('primary', 'hostguard-a')
        self.assertTrue(running)
        the_cloud.stop_compute('primary')
        unit = 'devstack@hostguard-primary.service'
        self.assertEqual(
            ['journalctl --user -u %s -n 0 --show-cursor --no-pager' % unit,
             'systemctl --user start %s' % unit],
            systemd.calls[:2])
        self.assertEqual('systemctl --user stop %s' % unit,
                         systemd.calls[-1])
        self.assertFalse([c for c in systemd.calls if 'sudo' in c])

    def test_a_start_that_is_refused(self):
        systemd = Systemd(started=False)
        running, log = self.cloud(systemd).start_compute('standby',
                                                         'hostguard-b')
        self.assertFalse(running)
        self.assertIn('nova-hostguard: hypervisor', log)
        self.assertIn('sudo systemctl is-active '
                      'devstack@hostguard-standby.service', systemd.calls)

    def test_stop_records_and_identity(self):
        systemd = Systemd()
        the_cloud = self.cloud(systemd)
        the_cloud.stop_compute('standby')
        self.assertEqual(['sudo systemctl stop '
                          'devstack@hostguard-standby.service'],
                         systemd.calls)
        self.assertEqual(
            [scenario.Record('hostguard-a', 'hostguard-hv1', 'u-a', 0,
                             (1, 'hostguard-a', 'hostguard-hv1', 'u-a', 0))],
            the_cloud.compute_nodes())
        the_cloud.set_node_identity('standby', 'u-a')
        with open(os.path.join(self.data_dir, 'standby', 'compute_id')) as f:
            self.assertEqual('u-a', f.read())


class DevstackVenvImportTest(testtools.TestCase):
    """What devstack's virtualenv runs imports only what devstack installs.

    devstack installs nova and its requirements, openstacksdk and PyMySQL,
    not this project's test requirements. The story (devstack/reproduce.sh
    runs tests.harness.reproduction.run there) and the units' launcher must not
    import them: here they are made unimportable in a fresh interpreter.
    ``fixtures`` stays importable: nova's own fake driver imports it
    (devstack has it through os-testr, which stack.sh installs).
    """

    TEST_ONLY = ('testtools', 'oslotest', 'stestr', 'ddt', 'wsgi_intercept',
                 'hacking', 'psycopg2')

    SCRIPT = '''
import importlib.abc, runpy, sys
class TestOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in %r:
            raise ImportError('devstack does not install ' + name)
sys.meta_path.insert(0, TestOnly())
import tests.harness.reproduction.devstack
import tests.harness.reproduction.run
sys.argv = ['compute_launcher.py']
runpy.run_path('tests/harness/processes/compute_launcher.py', run_name='check')
try:
    tests.harness.reproduction.run.main(['--help'])
except SystemExit as e:
    sys.exit(e.code)
'''

    def run_script(self, blocked):
        return subprocess.run(
            [sys.executable, '-c', self.SCRIPT % (blocked,)],
            cwd=REPO, capture_output=True, text=True, timeout=300)

    def test_the_story_runs_without_test_requirements(self):
        result = self.run_script(self.TEST_ONLY)
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('--conf-dir', result.stdout)

    def test_the_check_sees_a_test_only_import(self):
        # Control: the devstack story reads the database with SQLAlchemy;
        # blocking it must fail the same script.
        result = self.run_script(self.TEST_ONLY + ('sqlalchemy',))
        self.assertNotEqual(0, result.returncode)
        self.assertIn('devstack does not install sqlalchemy', result.stderr)
