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

"""The host's lock in real lock services, held by real processes.

Each backend of :data:`tests.harness.backends.COORDINATION_BACKENDS`
(etcd, Redis, MariaDB, PostgreSQL, through tooz's own drivers), with
processes of :mod:`tests.harness.lockholder` that take and keep the lock
with nova-compute's code. nova-compute itself in lock mode is in
``tests/e2e/test_lock.py``; the 20-trial runs are ``tools/lock_soak.py``.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import testtools

from nova_hostguard import hostlock
from tests.harness import backends

#: The session time (lease) of the timeout-based backends, in seconds.
TTL = 3


class Holder:
    """One lock-holding process and the events it printed."""

    def __init__(self, url, host, wait):
        self.stderr = tempfile.TemporaryFile(mode='w+')
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'tests.harness.lockholder', url, host,
             str(wait)],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            env=dict(os.environ, PYTHONWARNINGS='ignore'))
        self.events = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_event(self, timeout=60):
        """The first event (acquired, refused, unavailable), or None."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.events or self.process.poll() is not None,
                timeout)
            return self.events[0] if self.events else None

    def errors(self):
        """The end of what the process wrote to stderr."""
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def event(self, name):
        return next((e for e in self.events if e['event'] == name), None)

    def signal(self, signum):
        self.process.send_signal(signum)

    def exit_status(self, timeout=30):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


class LockTests:
    """The tests of one backend, for a test case naming it."""

    BACKEND = None
    #: Whether the backend expires a silent holder's session (etcd,
    #: Redis), or keeps the lock as long as its connection (databases).
    EXPIRES = True
    #: Whether the backend names the holder (tooz group membership).
    NAMES_HOLDER = True

    def setUp(self):
        super().setUp()
        backends.require(self, self.BACKEND)
        self.url = backends.coordination_url(self.BACKEND, timeout=TTL)
        if not self.EXPIRES:
            self.url = backends.coordination_url(self.BACKEND)
        self.host = 'host-%s' % uuid.uuid4().hex[:8]

    def holder(self, wait=TTL + 5):
        holder = Holder(self.url, self.host, wait)
        self.addCleanup(holder.kill)
        return holder

    def started(self, wait=TTL + 5):
        holder = self.holder(wait)
        event = holder.wait_event()
        self.assertIsNotNone(event, 'the holder printed nothing; exit %s, '
                             'stderr: %s' % (holder.process.poll(),
                                             holder.errors()))
        self.assertEqual('acquired', event['event'], event)
        return holder

    def test_a_second_process_is_refused_naming_the_holder(self):
        first = self.started()
        second = self.holder(wait=1)
        event = second.wait_event()
        self.assertEqual('refused', event['event'])
        self.assertEqual(2, second.exit_status())
        self.assertGreaterEqual(event['waited'], 1)
        self.assertIn("another nova-compute process runs as host %r" %
                      self.host, event['message'])
        if self.NAMES_HOLDER:
            self.assertEqual([first.process.pid],
                             [h['pid'] for h in event['holders']])
            self.assertIn('pid %d on machine' % first.process.pid,
                          event['message'])
        else:
            self.assertEqual([], event['holders'])
        # The holder keeps running, and keeps the lock.
        self.assertIsNone(first.process.poll())
        self.assertEqual('refused', self.holder(wait=0).wait_event()['event'])

    def test_a_clean_stop_gives_the_lock_up_at_once(self):
        first = self.started()
        first.signal(signal.SIGTERM)
        self.assertEqual(0, first.exit_status())
        self.assertIsNotNone(first.event('released'))
        event = self.started(wait=0).wait_event()
        self.assertLess(event['waited'], 1)

    def test_kill_9_gives_the_lock_up_within_the_session_time(self):
        first = self.started()
        first.process.kill()
        first.process.wait()
        killed = time.time()
        event = self.started(wait=TTL + 5).wait_event()
        limit = TTL + 1.5 if self.EXPIRES else 1.5
        self.assertLess(event['time'] - killed, limit)

    def test_a_paused_holder_stops_once_another_took_the_lock(self):
        first = self.started()
        first.signal(signal.SIGSTOP)
        if not self.EXPIRES:
            # A database lock lives as long as its connection, which a
            # paused process keeps: the lock stays its, and a second
            # process is refused; nothing is fenced.
            self.assertEqual('refused',
                             self.holder(wait=TTL + 1).wait_event()['event'])
            first.signal(signal.SIGCONT)
            time.sleep(2 * hostlock.CHECK_INTERVAL + 0.5)
            self.assertIsNone(first.process.poll())
            return
        second = self.started(wait=TTL + 5)
        resumed = time.time()
        first.signal(signal.SIGCONT)
        self.assertEqual(hostlock.FENCED_EXIT, first.exit_status())
        fenced = first.event('fenced')
        self.assertIsNotNone(fenced)
        # How long the paused process ran on before it stopped: the
        # measured window in which two processes could both act.
        window = fenced['time'] - resumed
        self.addDetail('window', testtools.content.text_content(
            '%.2f s' % window))
        self.assertLess(window, 3 * hostlock.CHECK_INTERVAL + 2)
        if self.NAMES_HOLDER:
            self.assertIn('pid %d on machine' % second.process.pid,
                          fenced['message'])
        self.assertIsNone(second.process.poll())

    def test_overlapping_starts_after_kill_9_one_holds(self):
        both = 0
        for delay in (0.3, 1.5):
            owner = self.started()
            owner.process.kill()
            owner.process.wait()
            first = self.holder(wait=TTL + 3)
            time.sleep(delay)
            second = self.holder(wait=TTL + 3)
            events = [first.wait_event(), second.wait_event()]
            acquired = [e for e in events if e['event'] == 'acquired']
            self.assertEqual(1, len(acquired), events)
            both += len(acquired) == 2
            for holder in (first, second):
                holder.kill()
        self.assertEqual(0, both)


class EtcdLockTest(LockTests, testtools.TestCase):
    BACKEND = 'etcd'


class RedisLockTest(LockTests, testtools.TestCase):
    BACKEND = 'redis'


class MySQLLockTest(LockTests, testtools.TestCase):
    BACKEND = 'mysql'
    EXPIRES = False
    NAMES_HOLDER = False


class PostgreSQLLockTest(LockTests, testtools.TestCase):
    BACKEND = 'postgresql'
    EXPIRES = False
    NAMES_HOLDER = False


class UnreachableTest(testtools.TestCase):

    def test_an_unreachable_lock_service_is_one_clear_line(self):
        holder = Holder('etcd3+http://127.0.0.1:9?timeout=3', 'hostA', 1)
        self.addCleanup(holder.kill)
        event = holder.wait_event()
        self.assertEqual(3, holder.exit_status())
        self.assertEqual('unavailable', event['event'])
        self.assertNotIn('\n', event['message'])
        self.assertIn('the lock service etcd3+http://127.0.0.1:9?timeout=3 '
                      'did not answer within 1 s', event['message'])

    def test_a_password_never_shows(self):
        url = 'redis://:s3cret@127.0.0.1:9'
        self.assertNotIn('s3cret', hostlock.unavailable_message(
            url, 'hostA', 1, 'refused'))
        self.assertIn('redis://:***@127.0.0.1:9', hostlock.safe_url(url))


class NameTest(testtools.TestCase):

    def test_lock_names_fit_mysql(self):
        self.assertEqual(b'nova-hostguard.nova-compute.hostA',
                         hostlock.lock_name('hostA'))
        long_name = hostlock.lock_name('h' * 255)
        self.assertLessEqual(len(long_name), hostlock.MAX_NAME)
        self.assertNotEqual(long_name, hostlock.lock_name('h' * 254))


class LingeringSessionTests:
    """A database lock whose connection this process lost, not the server.

    After a partition the server keeps the old session, and the lock,
    until it notices: re-taking the lock fails, yet no other process holds
    it. The keeper must not stop nova-compute for that, and must stop it
    when another session holds the lock. The old session is played by a
    connection of the test's own that takes the same lock as tooz does.
    """

    def setUp(self):
        super().setUp()
        backends.require(self, self.BACKEND)
        self.url = backends.coordination_url(self.BACKEND)
        self.host = 'host-%s' % uuid.uuid4().hex[:8]
        self.host_lock = hostlock.HostLock(self.url, self.host)
        self.addCleanup(self.host_lock.stop)
        self.assertGreaterEqual(self.host_lock.acquire(2), 0)
        # This process's connection is gone...
        self.host_lock._lock._conn.close()
        # ...and the server still holds the lock for a session.
        self.session = self.hold_elsewhere(hostlock.lock_name(self.host))
        self.fenced = []

    def check_once(self):
        keeper = hostlock.Keeper(self.host_lock, self.fenced.append)
        return keeper.check_once()

    def test_the_old_session_of_this_process_is_not_another_holder(self):
        self.host_lock._session = self.session
        self.assertTrue(self.check_once())
        self.assertEqual([], self.fenced)

    def test_another_session_is_another_holder(self):
        self.host_lock._session = -1
        self.assertFalse(self.check_once())
        self.assertEqual(1, len(self.fenced))


class MySQLLingeringSessionTest(LingeringSessionTests, testtools.TestCase):
    BACKEND = 'mysql'

    def hold_elsewhere(self, name):
        import pymysql
        conn = pymysql.connect(
            host=backends.MYSQL_HOST, port=backends.MYSQL_PORT,
            user=backends.MYSQL_USER, password=backends.MYSQL_PASSWORD)
        self.addCleanup(conn.close)
        cursor = conn.cursor()
        # The lock is free: this process's connection closed cleanly.
        cursor.execute('SELECT GET_LOCK(%s, 5)', (name,))
        self.assertEqual(1, cursor.fetchone()[0])
        return conn.thread_id()


class PostgreSQLLingeringSessionTest(LingeringSessionTests,
                                     testtools.TestCase):
    BACKEND = 'postgresql'

    def hold_elsewhere(self, name):
        import hashlib

        import psycopg2
        conn = psycopg2.connect(
            host=backends.PG_HOST, port=backends.PG_PORT,
            user=backends.PG_USER, password=backends.PG_PASSWORD,
            dbname='postgres')
        conn.autocommit = True
        self.addCleanup(conn.close)
        key = hashlib.md5(name, usedforsecurity=False).digest()[0:2]
        cursor = conn.cursor()
        cursor.execute('SELECT pg_try_advisory_lock(%s, %s)', tuple(key))
        self.assertTrue(cursor.fetchone()[0])
        return conn.get_backend_pid()


class KeeperProofTest(testtools.TestCase):
    """The keeper stops a process only on proof of another holder.

    The host lock here stands in for a backend whose "not yours" may mean
    a lost connection (ZooKeeper's answer): the decision under test is
    the keeper's.
    """

    class HostLock:
        host = 'hostA'
        url = 'zookeeper://127.0.0.1:2181'

        def __init__(self, holders, definite):
            self._holders = holders
            self._definite = definite

        def still_held(self):
            return False

        def try_acquire(self):
            return False

        def held_by_my_lost_session(self):
            return False

        def holders(self):
            return self._holders

        def ownership_is_definite(self):
            return self._definite

    def check_once(self, holders, definite):
        fenced = []
        keeper = hostlock.Keeper(self.HostLock(holders, definite),
                                 fenced.append)
        return keeper.check_once(), fenced

    def test_no_holder_named_and_no_definite_answer_keeps_running(self):
        self.assertEqual((True, []), self.check_once([], False))

    def test_a_named_holder_is_proof(self):
        holder = hostlock.Holder('hostA', 'm2', 42, 'now')
        self.assertEqual((False, [[holder]]),
                         self.check_once([holder], False))

    def test_a_definite_backend_is_proof(self):
        self.assertEqual((False, [[]]), self.check_once([], True))


class ConfigurationTest(testtools.TestCase):

    def test_machine_local_drivers_are_refused(self):
        for url in ('file:///var/lib/nova/locks', 'ipc://'):
            e = self.assertRaises(ValueError, hostlock.HostLock, url, 'h')
            self.assertIn('locks on one machine only', str(e))

    def test_passwords_in_the_query_never_show(self):
        url = 'redis://127.0.0.1:6379?sentinel=m&sentinel_password=s3cret'
        self.assertEqual(
            'redis://127.0.0.1:6379?sentinel=m&sentinel_password=***',
            hostlock.safe_url(url))
