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

"""Whether the database itself refuses a second owner, per cell.

Once ``nova-hostguard-manage db sync`` has put the unique constraint in a
cell database, inserting (or reviving) a second live compute node record
for a hypervisor fails there, whoever inserts it: the lookup before the
insert adds nothing in ``enforce`` mode. A process with database access
(nova-conductor; nova-compute only without an indirection API) then skips
the lookup, and the database's duplicate error is explained as the
refusal (:func:`nova_hostguard.guard.explain_duplicate`).

"In place" is :func:`nova_hostguard.db.migration.in_place`, as ``db
version`` and ``db sync`` read it: our version table at head, and the
index there, unique on ``(hypervisor_hostname, deleted)``, valid
(PostgreSQL), with an exact collation (MySQL/MariaDB). It is read through
nova's own session, on the engine the request context points at (the
cell's), and remembered per process and engine for
:data:`RECHECK_INTERVAL` seconds; a read that fails counts as "not in
place" (the lookup stays).

A later ``nova-hostguard-manage db remove`` (or an index dropped by hand)
is noticed by the first create after the remembered answer has expired:
for at most :data:`RECHECK_INTERVAL` seconds after a removal, creates in
that cell are checked by neither the database nor the guard. A ``db sync``
is noticed the same way (until then the lookup simply stays).
"""

import functools
import threading
import time
import weakref

from nova.db.main import api as main_db_api
from nova.objects import base as objects_base
from oslo_log import log as logging

from nova_hostguard.db import migration

LOG = logging.getLogger(__name__)

#: How long, in seconds, an answer is used before it is read again: the
#: longest a ``db remove`` goes unnoticed by a running process.
RECHECK_INTERVAL = 60

#: engine -> (in place, monotonic time of the read).
_known = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def has_database_access():
    """Whether nova's objects run next to the database in this process.

    As oslo.versionedobjects decides where a remotable method runs: no
    indirection API (nova-conductor, nova-manage, tests), or an
    indirection API to a conductor (nova-compute).
    """
    return not objects_base.NovaObject.indirection_api


def decides(context):
    """Whether the cell's database refuses a second live owner by itself.

    Only true in a process with database access. Reads the cell's state
    at most once per :data:`RECHECK_INTERVAL` seconds.
    """
    if not has_database_access():
        return False
    engine = main_db_api.get_engine(context=context)
    now = _clock()
    with _lock:
        known = _known.get(engine)
    if known is not None and now - known[1] < RECHECK_INTERVAL:
        return known[0]
    in_place = _read(context, engine)
    with _lock:
        _known[engine] = (in_place, now)
    if known is None or known[0] != in_place:
        LOG.info('nova-hostguard: the unique constraint of nova-hostguard-'
                 'manage db sync is %s in the database of %s: %s',
                 'in place' if in_place else 'not in place',
                 engine.url.render_as_string(hide_password=True),
                 'creating a compute node record lets the database refuse '
                 'a second owner, without a lookup first' if in_place else
                 'each create of a compute node record looks up the owner '
                 'first')
    return in_place


def forget():
    """Read every cell's state again at its next create (tests, tools)."""
    with _lock:
        _known.clear()


def _clock():
    return time.monotonic()


def _read(context, engine):
    try:
        state = _state(context)
    except Exception:
        LOG.warning('nova-hostguard: could not read whether the unique '
                    'constraint is in place in the database of %s; looking '
                    'up owners before each create meanwhile',
                    engine.url.render_as_string(hide_password=True),
                    exc_info=True)
        return False
    return migration.in_place(state, _head_revision())


@functools.lru_cache(maxsize=None)
def _head_revision():
    """The head revision, read from the scripts once per process."""
    return migration.head_revision()


@main_db_api.pick_context_manager_reader
def _state(context):
    return migration.connection_state(context.session.connection())
