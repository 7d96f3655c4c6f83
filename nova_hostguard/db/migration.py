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

"""Apply, read and remove nova-hostguard's schema in one cell database.

A thin layer over alembic: our revisions, our version table
(``hostguard_alembic_version``), on a connection we are given. Nothing
here knows about cells or the command line.
"""

import contextlib
import os

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic.runtime import migration as alembic_migration
from alembic import script as alembic_script
import sqlalchemy as sa

VERSION_TABLE = 'hostguard_alembic_version'

_SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), 'migrations')


def _config(connection=None):
    config = alembic_config.Config()
    config.set_main_option('script_location', _SCRIPT_LOCATION)
    config.attributes['connection'] = connection
    return config


def head_revision():
    """The newest revision this release of nova-hostguard knows."""
    return alembic_script.ScriptDirectory.from_config(
        _config()).get_current_head()


def current_revision(engine):
    """The revision applied to ``engine``'s database, or None."""
    with engine.connect() as conn:
        context = alembic_migration.MigrationContext.configure(
            conn, opts={'version_table': VERSION_TABLE})
        return context.get_current_revision()


@contextlib.contextmanager
def _alembic_connection(engine):
    """A connection for alembic, committed when alembic is done with it.

    SQLAlchemy 2.x (and 1.4's "future" engines, as oslo.db makes them)
    begin a transaction on first use and roll back what is not committed.
    SQLAlchemy 1.4's plain engines (OpenStack 2024.1) commit each
    statement run outside alembic's own transactions and have no
    ``commit()``.
    """
    with engine.connect() as conn:
        yield conn
        if hasattr(conn, 'commit'):
            conn.commit()


def upgrade(engine, revision='head'):
    """Apply our migrations up to ``revision``; a no-op when there."""
    with _alembic_connection(engine) as conn:
        alembic_command.upgrade(_config(conn), revision)


def remove(engine):
    """Undo every migration and drop our version table.

    Leaves nova's schema as nova made it.
    """
    with _alembic_connection(engine) as conn:
        alembic_command.downgrade(_config(conn), 'base')
    with engine.begin() as conn:
        sa.Table(VERSION_TABLE, sa.MetaData()).drop(conn, checkfirst=True)


#: The unique index of the first revision, named in oslo.db's convention.
INDEX = 'uniq_compute_nodes0hypervisor_hostname0deleted'


def constraint_present(engine):
    """Whether the unique constraint is really in place (not only recorded).

    The index must exist, be unique, and on MySQL/MariaDB the column must
    compare exactly (a binary collation), as the migration leaves it.
    """
    inspector = sa.inspect(engine)
    index = [i for i in inspector.get_indexes('compute_nodes')
             if i['name'] == INDEX]
    if not (index and index[0]['unique'] and index[0]['column_names'] ==
            ['hypervisor_hostname', 'deleted']):
        return False
    if engine.dialect.name == 'mysql':
        column = [c for c in inspector.get_columns('compute_nodes')
                  if c['name'] == 'hypervisor_hostname'][0]
        return str(column['type'].collation or '').endswith('_bin')
    return True
