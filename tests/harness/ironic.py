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

"""A real ironic (from PyPI) for the tests: one process, fake hardware.

ironic lives in a virtualenv of its own (``tools/ironic-server.sh`` makes
it; ``HOSTGUARD_IRONIC_BIN`` names its ``bin``): its release's
requirements need newer keystoneauth1 and oslo.versionedobjects than
nova's constraints hold, and nova only talks to it over HTTP. One ironic
serves a whole test process (:func:`shared`); each test enrolls its own
nodes and deletes them afterwards (:class:`NodesFixture`).

ironic runs as the single ``ironic`` command (API and conductor in one
process, ``rpc_transport = none``), without authentication, with the
``fake-hardware`` type, on SQLite in a temporary directory.
"""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import fixtures
import requests

#: The API version the tests ask for (shards are 1.82).
HEADERS = {'X-OpenStack-Ironic-API-Version': 'latest'}

_CONFIG = """\
[DEFAULT]
host = hostguard-ironic
rpc_transport = none
auth_strategy = noauth
enabled_hardware_types = fake-hardware
enabled_boot_interfaces = fake
enabled_deploy_interfaces = fake
enabled_management_interfaces = fake
enabled_power_interfaces = fake
enabled_console_interfaces = no-console
enabled_inspect_interfaces = no-inspect
enabled_raid_interfaces = no-raid
enabled_rescue_interfaces = no-rescue
enabled_vendor_interfaces = no-vendor
enabled_bios_interfaces = no-bios
enabled_firmware_interfaces = no-firmware
enabled_network_interfaces = noop
default_network_interface = noop
use_stderr = true

[api]
host_ip = 127.0.0.1
port = {port}

[conductor]
automated_clean = false
heartbeat_interval = 1
sync_power_state_interval = -1

[dhcp]
dhcp_provider = none

[database]
connection = sqlite:///{state}/ironic.sqlite

[oslo_concurrency]
lock_path = {state}/locks
"""


class IronicNotAvailable(Exception):
    """ironic's virtualenv is missing or ironic does not answer."""


class Ironic:
    """One ironic process and its API endpoint."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.state = tempfile.mkdtemp(prefix='hostguard-ironic.')
        self.port = _free_port()
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        self.config = os.path.join(self.state, 'ironic.conf')
        self.log = os.path.join(self.state, 'ironic.log')
        self.process = None

    def start(self, timeout=120):
        with open(self.config, 'w') as f:
            f.write(_CONFIG.format(port=self.port, state=self.state))
        subprocess.run(
            [os.path.join(self.bindir, 'ironic-dbsync'), '--config-file',
             self.config, 'create_schema'],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(self.log, 'ab') as log:
            self.process = subprocess.Popen(
                [os.path.join(self.bindir, 'ironic'), '--config-file',
                 self.config], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise IronicNotAvailable(
                    'ironic exited with %s; its log: %s' % (
                        self.process.returncode, self.tail()))
            try:
                if requests.get(self.endpoint + '/v1/drivers',
                                headers=HEADERS, timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise IronicNotAvailable('ironic did not answer within %ds; its '
                                 'log: %s' % (timeout, self.tail()))

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.state, ignore_errors=True)

    def tail(self, lines=40):
        try:
            with open(self.log, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return '(no log)'

    # The API, as an operator's client would use it.

    def call(self, method, path, **kwargs):
        response = requests.request(method, self.endpoint + path,
                                    headers=HEADERS, timeout=30, **kwargs)
        if not response.ok:
            raise AssertionError('ironic %s %s: %s %s' % (
                method, path, response.status_code, response.text))
        return response.json() if response.content else None

    def enroll(self, shard, name=None):
        """A fake-hardware node made available, powered off: its uuid."""
        node = self.call('POST', '/v1/nodes', json={
            'name': name or 'node-%s' % uuid.uuid4().hex[:8],
            'driver': 'fake-hardware',
            'resource_class': 'baremetal',
            'shard': shard,
            'properties': {'cpu_arch': 'x86_64', 'cpus': 2,
                           'memory_mb': 1024, 'local_gb': 10}})
        ident = node['uuid']
        self.provision(ident, 'manage', 'manageable')
        self.provision(ident, 'provide', 'available')
        # Fake nodes report no power state after provide, and nova reserves
        # such nodes: set one, as a real BMC would report.
        self.call('PUT', '/v1/nodes/%s/states/power' % ident,
                  json={'target': 'power off'})
        self.wait_for(ident, 'power_state', 'power off')
        return ident

    def provision(self, ident, target, state):
        self.call('PUT', '/v1/nodes/%s/states/provision' % ident,
                  json={'target': target})
        self.wait_for(ident, 'provision_state', state)

    def wait_for(self, ident, field, value, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            node = self.call('GET', '/v1/nodes/%s' % ident)
            if node[field] == value:
                return node
            if time.monotonic() > deadline:
                raise AssertionError('ironic node %s: %s is %r, not %r' % (
                    ident, field, node[field], value))
            time.sleep(0.2)

    def set_shard(self, ident, shard):
        self.call('PATCH', '/v1/nodes/%s' % ident, json=[
            {'op': 'replace', 'path': '/shard', 'value': shard}])

    def delete(self, ident):
        node = self.call('GET', '/v1/nodes/%s' % ident)
        if node['maintenance'] is False and node['provision_state'] not in (
                'available', 'manageable', 'enroll'):
            self.call('PATCH', '/v1/nodes/%s' % ident, json=[
                {'op': 'replace', 'path': '/maintenance', 'value': True}])
        self.call('DELETE', '/v1/nodes/%s' % ident)

    def nodes(self):
        return self.call('GET', '/v1/nodes?fields=uuid')['nodes']


_shared = {}


def shared():
    """The test process's ironic, started on first use.

    :raises: IronicNotAvailable, loudly: a test that needs ironic fails
        without it.
    """
    if 'ironic' not in _shared:
        bindir = os.environ.get('HOSTGUARD_IRONIC_BIN')
        if not bindir or not os.path.exists(os.path.join(bindir, 'ironic')):
            raise IronicNotAvailable(
                'no ironic: HOSTGUARD_IRONIC_BIN (%r) must name the bin '
                'directory of a virtualenv with ironic installed; '
                'tools/ironic-server.sh makes one' % bindir)
        ironic = Ironic(bindir)
        atexit.register(ironic.stop)
        ironic.start()
        _shared['ironic'] = ironic
    return _shared['ironic']


class NodesFixture(fixtures.Fixture):
    """Nodes of the shared ironic for one test, deleted afterwards."""

    def _setUp(self):
        self.ironic = shared()
        # A test's nodes only: those of an earlier test that failed to
        # clean up would confuse every later one.
        for node in self.ironic.nodes():
            self.ironic.delete(node['uuid'])
        self.addCleanup(self._delete_all)

    def enroll(self, shard, count=1):
        return [self.ironic.enroll(shard) for _ in range(count)]

    def _delete_all(self):
        for node in self.ironic.nodes():
            self.ironic.delete(node['uuid'])


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
