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

"""nova's ComputeNode with a guarded ``create()``, and its Service with a
guarded start.

Registered under nova's names and versions, they replace ``ComputeNode``
and ``Service`` everywhere in the process: ``nova.objects.ComputeNode``,
``nova.objects.Service`` and objects deserialised from RPC. Fields,
versions and remotable methods are nova's.
"""

import contextvars
import functools
import sys

from nova import exception
from nova.objects import compute_node
from nova.objects import service as service_obj
from oslo_db import exception as db_exc
import oslo_messaging as messaging

from nova_hostguard import guard
from nova_hostguard import startup


class GuardedComputeNode(compute_node.ComputeNode):
    """A ComputeNode that refuses to become a second owner of a hypervisor.

    ``create`` and ``save`` are deliberately not remotable here: the check
    runs in the process that calls them, and the call then goes on to
    nova's remotable method. In nova-compute the check asks over RPC and
    nova's method runs in conductor (which checks again if it has the
    guard too); in nova-conductor both run next to the database.
    """

    VERSION = compute_node.ComputeNode.VERSION

    @classmethod
    def obj_name(cls):
        return compute_node.ComputeNode.obj_name()

    def create(self):
        looked = guard.check_new_owner(self)
        try:
            super().create()
        except exception.DuplicateRecord:
            guard.explain_duplicate(self, looked)
            raise
        except (db_exc.DBDeadlock, messaging.RemoteError) as e:
            if _commit_conflict(e):
                guard.explain_commit_conflict(self)
            raise

    def save(self, prune_stats=False):
        # nova's resource tracker revives a soft-deleted record whose uuid
        # the driver reports again (bug 1839560) instead of creating one:
        # for the hypervisor it is a new live owner all the same.
        reviving = 'deleted' in self.obj_what_changed() and not self.deleted
        looked = True
        if reviving:
            # The record still names its previous host: nova saves the
            # revive first and moves the record to the reviving host in a
            # later save. The owner to be is the host reviving it.
            reviver = _tracker_host.get()
            owner = {'host': reviver, 'disable': reviver is not None}
            # The unique constraint refuses a revive as it refuses an
            # insert: where it decides, nothing is looked up here either.
            looked = guard.check_new_owner(self, **owner)
        try:
            super().save(prune_stats=prune_stats)
        except (db_exc.DBDuplicateEntry, db_exc.DBDeadlock,
                messaging.RemoteError) as e:
            # nova's save, unlike its create, lets the database's error
            # out as it is: from a conductor without the guard it reaches
            # nova-compute as a RemoteError, which nova only logs.
            if reviving and _duplicate_entry(e):
                guard.explain_duplicate(self, looked, **owner)
            # nova retries its update on a deadlock (5 times): a revive
            # that met the owner at commit mostly ends as a duplicate.
            if reviving and _commit_conflict(e):
                guard.explain_commit_conflict(self, **owner)
            raise


#: The host of the resource tracker initialising a compute node in this
#: thread, if any: the host reviving a record it finds by uuid.
_tracker_host = contextvars.ContextVar('hostguard_tracker_host',
                                       default=None)


def tracking_host(init_compute_node):
    """Wrap nova's ``ResourceTracker._init_compute_node``.

    While it runs, :class:`GuardedComputeNode` knows the host it
    initialises a compute node for (``ResourceTracker.host``, nova-
    compute's ``[DEFAULT] host``). nova-conductor, saving a revive it
    receives over RPC, does not: the record it gets names the previous
    host, and the caller's is not sent. There the guard still refuses
    (as the record's host) but disables no service; a guarded
    nova-compute checks first, as itself.
    """
    if getattr(init_compute_node, '_hostguard_tracking', False):
        return init_compute_node

    @functools.wraps(init_compute_node)
    def init_tracking_host(tracker, *args, **kwargs):
        token = _tracker_host.set(tracker.host)
        try:
            return init_compute_node(tracker, *args, **kwargs)
        finally:
            _tracker_host.reset(token)
    init_tracking_host._hostguard_tracking = True
    return init_tracking_host


def _duplicate_entry(error):
    """Whether the database refused a duplicate, here or in conductor."""
    if isinstance(error, messaging.RemoteError):
        return error.exc_type == db_exc.DBDuplicateEntry.__name__
    return isinstance(error, db_exc.DBDuplicateEntry)


def _commit_conflict(error):
    """Whether a write met another at commit, here or in conductor.

    On a Galera cluster two creators writing through two nodes do not
    wait for each other's row lock: certification lets the first commit
    and aborts the other with a deadlock error, where one server would
    have refused a duplicate key
    (:func:`nova_hostguard.guard.explain_commit_conflict`).
    """
    if isinstance(error, messaging.RemoteError):
        return error.exc_type == db_exc.DBDeadlock.__name__
    return isinstance(error, db_exc.DBDeadlock)


class GuardedService(service_obj.Service):
    """A Service whose first read by nova-compute's start is checked.

    nova-compute's ``Service.start`` reads its own service row with
    ``get_by_host_and_binary`` before ``init_host``; that first read, and
    only that one (:func:`nova_hostguard.startup.wants_check`), waits to
    see whether another process still heartbeats as the host and refuses
    to start if one does. It is told from other reads by its caller,
    nova's ``Service.start`` of a nova-compute service of that host:
    nova-api, nova-conductor and nova-scheduler reading service rows are
    never checked, and in nova-conductor the lookup it serves for a
    nova-compute runs here unchanged.
    """

    VERSION = service_obj.Service.VERSION

    @classmethod
    def obj_name(cls):
        return service_obj.Service.obj_name()

    @classmethod
    def get_by_host_and_binary(cls, context, host, binary):
        def read():
            return super(GuardedService, cls).get_by_host_and_binary(
                context, host, binary)
        # The frame of the caller: nova's Service.start for nova-compute's
        # own start (a classmethod call adds no frame of its own).
        caller = sys._getframe(1)
        if startup.wants_check(host, binary, caller):
            return startup.check(read, host, caller)
        return read()

    # nova keeps its minimum version cache in class attributes; keep it on
    # nova's class, which parts of nova name directly.
    @classmethod
    def enable_min_version_cache(cls):
        service_obj.Service.enable_min_version_cache()

    @classmethod
    def clear_min_version_cache(cls):
        service_obj.Service.clear_min_version_cache()
