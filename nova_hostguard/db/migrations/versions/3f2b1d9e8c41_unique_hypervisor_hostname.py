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

"""Unique hypervisor_hostname per live compute node.

The database's own guarantee behind the guard: two live compute nodes
(``deleted = 0``) cannot carry the same ``hypervisor_hostname``, however
their creators race. Soft-deleted rows have ``deleted = id`` and NULL names
are distinct on every backend, so neither ever conflicts.

Names compare exactly, as the guard compares them. PostgreSQL and SQLite
compare bytes already. On MySQL and MariaDB nova's column uses the table's
case- and accent-insensitive, trailing-space-ignoring collation, so it is
switched to the exact binary collation of its character set first (only
the collation changes; the downgrade gives the table's default back).

Online where the backend can: MariaDB/MySQL ``ALGORITHM=INPLACE,
LOCK=NONE`` (falling back to a copy that blocks writes where the server
cannot change the collation in place), PostgreSQL ``CREATE UNIQUE INDEX
CONCURRENTLY`` (outside a transaction; a failed build leaves an invalid
index, which is dropped: only such a leftover, never an index another
session built or is building).

Revision ID: 3f2b1d9e8c41
Revises:
Create Date: 2026-11-25
"""

import logging

from alembic import op
import sqlalchemy as sa

from nova_hostguard.db import migration
from nova_hostguard import exception

revision = '3f2b1d9e8c41'
down_revision = None
branch_labels = None
depends_on = None

LOG = logging.getLogger('nova_hostguard.db.migrations')

TABLE = 'compute_nodes'
COLUMN = 'hypervisor_hostname'
INDEX = migration.INDEX

# MySQL/MariaDB errors meaning "this ALTER cannot run online".
_ONLINE_DDL_UNSUPPORTED = (1845, 1846)


def upgrade():
    bind = op.get_bind()
    _by_dialect(bind, _upgrade_mysql, _upgrade_postgresql, _upgrade_sqlite)


def downgrade():
    bind = op.get_bind()
    _by_dialect(bind, _downgrade_mysql, _downgrade_postgresql,
                _downgrade_sqlite)


def _by_dialect(bind, mysql, postgresql, sqlite):
    handlers = {'mysql': mysql, 'postgresql': postgresql, 'sqlite': sqlite}
    try:
        handler = handlers[bind.dialect.name]
    except KeyError:
        raise NotImplementedError(
            'nova-hostguard supports MySQL/MariaDB, PostgreSQL and SQLite, '
            'not %s' % bind.dialect.name)
    handler(bind)


# MySQL and MariaDB

def _mysql_column(bind):
    return bind.execute(sa.text(
        'SELECT COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, '
        'CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS '
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table '
        'AND COLUMN_NAME = :column'),
        {'table': TABLE, 'column': COLUMN}).one()


def _mysql_has_index(bind):
    return bind.execute(sa.text(
        'SELECT COUNT(*) FROM information_schema.STATISTICS '
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table '
        'AND INDEX_NAME = :index'),
        {'table': TABLE, 'index': INDEX}).scalar() > 0


def _mysql_exact_collation(bind, charset):
    """The charset's binary collation, NO PAD if the server has one."""
    names = set(bind.execute(sa.text(
        'SELECT COLLATION_NAME FROM information_schema.COLLATIONS '
        'WHERE CHARACTER_SET_NAME = :charset'), {'charset': charset})
        .scalars())
    for pattern, pads in (('%s_nopad_bin', False), ('%s_0900_bin', False),
                          ('%s_bin', True)):
        name = pattern % charset
        if name in names:
            if pads:
                LOG.warning('%s has no NO PAD binary collation here; using '
                            '%s, which ignores trailing spaces', charset, name)
            return name
    raise RuntimeError('no binary collation for character set %s' % charset)


def _mysql_column_definition(column, charset_clause):
    if column.COLUMN_DEFAULT not in (None, 'NULL'):
        raise RuntimeError(
            'compute_nodes.hypervisor_hostname has a default (%s) that nova '
            'does not give it; not changing it' % column.COLUMN_DEFAULT)
    return '%s %s%s %s' % (
        COLUMN, column.COLUMN_TYPE, charset_clause,
        'NULL' if column.IS_NULLABLE == 'YES' else 'NOT NULL')


def _mysql_alter(bind, clauses):
    statement = 'ALTER TABLE %s %s' % (TABLE, ', '.join(clauses))
    try:
        bind.execute(sa.text(statement + ', ALGORITHM=INPLACE, LOCK=NONE'))
    except sa.exc.OperationalError as e:
        if e.orig.args[0] not in _ONLINE_DDL_UNSUPPORTED:
            raise
        LOG.warning('This server cannot run "%s" online (%s); running it '
                    'with a table copy, during which compute_nodes accepts '
                    'reads but no writes.', statement, e.orig.args[1])
        bind.execute(sa.text(statement + ', ALGORITHM=COPY, LOCK=SHARED'))


def _upgrade_mysql(bind):
    column = _mysql_column(bind)
    collation = _mysql_exact_collation(bind, column.CHARACTER_SET_NAME)
    clauses = []
    if column.COLLATION_NAME != collation:
        clauses.append('MODIFY ' + _mysql_column_definition(
            column, ' CHARACTER SET %s COLLATE %s'
            % (column.CHARACTER_SET_NAME, collation)))
    if not _mysql_has_index(bind):
        clauses.append('ADD UNIQUE INDEX %s (%s, deleted)' % (INDEX, COLUMN))
    if clauses:
        _mysql_alter(bind, clauses)


def _downgrade_mysql(bind):
    column = _mysql_column(bind)
    table_charset, table_collation = bind.execute(sa.text(
        'SELECT c.CHARACTER_SET_NAME, t.TABLE_COLLATION '
        'FROM information_schema.TABLES t '
        'JOIN information_schema.COLLATIONS c '
        'ON c.COLLATION_NAME = t.TABLE_COLLATION '
        'WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = :table'),
        {'table': TABLE}).one()
    clauses = []
    if _mysql_has_index(bind):
        clauses.append('DROP INDEX %s' % INDEX)
    if column.COLLATION_NAME != table_collation:
        # nova declares no collation of its own: the column takes the
        # table's, which is what a definition without one gives back.
        if column.CHARACTER_SET_NAME != table_charset:
            raise RuntimeError(
                'compute_nodes.hypervisor_hostname is in character set %s, '
                'the table in %s; not changing it'
                % (column.CHARACTER_SET_NAME, table_charset))
        clauses.append('MODIFY ' + _mysql_column_definition(column, ''))
    if clauses:
        _mysql_alter(bind, clauses)


# PostgreSQL

# SQLSTATE duplicate_table: another session created the index first.
_PG_DUPLICATE = '42P07'


def _upgrade_postgresql(bind):
    index = migration.postgresql_index(bind)
    if index and index.valid:
        return
    if index and index.builder:
        raise RuntimeError(
            'another session (pid %s) is building %s right now; run db sync '
            'again when it has finished' % (index.builder, INDEX))
    # The build waits, after creating its index, for transactions writing
    # to the table; wait for them here instead (bounded by the session's
    # lock_timeout), where giving up leaves nothing behind.
    bind.execute(sa.text('LOCK TABLE %s IN SHARE MODE' % TABLE))
    with op.get_context().autocommit_block():
        if index:
            # INVALID, and nobody builds it: a failed build's leftover.
            bind.execute(sa.text('DROP INDEX CONCURRENTLY %s' % INDEX))
        try:
            bind.execute(sa.text(
                'CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s, deleted)'
                % (INDEX, TABLE, COLUMN)))
        except Exception as e:
            if exception.error_code(e) != _PG_DUPLICATE:
                _drop_leftover(bind)
                raise
            # Not ours: whoever created it, leave it alone.
            index = migration.postgresql_index(bind)
            if not (index and index.valid):
                raise


def _drop_leftover(bind):
    """After this run's build failed: drop the index it left INVALID.

    Only if INVALID and no session builds it: never another session's
    finished index, nor one under construction.
    """
    index = migration.postgresql_index(bind)
    if not index or index.valid or index.builder:
        return
    try:
        bind.execute(sa.text('DROP INDEX CONCURRENTLY IF EXISTS %s' % INDEX))
    except Exception as e:
        LOG.error('Could not drop the invalid index %s left by a failed '
                  'build; the next db sync drops it: %s', INDEX, e)


def _downgrade_postgresql(bind):
    # Not CONCURRENTLY: that one marks the index INVALID first, then waits
    # for every transaction using the table, and a lock timeout there
    # would leave it so. A plain drop waits (bounded by lock_timeout) for
    # one brief ACCESS EXCLUSIVE lock, in the migration's transaction:
    # all or nothing.
    bind.execute(sa.text('DROP INDEX IF EXISTS %s' % INDEX))


# SQLite

def _upgrade_sqlite(bind):
    bind.execute(sa.text('CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s '
                         '(%s, deleted)' % (INDEX, TABLE, COLUMN)))


def _downgrade_sqlite(bind):
    bind.execute(sa.text('DROP INDEX IF EXISTS %s' % INDEX))
