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
their own, and a real placement API (``auth_strategy = noauth2``, which
placement still offers) served from its own process. Logs are kept under
the work directory and shown when a test fails.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid

import fixtures
import pymysql
import sqlalchemy
import testtools.content

from tests import backends

HERE = os.path.dirname(__file__)
LAUNCHER = os.path.join(HERE, 'compute_launcher.py')
WSGI_SERVER = os.path.join(HERE, 'wsgi_server.py')
DATABASES = ('_api', '_cell', '_placement')
GUARD_LINES = """
[DEFAULT]
config_source = hostguard

[hostguard]
driver = hostguard
"""
NOVA_CONF = """
[DEFAULT]
host = %(host)s
state_path = %(state)s
log_file = %(state)s/%(host)s.log
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
[placement]
auth_type = admin_token
endpoint = %(placement)s
token = admin
[os_vif_ovs]
isolate_vif = false
"""


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


class NovaProcesses(fixtures.Fixture):
    """Databases, a vhost and the nova processes started on them."""

    def __init__(self, workdir):
        super().__init__()
        self.workdir = workdir
        self.processes = {}

    def _setUp(self):
        self.name = 'hgp_' + uuid.uuid4().hex[:10]
        self.vhost = self.name
        self._create_databases()
        self._create_vhost()
        self.addCleanup(self.stop_all)
        self.placement_url = self._start_placement()
        self._nova_manage('api_db', 'sync')
        self._nova_manage('db', 'sync', '--local_cell')
        self.engine = sqlalchemy.create_engine(
            backends.mysql_url(self.name + '_cell'))
        self.addCleanup(self.engine.dispose)

    def _create_databases(self):
        conn = pymysql.connect(host=backends.MYSQL_HOST,
                               port=backends.MYSQL_PORT,
                               user=backends.MYSQL_USER,
                               password=backends.MYSQL_PASSWORD)
        with conn.cursor() as cur:
            for db in DATABASES:
                cur.execute('CREATE DATABASE %s CHARACTER SET utf8'
                            % (self.name + db))
        conn.close()
        self.addCleanup(self._drop_databases)

    def _drop_databases(self):
        conn = pymysql.connect(host=backends.MYSQL_HOST,
                               port=backends.MYSQL_PORT,
                               user=backends.MYSQL_USER,
                               password=backends.MYSQL_PASSWORD)
        with conn.cursor() as cur:
            for db in DATABASES:
                cur.execute('DROP DATABASE IF EXISTS %s' % (self.name + db))
        conn.close()

    def _create_vhost(self):
        subprocess.run(['rabbitmqctl', '-q', 'add_vhost', self.vhost],
                       check=True, capture_output=True)
        self.addCleanup(subprocess.run,
                        ['rabbitmqctl', '-q', 'delete_vhost', self.vhost],
                        capture_output=True)
        subprocess.run(['rabbitmqctl', '-q', 'set_permissions', '-p',
                        self.vhost, 'guest', '.*', '.*', '.*'],
                       check=True, capture_output=True)

    def config(self, host, guard=False, extra=''):
        """Write the nova.conf of one process; returns its path."""
        state = os.path.join(self.workdir, host)
        os.makedirs(state, exist_ok=True)
        path = os.path.join(state, 'nova.conf')
        with open(path, 'w') as f:
            f.write(NOVA_CONF % {
                'host': host, 'state': state,
                'transport': backends.rabbit_url(self.vhost),
                'cell': backends.mysql_url(self.name + '_cell'),
                'api': backends.mysql_url(self.name + '_api'),
                'placement': self.placement_url})
            f.write(extra)
            if guard:
                f.write(GUARD_LINES)
        return path

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

    def _nova_manage(self, *args):
        self.run([_bin('nova-manage'), '--config-file',
                  self.config('manage')] + list(args))

    def _start_placement(self):
        """Sync placement's database and serve its API; returns its URL."""
        state = os.path.join(self.workdir, 'placement')
        os.makedirs(state, exist_ok=True)
        with open(os.path.join(state, 'placement.conf'), 'w') as f:
            f.write('[api]\nauth_strategy = noauth2\n'
                    '[placement_database]\nconnection = %s\n'
                    % backends.mysql_url(self.name + '_placement'))
        env = {'OS_PLACEMENT_CONFIG_DIR': state}
        self.run([_bin('placement-manage'), '--config-file',
                  os.path.join(state, 'placement.conf'), 'db', 'sync'])
        port_file = os.path.join(state, 'port')
        log = open(os.path.join(state, 'placement.out'), 'ab')
        self.processes['placement'] = subprocess.Popen(
            [sys.executable, WSGI_SERVER, 'placement.wsgi.api:application',
             port_file], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=dict(os.environ, **env))
        log.close()
        self.wait_for(lambda: os.path.exists(port_file), 60,
                      'the placement API to listen')
        with open(port_file) as f:
            return 'http://127.0.0.1:%s' % f.read()

    def start(self, name, argv, conf, env=None):
        log = open(os.path.join(os.path.dirname(conf), name + '.out'), 'ab')
        proc = subprocess.Popen(
            argv + ['--config-file', conf], stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, **(env or {})))
        log.close()
        self.processes[name] = proc
        return proc

    def start_conductor(self, guard=False):
        return self.start('conductor', [_bin('nova-conductor')],
                          self.config('conductor', guard=guard))

    def start_compute(self, host, hypervisor, guard=False):
        return self.start(
            host, [sys.executable, LAUNCHER], self.config(host, guard=guard),
            env={'HOSTGUARD_TEST_HYPERVISOR': hypervisor})

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

    def compute_nodes(self):
        """(host, hypervisor_hostname, deleted) of every compute node row."""
        with self.engine.connect() as conn:
            return sorted(tuple(r) for r in conn.execute(sqlalchemy.text(
                'SELECT host, hypervisor_hostname, deleted '
                'FROM compute_nodes')))

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise AssertionError('timed out after %ss waiting for %s'
                             % (timeout, what))


def keep_logs_on_failure(test, cloud, keep_dir):
    """Copy the work directory to ``keep_dir`` and attach logs if failed."""
    def attach():
        test.addDetail('nova-logs', testtools.content.text_content(
            cloud.logs()))
    test.addOnException(lambda exc_info: attach())
    if keep_dir:
        test.addOnException(lambda exc_info: shutil.copytree(
            cloud.workdir, os.path.join(keep_dir, test.id()),
            dirs_exist_ok=True))
