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

"""The story on a devstack with nova-hostguard's reproduction enabled.

``HOSTGUARD_REPRODUCTION=True`` makes the devstack plugin prepare two
nova-compute machines for one shared fake hypervisor: the systemd units
``devstack@hostguard-primary`` and ``devstack@hostguard-standby``, each
running the test-only launcher with its own nova.conf (a copy of
nova-cpu.conf), state directory and a host file the story writes before
each start. Service control is devstack's ``$SYSTEMCTL`` (``sudo
systemctl``, or ``systemctl --user`` with ``USER_UNITS=True``) and the
matching journal; the database is read with the cell's own ``[database]
connection``. ``devstack/reproduce.sh`` passes the paths and ``$SYSTEMCTL``
as devstack set them.
"""

import configparser
import os
import shlex
import subprocess

import openstack
import sqlalchemy

from tests.harness.processes import service_log
from tests.harness.processes import shared_hypervisor
from tests.harness.reproduction import client as sdk_client
from tests.harness.reproduction import records
from tests.harness.reproduction import scenario

START_TIMEOUT = 300


def run_command(argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          text=True).stdout


class DevstackCloud(scenario.Cloud):

    hypervisor = 'hostguard-hv1'
    host_a = 'hostguard-a'
    host_b = 'hostguard-b'

    def __init__(self, conf_dir='/etc/nova',
                 data_dir='/opt/stack/data/nova-hostguard',
                 systemctl='sudo systemctl', cloud='devstack-admin',
                 runner=run_command, connection=None):
        self.conf_dir = conf_dir
        self.data_dir = data_dir
        self.systemctl = shlex.split(systemctl)
        # The journal is read the way the units are reached: with sudo, or
        # the user's own (--user).
        self.journalctl = ['journalctl' if word == 'systemctl' else word
                           for word in self.systemctl]
        self.run = runner
        self.client = sdk_client.SdkClient(
            connection or openstack.connect(cloud=cloud))
        self.cell_engine = sqlalchemy.create_engine(self._connection(
            'nova_cell1.conf', 'database'))
        self.api_engine = sqlalchemy.create_engine(self._connection(
            'nova.conf', 'api_database'))

    def _connection(self, conf, section):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(os.path.join(self.conf_dir, conf))
        return parser.get(section, 'connection')

    def unit(self, machine):
        return 'devstack@hostguard-%s.service' % machine

    def start_compute(self, machine, host):
        with open(os.path.join(self.conf_dir, 'hostguard-%s-host.conf'
                               % machine), 'w') as f:
            f.write('[DEFAULT]\nhost = %s\n' % host)
        unit = self.unit(machine)
        cursor = self._cursor(unit)
        self.run(self.systemctl + ['start', unit])

        def started_or_stopped():
            log = self._journal(unit, cursor)
            if service_log.STARTED in log:
                return 'running', log
            if not self._active(unit):
                return 'stopped', log
        state, log = self.wait(started_or_stopped, START_TIMEOUT,
                               '%s to start or stop' % unit)
        if state == 'running':
            self.wait(lambda: records.host_mapped(self.api_engine, host),
                      START_TIMEOUT, '%s to be mapped to a cell' % host)
        return state == 'running', log

    def _cursor(self, unit):
        output = self.run(self.journalctl + ['-u', unit, '-n', '0',
                                             '--show-cursor', '--no-pager'])
        for line in output.splitlines():
            if line.startswith('-- cursor: '):
                return line[len('-- cursor: '):]
        return None

    def _journal(self, unit, cursor):
        argv = self.journalctl + ['-u', unit, '-o', 'cat', '--no-pager']
        if cursor:
            argv.append('--after-cursor=%s' % cursor)
        return self.run(argv)

    def _active(self, unit):
        try:
            state = self.run(self.systemctl + ['is-active', unit]).strip()
        except subprocess.CalledProcessError as e:
            state = (e.stdout or '').strip()
        return state in ('active', 'activating')

    def stop_compute(self, machine):
        self.run(self.systemctl + ['stop', self.unit(machine)])

    def guests(self):
        return set(shared_hypervisor.SharedGuests(
            os.path.join(self.data_dir, 'guests.json')))

    def compute_nodes(self):
        return records.compute_node_records(self.cell_engine)

    def set_node_identity(self, machine, node_uuid):
        with open(os.path.join(self.data_dir, machine, 'compute_id'),
                  'w') as f:
            f.write(node_uuid)

    def boot_request(self):
        status, body = self.client.compute('GET', '/flavors/detail')
        flavor = min(body['flavors'], key=lambda f: (f['ram'], f['disk']))
        image = next(i for i in self.client.connection.image.images()
                     if i.status == 'active')
        # The devstack's own nova-compute may run too: place the server
        # on the primary, as an admin may (microversion 2.74).
        return {'server': {'name': 'bug-1419785', 'imageRef': image.id,
                           'flavorRef': flavor['id'], 'networks': 'none',
                           'host': self.host_a}}

    def close(self):
        self.cell_engine.dispose()
        self.api_engine.dispose()
