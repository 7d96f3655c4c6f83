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

"""A small nova cloud of separate OS processes, for tests.

Real nova-conductor and nova-compute processes, each with its own nova.conf,
talking over a RabbitMQ virtual host of their own to MariaDB databases of
their own, and a real placement API served from its own process.

With ``api=True`` the cloud is whole, as an operator sees it: keystone,
placement and nova-api (each a WSGI application in its own process),
nova-scheduler, nova-conductor, cells mapped, and stand-ins for glance and
neutron (:mod:`fake_image_network`). Without it, placement runs with
``auth_strategy = noauth2`` and nothing else is started: enough to watch
compute node records and the processes' fate.

Every process's log and console output are kept under the work directory
(``keep_logs_on_failure`` attaches them to a failing test); every process,
database and virtual host is removed afterwards.
"""

import grp
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid

import fixtures
import pymysql
import requests
import sqlalchemy

from tests.harness import backends
from tests.harness import fixtures as hostguard_fixtures
from tests.harness.processes import service_log

HERE = os.path.dirname(__file__)
LAUNCHER = os.path.join(HERE, 'compute_launcher.py')
WSGI_SERVER = os.path.join(HERE, 'wsgi_server.py')
ADMIN_PASSWORD = 'hostguard-admin'
SERVICE_PASSWORD = 'hostguard-service'

NOVA_CONF = """
[DEFAULT]
host = %(host)s
state_path = %(state)s
log_file = %(state)s/%(name)s.log
transport_url = %(transport)s
compute_driver = fake.FakeDriverWithoutFakeNodes
update_resources_interval = 3600
debug = true
[database]
connection = %(cell)s
[api_database]
connection = %(api)s
[oslo_concurrency]
lock_path = %(state)s
[os_vif_ovs]
isolate_vif = false
"""

KEYSTONE_AUTH = """auth_type = password
auth_url = %(keystone)s/v3
username = nova
password = """ + SERVICE_PASSWORD + """
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
"""

WHOLE_CLOUD_CONF = """
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = %(api_paste)s
[scheduler]
discover_hosts_in_cells_interval = 1
[glance]
endpoint_override = %(fakes)s
[keystone_authtoken]
www_authenticate_uri = %(keystone)s/v3
""" + KEYSTONE_AUTH + """
[placement]
""" + KEYSTONE_AUTH + """
[neutron]
endpoint_override = %(fakes)s
""" + KEYSTONE_AUTH

IRONIC_CONF = """
[DEFAULT]
compute_driver = ironic.IronicDriver
update_resources_interval = %(interval)s
[ironic]
auth_type = none
endpoint_override = %(endpoint)s
shard = %(shard)s
"""

PLACEMENT_NOAUTH = """
[placement]
auth_type = admin_token
endpoint = %(placement)s
token = admin
"""


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


class PythonWithoutThePlugin(fixtures.Fixture):
    """A Python with this one's packages, nova-hostguard not among them.

    A virtual environment whose site-packages links every package of this
    one's but nova-hostguard (its code, its metadata and entry points, its
    editable-install hook): a nova whose operator's upgrade left the
    plugin out of its Python. ``python`` is its interpreter.
    """

    def _setUp(self):
        root = self.useFixture(fixtures.TempDir()).path
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                        root], check=True, stdin=subprocess.DEVNULL)
        ours = sysconfig.get_paths()['purelib']
        theirs = sysconfig.get_paths(vars={'base': root,
                                           'platbase': root})['purelib']
        for entry in os.listdir(ours):
            if 'nova_hostguard' in entry.replace('-', '_'):
                continue
            os.symlink(os.path.join(ours, entry),
                       os.path.join(theirs, entry))
        self.python = os.path.join(root, 'bin', 'python')


class Processes(fixtures.Fixture):
    """MariaDB databases of their own and processes started on them."""

    def __init__(self, workdir, databases=('placement',)):
        super().__init__()
        self.workdir = workdir
        self.databases = list(databases)
        self.processes = {}

    def _setUp(self):
        self.name = 'hgp_' + uuid.uuid4().hex[:10]
        self._create_databases()
        self.addCleanup(self.stop_all)

    def db_url(self, database):
        return backends.mysql_url('%s_%s' % (self.name, database))

    def _admin_sql(self, statements):
        conn = pymysql.connect(host=backends.MYSQL_HOST,
                               port=backends.MYSQL_PORT,
                               user=backends.MYSQL_USER,
                               password=backends.MYSQL_PASSWORD)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def _create_databases(self):
        self._admin_sql('CREATE DATABASE %s_%s CHARACTER SET utf8'
                        % (self.name, db) for db in self.databases)
        self.addCleanup(self._admin_sql, [
            'DROP DATABASE IF EXISTS %s_%s' % (self.name, db)
            for db in self.databases])

    def state_dir(self, name):
        state = os.path.join(self.workdir, name)
        os.makedirs(state, exist_ok=True)
        return state

    def start_placement(self, keystone_url=None):
        """Sync placement's database and serve its API; returns its URL.

        Without ``keystone_url``, with ``auth_strategy = noauth2``: any
        client sending the token ``admin`` is an admin.
        """
        state = self.state_dir('placement')
        conf = os.path.join(state, 'placement.conf')
        with open(conf, 'w') as f:
            f.write('[placement_database]\nconnection = %s\n'
                    % self.db_url('placement'))
            if keystone_url:
                f.write('[api]\nauth_strategy = keystone\n'
                        '[keystone_authtoken]\nwww_authenticate_uri = '
                        '%(k)s/v3\n' % {'k': keystone_url})
                f.write(KEYSTONE_AUTH % {'keystone': keystone_url})
            else:
                f.write('[api]\nauth_strategy = noauth2\n')
        self.run([_bin('placement-manage'), '--config-file', conf, 'db',
                  'sync'])
        # What placement.wsgi.api (placement 13, 2025.1, and newer) serves;
        # placement 11 (2024.1) has only the function.
        return self._serve('placement', 'placement.wsgi:init_application()',
                           env={'OS_PLACEMENT_CONFIG_DIR': state})

    # Processes.

    def run(self, argv, timeout=300, env=None):
        """Run a command to completion; its output goes to the work log."""
        result = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=timeout,
            env=dict(os.environ, **(env or {})))
        output = result.stdout.decode('utf-8', 'replace')
        with open(os.path.join(self.workdir, 'commands.out'), 'a') as f:
            f.write('$ %s\n%s\n' % (' '.join(argv), output))
        if result.returncode:
            raise RuntimeError('%s exited %s:\n%s' % (
                ' '.join(argv), result.returncode, output[-4000:]))
        return output

    def start(self, name, argv, conf=None, env=None):
        out = os.path.join(self.state_dir(name), name + '.out')
        with open(out, 'ab') as log:
            proc = subprocess.Popen(
                argv + (['--config-file', conf] if conf else []),
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ, **(env or {})))
        self.processes[name] = proc
        return proc

    def _serve(self, name, application, env=None):
        """Serve a WSGI application in a process of its own; its URL."""
        port_file = os.path.join(self.state_dir(name), 'port')
        self.start(name, [sys.executable, WSGI_SERVER, application,
                          port_file], env=env)
        self.wait_for(lambda: os.path.exists(port_file) or
                      self.processes[name].poll() is not None,
                      120, '%s to listen' % name)
        if not os.path.exists(port_file):
            raise RuntimeError('%s did not start:\n%s'
                               % (name, self.log_of(name)[-4000:]))
        with open(port_file) as f:
            return 'http://127.0.0.1:%s' % f.read()

    def stop(self, name, timeout=30):
        proc = self.processes.pop(name)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for name in list(self.processes):
            self.stop(name)

    def logs(self):
        """All process logs, for a failing test's details."""
        out = []
        for root, _dirs, files in os.walk(self.workdir):
            for f in sorted(files):
                if f.endswith(('.log', '.out')):
                    with open(os.path.join(root, f), errors='replace') as fh:
                        out.append('==> %s <==\n%s' % (f, fh.read()[-20000:]))
        return '\n'.join(out)

    def log_of(self, name):
        """The log file and console output of one process."""
        text = []
        for f in (name + '.log', name + '.out'):
            path = os.path.join(self.workdir, name, f)
            if os.path.exists(path):
                with open(path, errors='replace') as fh:
                    text.append(fh.read())
        return '\n'.join(text)

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise AssertionError('timed out after %ss waiting for %s'
                             % (timeout, what))


class NovaProcesses(Processes):
    """Databases, a vhost and the nova processes started on them."""

    #: The api-paste.ini the nova wheel installs under the data prefix.
    api_paste_ini = os.path.join(sysconfig.get_path('data'), 'etc', 'nova',
                                 'api-paste.ini')

    def __init__(self, workdir, api=False):
        super().__init__(workdir, ['api', 'cell1', 'placement'] + (
            ['cell0', 'keystone'] if api else []))
        self.api = api
        self.keystone_url = self.fakes_url = self.placement_url = ''
        self.nova_url = None

    def _setUp(self):
        super()._setUp()
        self.vhost = self.name
        backends.create_vhost(self.vhost, self.addCleanup)
        if self.api:
            self.fakes_url = self._serve(
                'fakes', 'fake_image_network:application')
            self.keystone_url = self._start_keystone()
        self.placement_url = self.start_placement(self.keystone_url or None)
        if self.api:
            self.identity.create_endpoint('placement', self.placement_url)
            self._map_cells()
            self._start_api()
            self.start('scheduler', [_bin('nova-scheduler')],
                       self.config('scheduler'))
        else:
            self._nova_manage('api_db', 'sync')
            self._nova_manage('db', 'sync', '--local_cell')
        self.engine = sqlalchemy.create_engine(self.db_url('cell1'))
        self.addCleanup(self.engine.dispose)

    # Configuration.

    def config(self, name, host=None, guard=False, extra=''):
        """Write the nova.conf of one process; returns its path.

        :param name: the process, or the machine of a nova-compute; its
            state (and so a nova-compute's node identity) lives in a
            directory of that name.
        :param host: its ``[DEFAULT] host``, by default ``name``.
        """
        state = self.state_dir(name)
        path = os.path.join(state, 'nova.conf')
        values = {
            'name': name, 'host': host or name, 'state': state,
            'transport': backends.rabbit_url(self.vhost),
            'cell': self.db_url('cell1'), 'api': self.db_url('api'),
            'placement': self.placement_url,
            'keystone': self.keystone_url,
            'fakes': self.fakes_url,
            'api_paste': self.api_paste_ini,
        }
        with open(path, 'w') as f:
            f.write(NOVA_CONF % values)
            f.write((WHOLE_CLOUD_CONF if self.api else PLACEMENT_NOAUTH)
                    % values)
            f.write(extra)
            if guard:
                f.write(hostguard_fixtures.GUARD_LINES)
        return path

    # Services.

    def _nova_manage(self, *args):
        return self.run([_bin('nova-manage'), '--config-file',
                         self.config('manage')] + list(args))

    def _start_keystone(self):
        state = self.state_dir('keystone')
        conf = os.path.join(state, 'keystone.conf')
        with open(conf, 'w') as f:
            f.write('[DEFAULT]\nlog_file = %(s)s/keystone.log\n'
                    '[database]\nconnection = %(db)s\n'
                    '[token]\nprovider = fernet\n'
                    '[fernet_tokens]\nkey_repository = %(s)s/fernet-keys\n'
                    '[fernet_receipts]\nkey_repository = %(s)s/receipts\n'
                    '[credential]\nkey_repository = %(s)s/credential-keys\n'
                    % {'s': state, 'db': self.db_url('keystone')})
        manage = [_bin('keystone-manage'), '--config-file', conf]
        owner = ['--keystone-user', pwd.getpwuid(os.getuid()).pw_name,
                 '--keystone-group', grp.getgrgid(os.getgid()).gr_name]
        self.run(manage + ['db_sync'])
        self.run(manage + ['fernet_setup'] + owner)
        self.run(manage + ['credential_setup'] + owner)
        url = self._serve('keystone', 'keystone.wsgi.api:application',
                          env={'OS_KEYSTONE_CONFIG_DIR': state})
        self.run(manage + [
            'bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
            '--bootstrap-admin-url', url + '/v3',
            '--bootstrap-public-url', url + '/v3',
            '--bootstrap-internal-url', url + '/v3',
            '--bootstrap-region-id', 'RegionOne'])
        self.identity = Identity(url)
        self.identity.create_service_user()
        return url

    def _map_cells(self):
        self._nova_manage('api_db', 'sync')
        self._nova_manage('cell_v2', 'map_cell0', '--database_connection',
                          self.db_url('cell0'))
        self._nova_manage('db', 'sync')
        self._nova_manage('cell_v2', 'create_cell', '--name', 'cell1')

    def _start_api(self):
        # nova's WSGI application reads api-paste.ini and nova.conf from
        # one directory, as it does from /etc/nova.
        state = os.path.dirname(self.config('api'))
        shutil.copy(self.api_paste_ini, state)
        url = self._serve('api', 'nova.wsgi.osapi_compute:application',
                          env={'OS_NOVA_CONFIG_DIR': state})
        self.identity.create_endpoint('compute', url + '/v2.1')
        self.nova_url = url

    def start_conductor(self, guard=False):
        return self.start('conductor', [_bin('nova-conductor')],
                          self.config('conductor', guard=guard))

    def start_compute(self, machine, hypervisor, host=None, guard=False,
                      guests=None, python=sys.executable):
        """Start the nova-compute of a machine; returns its process.

        :param host: its ``[DEFAULT] host``, by default ``machine``.
        :param guests: a file holding the hypervisor's guests, shared
            with the other machines that manage it.
        :param python: the interpreter it runs in (a
            :class:`PythonWithoutThePlugin`'s, say).
        """
        env = {'HOSTGUARD_TEST_HYPERVISOR': hypervisor}
        if guests:
            env['HOSTGUARD_TEST_GUESTS'] = guests
        return self.start(
            machine, [python, LAUNCHER],
            self.config(machine, host=host, guard=guard), env=env)

    def start_ironic_compute(self, machine, shard, endpoint, host=None,
                             guard=False, interval=2):
        """Start nova's own nova-compute, its ironic driver on a real ironic.

        :param shard: its ``[ironic] shard``.
        :param endpoint: the ironic API's URL (no authentication).
        :param interval: its ``update_resources_interval``: how often it
            looks for nodes, and would move them.
        """
        extra = IRONIC_CONF % {'shard': shard, 'endpoint': endpoint,
                               'interval': interval}
        return self.start(machine, [_bin('nova-compute')], self.config(
            machine, host=host, guard=guard, extra=extra))

    def wait_started(self, name, since, timeout):
        """Wait until a nova service started, or exited.

        :param since: the size of its log file before it was started.
        :returns: ``(running, what it logged since)``.
        """
        log = os.path.join(self.state_dir(name), name + '.log')

        def logged():
            if not os.path.exists(log):
                return ''
            with open(log, errors='replace') as f:
                f.seek(since)
                return f.read()
        proc = self.processes[name]
        self.wait_for(lambda: (service_log.STARTED in logged() or
                               proc.poll() is not None),
                      timeout, '%s to start or exit' % name)
        return proc.poll() is None, logged()

    def log_size(self, name):
        log = os.path.join(self.state_dir(name), name + '.log')
        return os.path.getsize(log) if os.path.exists(log) else 0

    # What the tests look at.

    def force_down(self, host):
        """What ``openstack compute service set --down`` writes."""
        with self.engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "UPDATE services SET forced_down = 1 WHERE host = :host "
                "AND `binary` = 'nova-compute'"), {'host': host})

    def compute_nodes(self):
        """(host, hypervisor_hostname, deleted) of every compute node row."""
        with self.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sqlalchemy.text(
                'SELECT host, hypervisor_hostname, deleted '
                'FROM compute_nodes')))


class Identity:
    """keystone's admin API, for what the cloud needs registered."""

    def __init__(self, url):
        self.url = url + '/v3'
        response = requests.post(self.url + '/auth/tokens', json={'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': 'admin', 'domain': {'id': 'default'},
                'password': ADMIN_PASSWORD}}},
            'scope': {'project': {'name': 'admin',
                                  'domain': {'id': 'default'}}}}})
        response.raise_for_status()
        self.headers = {'X-Auth-Token': response.headers['X-Subject-Token']}

    def _call(self, method, path, body=None):
        response = requests.request(method, self.url + path, json=body,
                                    headers=self.headers)
        response.raise_for_status()
        return response.json() if response.content else None

    def create_service_user(self):
        """User ``nova`` with the admin and service roles on ``service``.

        placement's and nova's policies want a service (or admin) token
        from the services, keystone wants one to validate tokens.
        """
        project = self._call('POST', '/projects', {'project': {
            'name': 'service', 'domain_id': 'default'}})['project']
        user = self._call('POST', '/users', {'user': {
            'name': 'nova', 'domain_id': 'default',
            'password': SERVICE_PASSWORD}})['user']
        roles = {r['name']: r['id']
                 for r in self._call('GET', '/roles')['roles']}
        for role in ('admin', 'service'):
            self._call('PUT', '/projects/%s/users/%s/roles/%s'
                       % (project['id'], user['id'], roles[role]))

    def create_endpoint(self, service_type, url):
        service = self._call('POST', '/services', {'service': {
            'type': service_type, 'name': service_type}})['service']
        for interface in ('public', 'internal', 'admin'):
            self._call('POST', '/endpoints', {'endpoint': {
                'service_id': service['id'], 'interface': interface,
                'url': url, 'region_id': 'RegionOne'}})


def keep_logs_on_failure(test, cloud, keep_dir):
    """Copy the work directory to ``keep_dir`` and attach logs if failed."""
    logs = test.useFixture(fixtures.StringStream('nova-logs')).stream
    test.addOnException(lambda exc_info: logs.write(cloud.logs()))
    if keep_dir:
        test.addOnException(lambda exc_info: shutil.copytree(
            cloud.workdir, os.path.join(keep_dir, test.id()),
            dirs_exist_ok=True))
