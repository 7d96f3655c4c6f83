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

import collections
import contextlib
import os
import time

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import operations as alembic_operations
from alembic.runtime import migration as alembic_migration
from alembic import script as alembic_script
from oslo_log import log as logging
import sqlalchemy as sa

from nova_hostguard import exception

LOG = logging.getLogger(__name__)

VERSION_TABLE = 'hostguard_alembic_version'

#: How long, in seconds, ``db sync`` and ``db remove`` wait for any lock
#: (another run's, a transaction's on ``compute_nodes``) before giving up.
#: Every query on ``compute_nodes`` may queue behind the waiting DDL, so
#: this is also the longest stall nova sees.
DEFAULT_LOCK_TIMEOUT = 10

_SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), 'migrations')

#: Serialises our runs on one database (PostgreSQL advisory locks are per
#: database; MySQL's GET_LOCK is per server, hence the database's name).
_RUN_LOCK = 'nova-hostguard db'


def _commit(conn):
    """End the connection's transaction, on SQLAlchemy 1.4 and 2.x alike.

    SQLAlchemy 2.x (and 1.4's "future" engines, as oslo.db makes them)
    begin a transaction on first use and roll back what is not committed.
    SQLAlchemy 1.4's plain engines (OpenStack 2024.1's constraints) have
    no ``commit()``: they commit each statement that changes something on
    their own.
    """
    if hasattr(conn, 'commit'):
        conn.commit()


def _rollback(conn):
    """As :func:`_commit`, for a rollback."""
    if hasattr(conn, 'rollback'):
        conn.rollback()


def _config(connection=None):
    config = alembic_config.Config()
    config.set_main_option('script_location', _SCRIPT_LOCATION)
    config.attributes['connection'] = connection
    return config


def _script():
    return alembic_script.ScriptDirectory.from_config(_config())


def head_revision():
    """The newest revision this release of nova-hostguard knows."""
    return _script().get_current_head()


def _revision(conn):
    context = alembic_migration.MigrationContext.configure(
        conn, opts={'version_table': VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine):
    """The revision applied to ``engine``'s database, or None."""
    with engine.connect() as conn:
        return _revision(conn)


def _is_lock_timeout(error):
    # PostgreSQL's lock_not_available, MySQL's ER_LOCK_WAIT_TIMEOUT.
    return exception.error_code(error) in ('55P03', 1205)


_ANOTHER_RUN = 'another nova-hostguard-manage db run on this database'
_A_TRANSACTION = ('a lock on compute_nodes, held by a transaction still '
                  'open on it')


def _take_run_lock(conn, lock_timeout):
    """Bound every lock wait of the session; wait for other runs."""
    name = conn.dialect.name
    if name == 'mysql':
        conn.execute(sa.text('SET SESSION lock_wait_timeout = :s'),
                     {'s': lock_timeout})
        got = conn.execute(sa.text(
            "SELECT GET_LOCK(LEFT(CONCAT(:n, ' ', DATABASE()), 64), :s)"),
            {'n': _RUN_LOCK, 's': lock_timeout}).scalar()
        if got != 1:
            raise exception.LockTimeout(lock_timeout, _ANOTHER_RUN)
    elif name == 'postgresql':
        conn.execute(sa.text("SELECT set_config('lock_timeout', :s, false)"),
                     {'s': '%ds' % lock_timeout})
        _postgresql_run_lock(conn, lock_timeout)
    _commit(conn)


def _postgresql_run_lock(conn, lock_timeout):
    """Try, without waiting inside a transaction, until the timeout.

    A session waiting for a lock in a statement holds a snapshot, which
    the other run's CREATE INDEX CONCURRENTLY waits for: a deadlock.
    Between tries this one holds none.
    """
    deadline = time.monotonic() + lock_timeout
    while True:
        got = conn.execute(sa.text('SELECT pg_try_advisory_lock('
                                   'hashtext(:n))'), {'n': _RUN_LOCK}).scalar()
        _commit(conn)
        if got:
            return
        if time.monotonic() >= deadline:
            raise exception.LockTimeout(lock_timeout, _ANOTHER_RUN)
        time.sleep(0.1)


@contextlib.contextmanager
def _locked(engine, lock_timeout):
    """A connection of our own, holding our run lock, waits bounded.

    Concurrent runs on one database take turns. Every lock wait of the
    session (MySQL ``lock_wait_timeout``, PostgreSQL ``lock_timeout``)
    gives up after ``lock_timeout`` seconds, as
    :class:`~nova_hostguard.exception.LockTimeout`: DDL
    waiting for a lock makes every later query on the table queue behind
    it. The connection is closed afterwards, so that neither the lock nor
    the setting outlives the run in the pool.
    """
    conn = engine.connect()
    try:
        _take_run_lock(conn, lock_timeout)
        yield conn
    except exception.LockTimeout:
        raise
    except Exception as e:
        if _is_lock_timeout(e):
            raise exception.LockTimeout(lock_timeout, _A_TRANSACTION) from e
        raise
    finally:
        conn.invalidate()
        conn.close()


#: What :func:`upgrade` did.
APPLIED = 'applied'
REPAIRED = 'repaired'
NOTHING = 'nothing to do'


def upgrade(engine, revision='head', lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Apply our migrations up to ``revision``.

    At ``revision`` already, but the constraint is not really there (an
    index dropped, or left invalid by an interrupted build), the applied
    revisions are run again: each leaves what is already in place alone.

    :returns: :data:`APPLIED`, :data:`REPAIRED` or :data:`NOTHING` (which
        is also what a run finds that waited for another one to finish).
    :raises nova_hostguard.exception.LockTimeout: a lock was not granted
        in time; nothing changed.
    """
    with _locked(engine, lock_timeout) as conn:
        target = _script().get_revision(revision).revision
        current, problem = _revision(conn), constraint_problem(conn)
        _commit(conn)
        if current != target:
            _upgrade(conn, revision)
            return APPLIED
        if problem is None:
            return NOTHING
        context = alembic_migration.MigrationContext.configure(
            conn, opts={'transaction_per_migration': True})
        with alembic_operations.Operations.context(context):
            for script in reversed(list(
                    _script().iterate_revisions(target, 'base'))):
                # As env.py runs each migration, in a transaction its
                # autocommit blocks may end.
                with context.begin_transaction(_per_migration=True):
                    script.module.upgrade()
        return REPAIRED


def _upgrade(conn, revision):
    """alembic's upgrade; if it fails, no version table of ours is left.

    alembic creates the version table first, which MySQL commits at once
    and PostgreSQL with the first autocommit block.
    """
    had_table = sa.inspect(conn).has_table(VERSION_TABLE)
    _commit(conn)
    try:
        alembic_command.upgrade(_config(conn), revision)
        _commit(conn)
    except Exception:
        if not had_table:
            _drop_version_table(conn)
        raise


def _drop_version_table(conn):
    try:
        _rollback(conn)
        sa.Table(VERSION_TABLE, sa.MetaData()).drop(conn, checkfirst=True)
        _commit(conn)
    except Exception as e:
        LOG.warning('Could not drop the empty %s this run created: %s',
                    VERSION_TABLE, e)


def remove(engine, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Undo every migration and drop our version table.

    Leaves nova's schema as nova made it.

    :raises nova_hostguard.exception.LockTimeout: a lock was not granted
        in time.
    """
    with _locked(engine, lock_timeout) as conn:
        alembic_command.downgrade(_config(conn), 'base')
        _commit(conn)
        sa.Table(VERSION_TABLE, sa.MetaData()).drop(conn, checkfirst=True)
        _commit(conn)


#: The unique index of the first revision, named in oslo.db's convention.
INDEX = 'uniq_compute_nodes0hypervisor_hostname0deleted'


MISSING = 'its index %s is missing' % INDEX

#: A PostgreSQL index: ``valid`` (usable and maintained), and the pid of
#: the session building it concurrently right now, if any.
PostgresqlIndex = collections.namedtuple('PostgresqlIndex',
                                         ['valid', 'builder'])


def postgresql_index(conn):
    """Our index as PostgreSQL's catalog states it, or None.

    A ``CREATE INDEX CONCURRENTLY`` makes the index visible, INVALID,
    before it builds it; one that failed or whose session ended leaves it
    so. ``builder`` tells a build under way from such a leftover.
    """
    row = conn.execute(sa.text(
        'SELECT i.indisvalid AND i.indisready, p.pid FROM pg_class c '
        'JOIN pg_index i ON i.indexrelid = c.oid '
        'JOIN pg_namespace n ON n.oid = c.relnamespace '
        'LEFT JOIN pg_stat_progress_create_index p '
        'ON p.index_relid = c.oid '
        'WHERE c.relname = :index AND n.nspname = current_schema()'),
        {'index': INDEX}).first()
    return PostgresqlIndex(*row) if row else None


def constraint_problem(conn):
    """What keeps the unique constraint from being really in place, or None.

    The index must exist, be valid (PostgreSQL), be unique on
    ``(hypervisor_hostname, deleted)``, and on MySQL/MariaDB the column
    must compare exactly (a binary collation), as the migration leaves it.
    """
    if conn.dialect.name == 'postgresql':
        index = postgresql_index(conn)
        if index and index.builder:
            return ('its index %s is being built by another session (pid '
                    '%s) right now' % (INDEX, index.builder))
        if index and not index.valid:
            return ('its index %s is INVALID, left by a CREATE or DROP '
                    'INDEX CONCURRENTLY that did not finish: it does not '
                    'refuse every second live owner' % INDEX)
    inspector = sa.inspect(conn)
    index = [i for i in inspector.get_indexes('compute_nodes')
             if i['name'] == INDEX]
    if not index:
        return MISSING
    if not (index[0]['unique'] and index[0]['column_names'] ==
            ['hypervisor_hostname', 'deleted']):
        return ('its index %s is not unique on (hypervisor_hostname, '
                'deleted)' % INDEX)
    if conn.dialect.name == 'mysql':
        column = [c for c in inspector.get_columns('compute_nodes')
                  if c['name'] == 'hypervisor_hostname'][0]
        collation = str(column['type'].collation or '')
        if not collation.endswith('_bin'):
            return ('compute_nodes.hypervisor_hostname compares with %s, '
                    'not an exact binary collation' % (collation or
                                                       'the table\'s'))
    return None


#: A cell's state: the revision recorded in our version table (or None),
#: and what keeps the constraint from being really in place (or None).
State = collections.namedtuple('State', ['revision', 'problem'])


def state(engine):
    """The cell's :class:`State`: recorded, and really there."""
    with engine.connect() as conn:
        return connection_state(conn)


def connection_state(conn):
    """As :func:`state`, on a connection the caller has (nova's session)."""
    return State(_revision(conn), constraint_problem(conn))


def in_place(state, head):
    """Whether ``state`` is the constraint applied and really there.

    Recorded at ``head`` (:func:`head_revision`) and nothing missing:
    what ``db sync`` leaves and reports as done.
    """
    return state == State(head, None)


def describe(state, head):
    """One line for people: recorded where, and what is really there."""
    if state.revision is None:
        recorded = 'not applied (head is %s)' % head
    elif state.revision == head:
        recorded = '%s (head)' % state.revision
    else:
        recorded = '%s (head is %s)' % (state.revision, head)
    if state.revision is None:
        if state.problem is None:
            return recorded + ', though the constraint is there'
        if state.problem != MISSING:
            return '%s; %s' % (recorded, state.problem)
        return recorded
    if state.problem is None:
        return recorded
    return '%s, but the constraint is not really there: %s' % (
        recorded, state.problem)
