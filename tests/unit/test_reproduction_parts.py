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

import fixtures
import sqlalchemy as sa
import testtools

from tests.processes import cloud as processes_cloud
from tests.processes import shared_hypervisor
from tests.reproduction import devstack
from tests.reproduction import scenario


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
        if argv[:3] == ['sudo', 'journalctl', '-u'] or \
                argv[:2] == ['journalctl', '-u']:
            self.journal_reads += 1
            if self.journal_reads < 2:
                return 'Starting compute node (version 34.0.0)\n'
            if self.started:
                return ('Starting compute node\n%s compute\n'
                        % processes_cloud.STARTED)
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

    def cloud(self, systemd):
        the_cloud = devstack.DevstackCloud(
            conf_dir=self.conf_dir, data_dir=self.data_dir, runner=systemd,
            connection=object())
        self.addCleanup(the_cloud.close)
        return the_cloud

    def test_a_start_that_comes_up(self):
        systemd = Systemd(started=True)
        running, log = self.cloud(systemd).start_compute('primary',
                                                         'hostguard-a')
        self.assertTrue(running)
        self.assertIn(processes_cloud.STARTED, log)
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

    def test_a_start_that_is_refused(self):
        systemd = Systemd(started=False)
        running, log = self.cloud(systemd).start_compute('standby',
                                                         'hostguard-b')
        self.assertFalse(running)
        self.assertIn('nova-hostguard: hypervisor', log)
        self.assertIn('systemctl is-active devstack@hostguard-standby.service',
                      systemd.calls)

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
