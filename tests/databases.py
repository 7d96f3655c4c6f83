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

import os
import uuid

import fixtures
from oslo_db.sqlalchemy import test_fixtures
import sqlalchemy as sa

from tests import backends

BACKENDS = ('sqlite', 'mysql', 'postgresql')

#: testscenarios scenarios, one per backend.
SCENARIOS = [(b, {'backend': b}) for b in BACKENDS]


def _admin_engine(backend):
    if backend == 'mysql':
        return sa.create_engine(backends.mysql_url(),
                                isolation_level='AUTOCOMMIT')
    return sa.create_engine(backends.pg_url(), isolation_level='AUTOCOMMIT')


class Database(fixtures.Fixture):
    """An empty database of ``backend``; ``url`` names it."""

    def __init__(self, backend, workdir=None):
        super().__init__()
        self.backend = backend
        self.workdir = workdir

    def _setUp(self):
        self.name = 'hgt_' + uuid.uuid4().hex[:12]
        if self.backend == 'sqlite':
            workdir = self.workdir or self.useFixture(
                fixtures.TempDir()).path
            self.url = 'sqlite:///%s' % os.path.join(
                workdir, self.name + '.db')
            return
        admin = _admin_engine(self.backend)
        self.addCleanup(admin.dispose)
        charset = ' CHARACTER SET utf8' if self.backend == 'mysql' else ''
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE %s%s'
                                 % (self.name, charset)))
        self.addCleanup(self._drop, admin)
        if self.backend == 'mysql':
            self.url = backends.mysql_url(self.name)
        else:
            self.url = backends.pg_url(self.name)

    def _drop(self, admin):
        with admin.connect() as conn:
            if self.backend == 'postgresql':
                conn.execute(sa.text(
                    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                    'WHERE datname = :db AND pid <> pg_backend_pid()'),
                    {'db': self.name})
            conn.execute(sa.text('DROP DATABASE IF EXISTS %s' % self.name))


class NovaCellDatabase(Database):
    """A database holding nova's cell schema, built by nova's migrations.

    ``engine`` is a plain SQLAlchemy engine for the test's own reads and
    writes. nova's own enginefacade (``nova.db.main.api.context_manager``)
    is pointed at the database for the fixture's lifetime, as nova-conductor
    configured with ``[database] connection`` would be.
    """

    def _setUp(self):
        super()._setUp()
        from nova.db.main import api as main_db_api
        from nova.db import migration as nova_migration

        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        config = nova_migration._find_alembic_conf('main')
        config.set_main_option('sqlalchemy.url', self.engine.url
                               .render_as_string(hide_password=False)
                               .replace('%', '%%'))
        nova_migration._upgrade_alembic(self.engine, config, None)
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
        tbl = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        with self.engine.connect() as conn:
            return sorted((tuple(r) for r in conn.execute(sa.select(tbl))),
                          key=repr)
