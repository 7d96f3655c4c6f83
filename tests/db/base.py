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

"""Tests against nova's real schema on SQLite, MariaDB and PostgreSQL."""

import datetime
import os
import subprocess
import sys
import threading
import time
import uuid

import fixtures
from oslo_utils import timeutils
import sqlalchemy as sa
import testscenarios
import testtools
import testtools.content

from tests.harness import backends
from tests.harness import databases
from tests.harness import fixtures as hostguard_fixtures


#: The database servers' scenarios: for the tests of what SQLite lacks.
SERVER_BACKENDS = [s for s in databases.SCENARIOS if s[0] != 'sqlite']

#: The tables a command must leave as they were when it says it changed
#: nothing.
TABLES = ('instances', 'compute_nodes', 'services', 'migrations')


class BackendTestCase(hostguard_fixtures.GuardSwitch,
                      testscenarios.WithScenarios, testtools.TestCase):
    """One run per backend; nova's cell schema in a fresh database."""

    scenarios = databases.SCENARIOS

    def setUp(self):
        super().setUp()
        if self.backend != 'sqlite':
            backends.require(self, self.backend)
        from nova import objects
        objects.register_all()
        self.db = self.useFixture(databases.NovaCellDatabase(self.backend))
        self.ctxt = self.db.context()

    def two_cells(self):
        """cell0 and this test's database as cell1, mapped in an API DB.

        :returns: ``(cell0 database, API database, cell0 uuid, cell1
            uuid)``.
        """
        cell0 = self.useFixture(databases.NovaCellDatabase(
            self.backend, bind_nova=False))
        api = self.useFixture(databases.NovaApiDatabase(self.backend))
        return (cell0, api, api.map_cell('cell0', cell0.url),
                api.map_cell('cell1', self.db.url))

    def new_compute_node(self, host, hypervisor_hostname, **fields):
        """An unsaved ComputeNode as nova's resource tracker builds one."""
        from nova import objects
        return objects.ComputeNode(
            context=self.ctxt, **databases.compute_node_values(
                host, hypervisor_hostname, **fields))

    def create(self, host, hypervisor_hostname, **fields):
        node = self.new_compute_node(host, hypervisor_hostname, **fields)
        node.create()
        return node

    # Rows nova-hostguard's operator tools look at, written the way nova's
    # schema holds them.

    def insert(self, table, **values):
        databases.insert(self.db.engine, table, [values])

    def add_service(self, host, heartbeat_age=0, forced_down=False):
        """A nova-compute service, its last heartbeat as nova records it.

        nova's database service group writes ``last_seen_up`` on each
        report and reads it (else ``created_at``) as the heartbeat.
        """
        heartbeat = timeutils.utcnow() - datetime.timedelta(
            seconds=heartbeat_age)
        self.insert('services', **databases.service_values(
            host, forced_down=forced_down, created_at=heartbeat,
            updated_at=heartbeat, last_seen_up=heartbeat))

    def add_instance(self, host, node, compute_id=None, task_state=None,
                     instance_uuid=None):
        instance_uuid = instance_uuid or str(uuid.uuid4())
        self.insert('instances', **databases.instance_values(
            host, node, uuid=instance_uuid, compute_id=compute_id,
            task_state=task_state, created_at=timeutils.utcnow()))
        return instance_uuid

    def add_migration(self, instance_uuid, source, dest, status,
                      migration_type='evacuation'):
        self.insert('migrations', instance_uuid=instance_uuid,
                    source_compute=source, dest_compute=dest, status=status,
                    migration_type=migration_type, deleted=0,
                    created_at=timeutils.utcnow())

    def tables(self, *names):
        """Every row of each table: for "nothing changed"."""
        return {name: self.db.rows(name) for name in names}

    # Concurrency, reproduced with real sessions and real locks.

    def wait_until(self, predicate, what, interval=0.05):
        """Poll ``predicate`` until true; fail (not hang) after a minute.

        ``interval`` 0 polls without a pause, for a state that lasts a
        millisecond at a time: a PostgreSQL run waiting for the run lock
        shows its try as the session's last query only until it commits,
        about 1 ms of every 100 ms.
        """
        deadline = time.monotonic() + 60
        while not predicate():
            if time.monotonic() > deadline:
                self.fail('gave up waiting for %s' % what)
            time.sleep(interval)

    def sessions_waiting(self, statement_like, for_lock=True):
        """How many sessions wait for a lock in a statement LIKE this.

        Or, with ``for_lock`` false, ran it last (PostgreSQL).
        """
        if not for_lock:
            query = ("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND query LIKE :s AND "
                     "pid <> pg_backend_pid()")
        elif self.backend in ('mysql', 'galera'):
            query = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                     "WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND "
                     "INFO LIKE :s AND (STATE "
                     "LIKE 'Waiting for%lock' OR STATE = 'User lock')")
        else:
            query = ("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND query LIKE :s AND "
                     "wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(query),
                                {'s': statement_like}).scalar()

    def open_writer(self):
        """A transaction that wrote to compute_nodes and stays open.

        As a nova-compute stuck between its update and its commit would
        leave one: it holds the table's lock until rolled back.
        """
        conn = self.db.engine.connect()
        self.addCleanup(conn.close)
        # An explicit transaction: SQLAlchemy 1.4's plain engines (2024.1)
        # would commit the update at once.
        transaction = conn.begin()
        conn.execute(sa.text('UPDATE compute_nodes SET updated_at = '
                             'updated_at'))
        return transaction

    def in_thread(self, function, *args, **kwargs):
        """Run ``function`` in a thread: (thread, {'value' or 'error'})."""
        result = {}

        def run():
            try:
                result['value'] = function(*args, **kwargs)
            except Exception as e:
                result['error'] = e
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, result

    def interrupted_build(self, index):
        """Leave ``index`` INVALID, as an interrupted build leaves it.

        A CREATE UNIQUE INDEX CONCURRENTLY (PostgreSQL) whose session was
        terminated mid-build: the build waits for an open writer after
        creating its index; its session is terminated there.
        """
        writer = self.open_writer()
        builder = sa.create_engine(self.db.url, isolation_level='AUTOCOMMIT')
        self.addCleanup(builder.dispose)
        pid = []
        thread, result = self.in_thread(self._build, builder, index, pid)
        self.wait_until(lambda: self.sessions_waiting(
            'CREATE UNIQUE INDEX CONCURRENTLY%') == 1, 'the build to wait')
        with self.db.engine.connect() as conn:
            conn.execute(sa.text('SELECT pg_terminate_backend(:p)'),
                         {'p': pid[0]})
        thread.join(60)
        writer.rollback()
        self.assertIn('error', result)

    @staticmethod
    def _build(engine, index, pid):
        with engine.connect() as conn:
            pid.append(conn.execute(sa.text(
                'SELECT pg_backend_pid()')).scalar())
            conn.execute(sa.text(
                'CREATE UNIQUE INDEX CONCURRENTLY %s ON compute_nodes '
                '(hypervisor_hostname, deleted)' % index))


class CommandTestCase(BackendTestCase):
    """Runs nova-hostguard's installed commands in processes of their own."""

    def command(self, program, *args, conf=None):
        process = self.start_command(program, *args, conf=conf)
        return self.finish_command(process)

    def start_command(self, program, *args, conf=None):
        """The command running in the background: for races."""
        if conf is None:
            conf = '[database]\nconnection = %s\n' % self.db.url
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'nova.conf')
        with open(path, 'w') as f:
            f.write(conf)
        process = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), program),
             '--config-file', path] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.name = '%s %s' % (program, ' '.join(args))
        self.addCleanup(process.kill)
        return process

    def finish_command(self, process):
        """A started command's CompletedProcess, once it has exited."""
        stdout, stderr = process.communicate(timeout=300)
        self.addDetail('%s output' % process.name,
                       testtools.content.text_content(stdout + stderr))
        return subprocess.CompletedProcess(process.args, process.returncode,
                                           stdout, stderr)

    def wait_for_lock_waits(self, count):
        """Until ``count`` sessions of this database wait for a row lock.

        Bounded: fails the test after 120 s.
        """
        if self.backend in ('mysql', 'galera'):
            query = sa.text(
                'SELECT COUNT(*) FROM information_schema.INNODB_TRX t '
                'JOIN information_schema.PROCESSLIST p '
                'ON p.ID = t.trx_mysql_thread_id '
                "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = :db")
        else:
            query = sa.text(
                'SELECT COUNT(*) FROM pg_stat_activity WHERE datname = :db '
                "AND wait_event_type = 'Lock'")
        deadline = time.monotonic() + 120
        with self.db.engine.connect() as conn:
            while conn.execute(query, {'db': self.db.name}).scalar() < count:
                if hasattr(conn, 'rollback'):   # not on SQLAlchemy 1.4's
                    conn.rollback()   # a fresh snapshot for the next look
                self.assertLess(time.monotonic(), deadline,
                                'fewer than %d sessions wait for a lock'
                                % count)
                time.sleep(0.1)
