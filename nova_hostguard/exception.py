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

"""Every exception of nova-hostguard's commands, and what a database said.

The guard itself raises nova's own ``InvalidConfiguration`` (see
:mod:`nova_hostguard.guard` for why); these are the commands'.
"""

from oslo_db import exception as db_exc
import sqlalchemy as sa

from nova_hostguard import display

#: Errors that mean a database could not be read or changed.
DB_ERRORS = (db_exc.DBError, sa.exc.SQLAlchemyError)


class ConfigurationError(Exception):
    """The configuration does not say which database to use."""


class LockTimeout(Exception):
    """A lock was not granted within the lock timeout; nothing changed."""

    def __init__(self, seconds, what):
        super().__init__(
            'waited %d s for %s, then gave up (--lock-timeout); this run '
            'changed nothing' % (seconds, what))


#: Why ``db sync`` can fail in a cell: a database error, a lock not
#: granted in time, or the migration's own refusal (RuntimeError).
SYNC_ERRORS = DB_ERRORS + (LockTimeout, RuntimeError)

#: Why ``db remove`` can fail in a cell: a database error or a lock not
#: granted in time.
REMOVE_ERRORS = DB_ERRORS + (LockTimeout,)


class CellDatabaseError(Exception):
    """A cell's database could not be read; the one error of a cell walk.

    :param cell: how the cell is named in output.
    :param error: the database error, kept as ``inner_exception`` (as
        oslo.db keeps the error it wraps), so that :func:`reason` reaches
        the database's own words.
    """

    def __init__(self, cell, error):
        super().__init__('%s: cannot read the database: %s'
                         % (cell, reason(error)))
        self.cell = cell
        self.inner_exception = error


class Unsafe(Exception):
    """A repair would not be safe; nothing was changed.

    ``cell`` is set once the cell it was refused in is known.
    """

    def __init__(self, reasons, cell=None):
        super().__init__('; '.join(reasons))
        self.reasons = reasons
        self.cell = cell


class NotOwner(Unsafe):
    """The owner has no live record of the hypervisor (in this cell)."""


class NotOneCell(Exception):
    """A repair's hypervisor and owner are not in exactly one cell."""

    def __init__(self, hypervisor, owner, cells):
        super().__init__(
            'hypervisor %s with a live record of host %s is in %s; repair '
            'one cell at a time (without --all-cells, with that cell\'s '
            '[database] connection). Nothing was changed.' % (
                display.quoted(hypervisor), display.quoted(owner),
                ', '.join(cells) or 'no cell'))


def _innermost(error):
    """Below every wrapper that keeps what it wraps as inner_exception."""
    while getattr(error, 'inner_exception', None) is not None:
        error = error.inner_exception
    return error


def driver_error(error):
    """The database driver's own exception (SQLAlchemy's ``.orig``).

    Through oslo.db's and our wrappers alike; None if there is none.
    """
    return getattr(_innermost(error), 'orig', None)


def reason(error):
    """The database's own words, without SQLAlchemy's background links."""
    orig = driver_error(error)
    return str(orig if orig is not None else _innermost(error)).splitlines()[0]


def error_code(error):
    """The database's own code for ``error``, or None.

    PostgreSQL's SQLSTATE or MySQL's error number.
    """
    orig = driver_error(error)
    code = getattr(orig, 'pgcode', None)
    if code is None and getattr(orig, 'args', None):
        code = orig.args[0]
    return code
