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

"""One live nova-compute per host, arbitrated by a lock service.

A heartbeat watch cannot give mutual exclusion: two processes reading the
same service row decide alone. A lock service can. With ``[hostguard]
backend_url`` set (a tooz URL: etcd, Redis, ZooKeeper, MySQL,
PostgreSQL...), nova-compute takes a lock named for its host before it
reads its service record, holds it for its whole life, and refuses to
start while another process holds it. The lock goes with its holder: at
once on a clean exit, after the backend's session time (etcd and Redis:
the lease, ``timeout``/``lock_timeout`` in the URL, 30 s by default) when
the holder dies or its machine goes away, and with the connection for the
database drivers.

A holder checks every :data:`CHECK_INTERVAL` seconds that the lock is
still its own (:class:`Keeper`). A process that was paused or cut off
past its session time finds, when it runs again, that the backend let
another process take the lock: it stops at once (:data:`FENCED_EXIT`),
before it can act on the hypervisor for longer than one check interval.
A lock service that cannot be reached is not such a proof: nova-compute
keeps running, logs it, and takes the lock again when the backend is
back, stopping only if another process has it by then.

The policy of who may start is here; the refusal (nova's
``InvalidConfiguration``) is raised by :mod:`nova_hostguard.startup`.
"""

import collections
import hashlib
import json
import os
import socket
import threading
import time
from urllib import parse

from oslo_log import log as logging
from oslo_utils import timeutils
import tooz
from tooz import coordination

LOG = logging.getLogger(__name__)

#: Seconds between two checks that the lock is still this process's.
CHECK_INTERVAL = 1.0

#: Seconds between two tries to take a lock another process holds.
RETRY_INTERVAL = 0.5

#: The exit status of a nova-compute that found another holder of its lock.
FENCED_EXIT = 75

#: MySQL's GET_LOCK takes names of at most 64 characters.
MAX_NAME = 64

PREFIX = 'nova-hostguard.nova-compute.'

#: tooz drivers whose locks do not reach beyond one machine.
MACHINE_LOCAL = ('file', 'ipc')

#: Drivers whose answer "not this process's lock any more" is proof that
#: another holds it (etcd and Redis compare the key's value; for the
#: databases the holder's session is compared); others (ZooKeeper answers
#: False on a lost connection) need the holder named.
DEFINITE_OWNERSHIP = ('Etcd3Driver', 'RedisDriver', 'MySQLDriver',
                      'PostgresDriver')

Holder = collections.namedtuple('Holder', ['host', 'machine', 'pid', 'since'])


class BackendUnavailable(Exception):
    """The lock service did not answer while a start waited for it."""


class HeldElsewhere(Exception):
    """Another process held the lock for the whole wait."""

    def __init__(self, holders, waited):
        super().__init__(holders, waited)
        self.holders = holders
        self.waited = waited


def lock_name(host):
    """The lock (and membership group) of a host's nova-compute.

    The host's name where it fits MySQL's limit, else a digest of it.
    """
    name = PREFIX + host
    if len(name.encode('utf-8')) > MAX_NAME:
        name = PREFIX + hashlib.sha256(host.encode('utf-8')).hexdigest()[:32]
    return name.encode('utf-8')


def safe_url(url):
    """The backend URL with its passwords hidden, for messages."""
    parts = parse.urlsplit(url)
    if parts.password is not None:
        parts = parts._replace(netloc=parts.netloc.replace(
            ':%s@' % parts.password, ':***@', 1))
    query = parse.parse_qsl(parts.query, keep_blank_values=True)
    if any('password' in key.lower() for key, _ in query):
        parts = parts._replace(query='&'.join(
            '%s=%s' % (key, '***' if 'password' in key.lower() else value)
            for key, value in query))
    return parse.urlunsplit(parts)


def this_process(host):
    """Who holds the lock, as the other processes are told."""
    return Holder(host, socket.gethostname(), os.getpid(),
                  timeutils.utcnow().strftime('%Y-%m-%d %H:%M:%S UTC'))


class HostLock:
    """The lock of one host's nova-compute in one lock service."""

    def __init__(self, url, host):
        scheme = parse.urlsplit(url).scheme
        if scheme in MACHINE_LOCAL:
            raise ValueError(
                'the %s driver locks on one machine only; a standby on '
                'another machine would not see the lock' % scheme)
        self.url = url
        self.host = host
        self.name = lock_name(host)
        self.me = this_process(host)
        member = ('%s:%s:%s' % (self.me.machine, self.me.pid,
                                timeutils.utcnow().timestamp()))
        self._coordinator = coordination.get_coordinator(
            url, member.encode('utf-8'))
        self._lock = None
        self._session = None
        self._started = False

    def acquire(self, wait):
        """Take the lock, waiting at most ``wait`` seconds for it.

        :raises: :class:`HeldElsewhere` when another process held it the
            whole time; :class:`BackendUnavailable` when the lock service
            did not answer (the last error in the message).
        """
        started = time.monotonic()
        deadline = started + wait
        error = None
        while True:
            try:
                if self._try_within(max(deadline - time.monotonic(),
                                        RETRY_INTERVAL)):
                    self._publish()
                    return time.monotonic() - started
                error = None
            except Exception as e:
                # tooz translates most of its drivers' errors, not all
                # (etcd3gw's ConnectionFailedError at start).
                error = e
            if time.monotonic() >= deadline:
                break
            time.sleep(RETRY_INTERVAL)
        if isinstance(error, BackendUnavailable):
            raise error
        if error is not None:
            raise BackendUnavailable('%s: %s' % (
                type(error).__name__, str(error).strip().rstrip('.')))
        raise HeldElsewhere(self.holders(), time.monotonic() - started)

    def _try_within(self, seconds):
        """:meth:`try_acquire`, given up after ``seconds``.

        A driver's own connection retries (redis-py's back-off) can take
        longer than the whole wait.
        """
        outcome = {}

        def attempt():
            try:
                outcome['acquired'] = self.try_acquire()
            except Exception as e:
                outcome['error'] = e
        thread = threading.Thread(target=attempt, daemon=True,
                                  name='hostguard-lock-attempt')
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            raise BackendUnavailable('its last try had no answer')
        if 'error' in outcome:
            raise outcome['error']
        return outcome['acquired']

    def try_acquire(self):
        """One try, with a new lock object: True if this process has it."""
        if not self._started:
            self._coordinator.start(start_heart=True)
            self._started = True
        self._forget()
        lock = self._coordinator.get_lock(self.name)
        if lock.acquire(blocking=False):
            self._lock = lock
            self._session = _session_of(lock)
            return True
        return False

    def ownership_is_definite(self):
        """Whether "not this process's" from the backend proves another.

        True for etcd and Redis (the key holds another lock's value) and
        for the database drivers (the holder's session was compared).
        """
        return type(self._coordinator).__name__ in DEFINITE_OWNERSHIP

    def held_by_my_lost_session(self):
        """Whether the database holds the lock for this process still.

        A database lock belongs to a connection. When this process loses
        its connection without the server noticing (a partition), the
        server keeps the old session, and the lock, until it drops it: the
        holder is then this process, not another one. True also when the
        holder cannot be asked.
        """
        if self._session is None:
            return False
        try:
            return _holder_session(self._coordinator, self.name) in (
                self._session, _UNKNOWN)
        except Exception as e:
            LOG.debug('nova-hostguard: could not ask which session holds '
                      'the lock of host %r: %s', self.host, e)
            return True

    def _forget(self):
        """Let go of a lock object this process no longer trusts.

        A database lock whose connection is in doubt is closed, so that
        this process cannot hold the lock twice and refuse itself.
        """
        lock, self._lock = self._lock, None
        if lock is None:
            return
        if _bound_to_connection(lock):
            try:
                lock._conn.close()
            except Exception:
                pass
        # tooz's heartbeat would go on refreshing it, warning each time.
        acquired = getattr(self._coordinator, '_acquired_locks', None)
        if acquired is not None:
            acquired.discard(lock)

    def still_held(self):
        """Whether the lock is still this process's.

        True or False, or None when the lock service does not answer.
        """
        try:
            return _still_owner(self._lock)
        except Exception as e:
            if _bound_to_connection(self._lock):
                # A database lock dies with its connection.
                LOG.debug('nova-hostguard: the connection holding the lock '
                          'of host %r is gone: %s', self.host, e)
                return False
            LOG.debug('nova-hostguard: could not check the lock of host '
                      '%r: %s', self.host, e)
            return None

    def holders(self):
        """Who holds the lock, as published by its holders (may be empty).

        The database drivers keep no membership: nobody is named there.
        """
        group = self.name
        try:
            members = self._coordinator.get_members(group).get()
            found = []
            for member in members:
                raw = self._coordinator.get_member_capabilities(
                    group, member).get()
                holder = Holder(**json.loads(_text(raw)))
                if holder != self.me:
                    found.append(holder)
        except Exception as e:
            LOG.debug('nova-hostguard: the holder of lock %r is not known: '
                      '%s', self.name, e)
            return []
        return sorted(found, key=lambda holder: holder.since)

    def _publish(self):
        """Say who holds the lock, where the backend keeps membership."""
        group = self.name
        capabilities = json.dumps(self.me._asdict()).encode('utf-8')
        try:
            try:
                self._coordinator.create_group(group).get()
            except coordination.GroupAlreadyExist:
                pass
            try:
                self._coordinator.join_group(group, capabilities).get()
            except coordination.MemberAlreadyExist:
                # Still a member from before the lock was taken again.
                pass
        except Exception as e:
            LOG.info('nova-hostguard: the lock service does not keep who '
                     'holds the lock of host %r (%s); a refused process '
                     'will not name this one.', self.host,
                     type(e).__name__)

    def stop(self):
        """Release the lock and leave the service (a clean exit).

        Released by name: not every driver's ``stop`` releases the locks
        it holds (etcd3gw's leaves them to expire with their lease).
        """
        if not self._started:
            return
        try:
            if self._lock is not None:
                self._lock.release()
        except Exception as e:
            LOG.warning('nova-hostguard: could not release the lock of host '
                        '%r (%s); it expires with its session.', self.host,
                        e)
        self._lock = None
        self._coordinator.stop()
        self._started = False


class Keeper:
    """Keep checking that a held lock is still this process's.

    Runs in a daemon thread for the process's life. ``fence`` is called,
    once, when the lock is lost and another process has it.
    """

    def __init__(self, host_lock, fence, interval=CHECK_INTERVAL):
        self.host_lock = host_lock
        self.fence = fence
        self.interval = interval
        self._stopped = threading.Event()
        self._unreachable_since = None
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='hostguard-lock-keeper')
        self._thread.start()
        return self._thread

    def stop(self):
        """Stop checking; a check under way ends first (bounded wait)."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5 * self.interval)

    def _run(self):
        while not self._stopped.wait(self.interval):
            if self.check_once() is False:
                return

    def check_once(self):
        """One check. Returns False once fenced, else True."""
        held = self.host_lock.still_held()
        if held is None:
            self._unreachable()
            return True
        if held:
            self._reachable()
            return True
        try:
            retaken = self.host_lock.try_acquire()
        except Exception:
            self._unreachable()
            return True
        if retaken:
            self._reachable()
            self.host_lock._publish()
            LOG.warning('nova-hostguard: the lock of host %r had expired '
                        'in the lock service and no other process took it; '
                        'this process holds it again.', self.host_lock.host)
            return True
        if self.host_lock.held_by_my_lost_session():
            # Not another process: the database has yet to drop this
            # process's lost connection.
            self._unreachable('still holds the lock for this process\'s '
                              'lost connection')
            return True
        holders = self.host_lock.holders()
        if not (holders or self.host_lock.ownership_is_definite()):
            # No proof of another holder (ZooKeeper's answer to a lost
            # connection looks the same): keep running, check again.
            self._unreachable('does not show who holds the lock')
            return True
        self._reachable()
        self.fence(holders)
        return False

    def _unreachable(self, how='does not answer'):
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            LOG.warning('nova-hostguard: the lock service %s %s; '
                        'nova-compute keeps running as host %r and checks '
                        'again every %.0f s.', safe_url(self.host_lock.url),
                        how, self.host_lock.host, self.interval)

    def _reachable(self):
        if self._unreachable_since is not None:
            LOG.warning('nova-hostguard: the lock service answers again '
                        'after %.0f s.',
                        time.monotonic() - self._unreachable_since)
            self._unreachable_since = None


def describe(holders):
    """The holders, for a message: who, where and since when."""
    if not holders:
        return ('a process this lock service does not name (its driver '
                'keeps no membership)')
    return '; '.join('pid %s on machine %r since %s' % (h.pid, h.machine,
                                                        h.since)
                     for h in holders)


def held_message(url, host, holders, waited):
    """Another process holds the host's lock: refuse to start."""
    return (
        'nova-hostguard: another nova-compute process runs as host %r: it '
        'holds the lock %r in %s (%s); waited %.1f s ([hostguard] '
        'lock_wait). Two nova-compute processes as one host would both take '
        'its RPC requests and both manage the hypervisor; refusing to start '
        'this one before it touches any instance. Stop the other process '
        'first (systemctl stop its nova-compute unit, or fence its machine), '
        'then start this one: a process killed or a machine lost gives the '
        'lock up within the lock service\'s session time.' % (
            host, _text(lock_name(host)), safe_url(url), describe(holders),
            waited))


def unavailable_message(url, host, wait, error):
    """The lock service did not answer: refuse to start unguarded."""
    return (
        'nova-hostguard: the lock service %s did not answer within %.0f s '
        '([hostguard] lock_wait): %s. Not starting nova-compute as host %r '
        'without the lock that keeps a second process from running as it. '
        'Bring the lock service back, or remove [hostguard] backend_url to '
        'fall back to the heartbeat watch.' % (
            safe_url(url), wait, error, host))


def bad_url_message(url, error):
    """``backend_url`` names no usable tooz driver."""
    return ('nova-hostguard: invalid configuration: [hostguard] backend_url '
            '%s: %s: %s' % (safe_url(url), type(error).__name__, error))


def fenced_message(url, host, holders):
    """This process lost its lock and another process has it: stop."""
    return (
        'nova-hostguard: the lock of host %r in %s is held by another '
        'process now (%s): this process was paused or cut off from the lock '
        'service for longer than its session time, and another nova-compute '
        'started as this host meanwhile. Stopping at once (exit status %d) '
        'so that only one process manages the hypervisor.' % (
            host, safe_url(url), describe(holders), FENCED_EXIT))


def _still_owner(lock):
    """Ask the backend whether ``lock`` is still held by its object."""
    if lock is None:
        return False
    try:
        return bool(lock.is_still_owner())
    except tooz.NotImplemented:
        pass
    if _bound_to_connection(lock):
        conn = lock._conn
        cursor = conn.cursor()
        try:
            cursor.execute('SELECT 1')
            cursor.fetchall()
        finally:
            cursor.close()
        return bool(getattr(lock, 'acquired', True))
    if hasattr(lock, '_key_b64') and hasattr(lock, '_uuid'):
        # etcd: the key still holds this lock object's value.
        result = lock._coord.client.transaction({
            'compare': [{'key': lock._key_b64, 'result': 'EQUAL',
                         'target': 'VALUE', 'value': lock._uuid}],
            'success': [], 'failure': []})
        return result.get('succeeded', False) is True
    raise tooz.NotImplemented(
        'nova-hostguard cannot check a lock of %s' % type(lock).__name__)


_UNKNOWN = object()


def _session_of(lock):
    """The database session holding a connection-bound lock, or None."""
    name = type(lock).__name__
    if name == 'MySQLLock':
        return lock._conn.thread_id()
    if name == 'PostgresLock':
        return lock._conn.get_backend_pid()
    return None


def _holder_session(coordinator, name):
    """The database session that holds the lock ``name`` now, or None."""
    driver = type(coordinator)
    conn = driver.get_connection(coordinator._parsed_url,
                                 coordinator._options)
    try:
        cursor = conn.cursor()
        if driver.__name__ == 'MySQLDriver':
            cursor.execute('SELECT IS_USED_LOCK(%s)', (name,))
        elif driver.__name__ == 'PostgresDriver':
            # tooz's key: the first two bytes of the name's MD5.
            key = hashlib.md5(name, usedforsecurity=False).digest()[0:2]
            cursor.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND "
                "classid = %s AND objid = %s AND objsubid = 2 AND granted",
                (key[0], key[1]))
        else:
            return _UNKNOWN
        row = cursor.fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def _bound_to_connection(lock):
    """Whether the lock lives as long as a database connection."""
    return type(lock).__name__ in ('MySQLLock', 'PostgresLock')


def _text(raw):
    return raw.decode('utf-8') if isinstance(raw, bytes) else raw
