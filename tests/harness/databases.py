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

"""Fresh databases with nova's real cell schema, on each backend.

Every fixture creates its own database (a file for SQLite), builds nova's
main ("cell") schema in it with nova's own alembic migrations, and drops it
afterwards, so a test run leaves nothing behind on the shared servers.
"""

import contextlib
import itertools
import os
import re
import sqlite3
import threading
import uuid

import fixtures
from oslo_db.sqlalchemy import enginefacade
from oslo_db.sqlalchemy import test_fixtures
import sqlalchemy as sa

from tests.harness import backends

BACKENDS = ('sqlite', 'mysql', 'postgresql')

#: testscenarios scenarios, one per backend.
SCENARIOS = [(b, {'backend': b}) for b in BACKENDS]


def _admin_engine(backend):
    if backend == 'mysql':
        return sa.create_engine(backends.mysql_url(),
                                isolation_level='AUTOCOMMIT')
    if backend == 'galera':
        return sa.create_engine(backends.galera_url(0),
                                isolation_level='AUTOCOMMIT')
    return sa.create_engine(backends.pg_url(), isolation_level='AUTOCOMMIT')


def schema_dump(engine):
    """The database's schema as the backend itself states it.

    SQLite's ``sqlite_master``, MySQL's ``SHOW CREATE TABLE`` of every
    table, PostgreSQL's catalog of columns (with collations), indexes and
    constraints: two dumps are equal only if the schemas are.
    """
    with engine.connect() as conn:
        if engine.dialect.name == 'sqlite':
            return sorted(tuple(r) for r in conn.execute(sa.text(
                'SELECT type, name, tbl_name, sql FROM sqlite_master')))
        if engine.dialect.name == 'mysql':
            tables = sorted(conn.execute(sa.text('SHOW TABLES')).scalars())
            return [re.sub(r' AUTO_INCREMENT=\d+', '', conn.execute(sa.text(
                'SHOW CREATE TABLE `%s`' % t)).one()[1]) for t in tables]
        columns = conn.execute(sa.text(
            "SELECT table_name, column_name, data_type, "
            "character_maximum_length, is_nullable, column_default, "
            "collation_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2")).all()
        indexes = conn.execute(sa.text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY 1")).all()
        constraints = conn.execute(sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1")).all()
        return [tuple(r) for r in columns + indexes + constraints]


def table_rows(engine, table):
    """Every row of ``table``, as sorted tuples: for before/after."""
    tbl = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(sa.select(tbl))),
                      key=repr)


def insert(engine, table, rows, batch=5000):
    """Insert ``rows`` into ``table``, ``batch`` rows a statement.

    Every row a dict, all of the same keys. Plain multi-row INSERTs, as
    nova's schema holds rows: for tests and benchmarks that need rows
    nova's objects would not write, or many.
    """
    rows = iter(rows)
    with engine.begin() as conn:
        while True:
            chunk = list(itertools.islice(rows, batch))
            if not chunk:
                return
            conn.execute(sa.table(table, *map(sa.column, chunk[0]))
                         .insert(), chunk)


def compute_node_values(host, hypervisor_hostname, **fields):
    """A compute node's fields as nova's resource tracker fills them in."""
    values = dict(
        host=host, hypervisor_hostname=hypervisor_hostname, vcpus=8,
        memory_mb=16384, local_gb=100, vcpus_used=0, memory_mb_used=0,
        local_gb_used=0, hypervisor_type='fake', hypervisor_version=1,
        cpu_info='{}')
    values.update(fields)
    return values


def service_values(host, **fields):
    """A nova-compute service's row, up and enabled."""
    values = dict(
        host=host, binary='nova-compute', topic='compute', report_count=1,
        disabled=False, forced_down=False, deleted=0, version=70,
        uuid=str(uuid.uuid4()))
    values.update(fields)
    return values


def instance_values(host, node, **fields):
    """An active instance's row on ``host``'s ``node``."""
    values = dict(
        uuid=str(uuid.uuid4()), host=host, node=node, vm_state='active',
        deleted=0, project_id='p', user_id='u')
    values.update(fields)
    return values


def build_nova_schema(database, which):
    """Build nova's ``main`` or ``api`` schema with nova's own migrations.

    :returns: an engine for the database, disposed on the fixture's cleanup.
    """
    from nova.db import migration as nova_migration

    engine = sa.create_engine(database.url)
    database.addCleanup(engine.dispose)
    config = nova_migration._find_alembic_conf(which)
    config.set_main_option('sqlalchemy.url', engine.url.render_as_string(
        hide_password=False).replace('%', '%%'))
    nova_migration._upgrade_alembic(engine, config, None)
    return engine


class Database(fixtures.Fixture):
    """An empty database of ``backend``; ``url`` names it.

    Backend ``galera`` (not among :data:`BACKENDS`: only the tests that
    ask for it) is the three-node cluster of tools/galera-cluster.sh: the
    database is made through its first node, which ``url`` names;
    ``urls`` names it on every node, in order (one URL elsewhere).
    """

    def __init__(self, backend, workdir=None):
        super().__init__()
        self.backend = backend
        self.workdir = workdir

    def _setUp(self):
        self.name = 'hgt_' + uuid.uuid4().hex[:12]
        if self.backend == 'sqlite':
            workdir = self.workdir or self.useFixture(
                fixtures.TempDir()).path
            path = os.path.join(workdir, self.name + '.db')
            # Write-ahead logging, as nova's own tests run threaded nova
            # on SQLite: writers queue for the lock instead of deadlocking
            # with readers ("database is locked").
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute('PRAGMA journal_mode=WAL')
            self.url = 'sqlite:///%s' % path
            self.urls = [self.url]
            return
        admin = _admin_engine(self.backend)
        self.addCleanup(admin.dispose)
        charset = ('' if self.backend == 'postgresql'
                   else ' CHARACTER SET utf8')
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE %s%s'
                                 % (self.name, charset)))
        self.addCleanup(self._drop, admin)
        if self.backend == 'mysql':
            self.urls = [backends.mysql_url(self.name)]
        elif self.backend == 'galera':
            self.urls = [backends.galera_url(node, self.name)
                         for node in range(len(backends.GALERA_PORTS))]
        else:
            self.urls = [backends.pg_url(self.name)]
        self.url = self.urls[0]

    def _drop(self, admin):
        with admin.connect() as conn:
            if self.backend == 'postgresql':
                conn.execute(sa.text(
                    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                    'WHERE datname = :db AND pid <> pg_backend_pid()'),
                    {'db': self.name})
            conn.execute(sa.text('DROP DATABASE IF EXISTS %s' % self.name))


class SQLiteWriterLock(fixtures.Fixture):
    """One writer transaction at a time, as SQLite itself allows.

    SQLite has a single writer per file; under threads nova's own writes
    (the online data migration nova runs right after inserting a compute
    node, for one) fail with "database is locked" instead of waiting.
    nova's functional tests serialise writer transactions for the same
    reason (``nova.tests.fixtures.DatabaseWriteLock``), which is not used
    here for two reasons: importing ``nova.tests.fixtures`` monkey-patches
    the whole process with eventlet (nova 34: ``thread`` is patched after
    the import), which would turn these tests' real threads into green
    ones; and nova 29 to 33, which the ``release-*`` environments run
    these tests on, do not have it. Readers are not held, so creators
    still all pass the guard's check before any of them writes, and the
    unique constraint is still what refuses all but one.
    """

    def _setUp(self):
        lock = threading.RLock()
        original = enginefacade._TransactionContextManager._transaction_scope

        @contextlib.contextmanager
        def scope(manager, context):
            if manager._mode is not enginefacade._WRITER:
                with original(manager, context) as resource:
                    yield resource
                return
            with lock, original(manager, context) as resource:
                yield resource
        self.useFixture(fixtures.MockPatchObject(
            enginefacade._TransactionContextManager, '_transaction_scope',
            scope))


class NovaCellDatabase(Database):
    """A database holding nova's cell schema, built by nova's migrations.

    ``engine`` is a plain SQLAlchemy engine for the test's own reads and
    writes. Unless ``bind_nova`` is false, nova's own enginefacade
    (``nova.db.main.api.context_manager``) is pointed at the database for
    the fixture's lifetime, as nova-conductor configured with
    ``[database] connection`` would be.
    """

    def __init__(self, backend, bind_nova=True):
        super().__init__(backend)
        self.bind_nova = bind_nova

    def _setUp(self):
        super()._setUp()
        from nova.db.main import api as main_db_api

        self.engine = build_nova_schema(self, 'main')
        if not self.bind_nova:
            return
        if self.backend == 'sqlite':
            self.useFixture(SQLiteWriterLock())
        self.context_manager = main_db_api.create_context_manager(self.url)
        self.useFixture(test_fixtures.ReplaceEngineFacadeFixture(
            main_db_api.context_manager, self.context_manager))
        self.addCleanup(
            lambda: self.context_manager.writer.get_engine().dispose())

    def context(self):
        """A nova admin context (its database is this one)."""
        from nova import context as nova_context

        return nova_context.get_admin_context()

    def rows(self, table):
        """Every row of ``table``, as sorted tuples: for before/after."""
        return table_rows(self.engine, table)


class NovaApiDatabase(Database):
    """A database holding nova's API schema, for cell mappings."""

    def _setUp(self):
        super()._setUp()
        self.engine = build_nova_schema(self, 'api')

    def map_cell(self, name, url):
        """Add a cell mapping, as ``nova-manage cell_v2 create_cell``."""
        cell_uuid = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(sa.text(
                'INSERT INTO cell_mappings (uuid, name, transport_url, '
                'database_connection, disabled) VALUES (:uuid, :name, '
                "'none:///', :url, :disabled)"),
                {'uuid': cell_uuid, 'name': name, 'url': url,
                 'disabled': False})
        return cell_uuid
