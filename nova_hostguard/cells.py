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

"""Which cell databases a command works on.

Without ``--all-cells``: the one in ``[database] connection`` (the
nova.conf of nova-conductor names its cell's). With it: every cell mapped
in the API database, cell0 included, read through nova's own
``CellMappingList`` so that templated database URLs are expanded exactly
as nova expands them. :func:`walk` reads each cell in turn and turns a
cell's database error into one exception.
"""

import collections
import functools

from oslo_db.sqlalchemy import engines
import sqlalchemy as sa

from nova_hostguard import display
from nova_hostguard import exception

#: A cell database: its mapping's name and uuid (None without
#: ``--all-cells``) and its SQLAlchemy URL.
Cell = collections.namedtuple('Cell', ['name', 'uuid', 'url'])


def describe(cell):
    """How a cell is named in output: ``name (uuid)``, never its password."""
    if cell.uuid is None:
        return '[database] connection (%s)' % display.bare(
            masked_url(cell.url))
    return '%s (%s)' % (display.bare(cell.name or '-'), cell.uuid)


def masked_url(url):
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return '<not a database URL>'


def check_url(url, where):
    """Refuse, as a configuration error, a URL no engine can be made of.

    A malformed URL, a port that is not a number, a dialect or a driver
    that is not installed: one line naming ``where``, never the password
    (none of these errors quotes the URL).
    """
    try:
        dialect = sa.engine.make_url(url).get_dialect()
        # SQLAlchemy 1.4 names it dbapi().
        (getattr(dialect, 'import_dbapi', None) or dialect.dbapi)()
    except (sa.exc.ArgumentError, ValueError, ImportError) as e:
        raise exception.ConfigurationError(
            '%s is not a database URL that can be used here: %s'
            % (where, e))
    return url


def targets(conf, all_cells):
    """The cells to work on, in the API database's order."""
    if not all_cells:
        if not conf.database.connection:
            raise exception.ConfigurationError(
                '[database] connection is not set in %s; pass the nova.conf '
                'of nova-conductor with --config-file, or use --all-cells' %
                (', '.join(conf.config_file) or 'any configuration file'))
        return [Cell(None, None, check_url(conf.database.connection,
                                           '[database] connection'))]
    if not conf.api_database.connection:
        raise exception.ConfigurationError(
            '--all-cells reads the cell mappings from the API database, but '
            '[api_database] connection is not set in %s' %
            (', '.join(conf.config_file) or 'any configuration file'))
    from nova import context as nova_context
    from nova import objects

    check_url(conf.api_database.connection, '[api_database] connection')
    _configure_api_database(conf)
    found = [Cell(m.name, m.uuid, m.database_connection) for m in
             objects.CellMappingList.get_all(nova_context.get_admin_context())]
    for cell in found:
        check_url(cell.url, 'the database_connection of cell %s'
                  % describe(cell))
    return found


#: Whether nova's API database access is configured in this process.
_api_database_configured = False


def _configure_api_database(conf):
    """Point nova's API database access at ``conf``, once per process.

    nova's enginefacade can be configured only before its first use.
    """
    global _api_database_configured
    if _api_database_configured:
        return
    from nova.db.api import api as api_db_api
    from nova import objects

    objects.register_all()
    # A command fails at once when the API database does not answer, as
    # the cell engines do, instead of nova's retries for minutes
    # ([api_database] max_retries, 10 times 10 s by default).
    conf.set_override('max_retries', 0, group='api_database')
    api_db_api.configure(conf)
    _api_database_configured = True


def engine(cell):
    """An engine for the cell's database; connects on first use, once.

    The SQL mode is oslo.db's (and so nova's) default.
    """
    return engines.create_engine(cell.url, mysql_sql_mode='TRADITIONAL',
                                 max_retries=0)


def read(cell, function):
    """``function(engine)`` on the cell's database, then its pool closed.

    :raises nova_hostguard.exception.CellDatabaseError: the database could
        not be read (any error in :data:`~nova_hostguard.exception.
        DB_ERRORS`), naming the cell.
    """
    cell_engine = engine(cell)
    try:
        return function(cell_engine)
    except exception.DB_ERRORS as e:
        raise exception.CellDatabaseError(describe(cell), e) from e
    finally:
        cell_engine.dispose()


def walk(targets, function):
    """``function(cell, engine)`` in every cell, in order, as :func:`read`.

    Stops at the first cell whose database cannot be read.

    :returns: ``[(cell, function(cell, engine))]``.
    :raises nova_hostguard.exception.CellDatabaseError: naming that cell.
    """
    return [(cell, read(cell, functools.partial(function, cell)))
            for cell in targets]
