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

"""The lock mode with real nova-compute processes and a real lock service.

nova-conductor and nova-compute processes over RabbitMQ and MariaDB
(:mod:`tests.harness.processes.cloud`), with ``[hostguard] backend_url``
naming the shared etcd (and, where the test stops the lock service, an
etcd of its own). The lease (``timeout`` in the URL) is short, so
that a killed or paused holder loses its lock within seconds.

Each test runs as a host of its own name: the lock service is shared with
other test runs.

Set ``HOSTGUARD_KEEP_LOGS`` to a directory to keep the processes' logs of
a failed run, ``HOSTGUARD_LOCK_TIMES`` to a file to append the measured
delays to.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from urllib import request as urlrequest
import uuid

import testtools

from tests.harness import backends
from tests.harness.processes import cloud
from tests.harness.processes import service_log

STARTUP_TIMEOUT = 180
#: The lease of the lock (etcd, Redis), in seconds.
TTL = 3
#: The lease where a restart must find the killed holder's lock still
#: there: longer than nova-compute takes to reach the lock (2-3 s).
KILL_TTL = 10
#: What a start waits for a lock that a killed process still holds.
LONG_WAIT = 20
#: What a start waits where it is to be refused.
SHORT_WAIT = 5
#: How long after its launch a nova-compute reaches the lock, at most,
#: beyond the lease: the margin of the waits measured.
MARGIN = 2.0

HELD = re.compile(r"nova-hostguard: holds the lock of host '([^']+)' in "
                  r"(\S+) \(waited ([0-9.]+) s\)")
REFUSED = re.compile(r"nova-hostguard: another nova-compute process runs as "
                     r"host '([^']+)': it holds the lock .*?\((.*?)\); "
                     r"waited ([0-9.]+) s \(\[hostguard\] lock_wait\)")
FENCED = 'is held by another process now'
UNANSWERED = 'nova-hostguard: the lock service'
LOCK_CONF = """
[hostguard]
backend_url = %(url)s
lock_wait = %(wait)d
"""
SERVICES = ('mysql', 'rabbitmq', 'etcd')
CHECK_OFF = """
one_process_per_host = false
"""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class PrivateEtcd:
    """An etcd of the test's own, on free ports, to stop at will.

    The shared etcd and Redis serve other tests: never stop those. Its
    data directory outlives a stop, as a real etcd's does: its leases and
    keys are there again when it comes back.

    (Not a Redis: tooz's Redis driver retries a refused connection for
    about a minute, 15 times redis-py's own 10 retries, before a check
    that the lock is still held returns.)
    """

    def __init__(self, workdir):
        self.port = free_port()
        self.peer_port = free_port()
        self.dir = tempfile.mkdtemp(dir=workdir, prefix='etcd-')
        self.proc = None

    @property
    def url(self):
        return 'etcd3+http://127.0.0.1:%d?timeout=%d' % (self.port, TTL)

    def start(self):
        client = 'http://127.0.0.1:%d' % self.port
        peer = 'http://127.0.0.1:%d' % self.peer_port
        self.proc = subprocess.Popen(
            ['etcd', '--name', 'hostguard-test', '--data-dir', self.dir,
             '--listen-client-urls', client, '--advertise-client-urls',
             client, '--listen-peer-urls', peer,
             '--initial-advertise-peer-urls', peer,
             '--initial-cluster', 'hostguard-test=' + peer],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urlrequest.urlopen(client + '/health', timeout=1) as r:
                    if b'true' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError('the test\'s etcd on port %d did not answer'
                             % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None


class LockModeTest(testtools.TestCase):
    """One cloud (databases, vhost, conductor) for the whole class.

    Setting a cloud up takes longer than most of these tests: each test
    has a host, machines and a hypervisor of its own names instead, and
    stops its processes when it ends.
    """

    cloud = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not all(map(backends.answers, SERVICES)):
            return   # setUp fails (or skips) each test, saying why
        cls._workdir = tempfile.mkdtemp(prefix='hostguard-lock-')
        cls.cloud = cloud.NovaProcesses(cls._workdir)
        cls.cloud.setUp()
        try:
            cls.cloud.start_conductor(guard=True)
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.cloud is not None:
            cls.cloud.cleanUp()
            cls.cloud = None
            shutil.rmtree(cls._workdir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        backends.require(self, *SERVICES)
        self.assertIsNotNone(self.cloud, 'the class\'s cloud did not start')
        tag = uuid.uuid4().hex[:8]
        self.host = 'hostA-' + tag
        self.hypervisor = 'hv-' + tag
        self.m1, self.m2 = 'm1-' + tag, 'm2-' + tag
        self.etcd = backends.coordination_url('etcd', timeout=TTL)
        self.addCleanup(self._stop_mine)
        self.addOnException(self._attach_logs)

    def _stop_mine(self):
        for machine in (self.m1, self.m2):
            proc = self.cloud.processes.get(machine)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
            if machine in self.cloud.processes:
                self.cloud.stop(machine)

    def _attach_logs(self, exc_info):
        for name in (self.m1, self.m2, 'conductor'):
            self.addDetail('%s log' % name, testtools.content.text_content(
                self.cloud.log_of(name)[-30000:]))
        keep = os.environ.get('HOSTGUARD_KEEP_LOGS')
        if keep:
            for name in (self.m1, self.m2, 'conductor'):
                if os.path.isdir(os.path.join(self.cloud.workdir, name)):
                    shutil.copytree(
                        os.path.join(self.cloud.workdir, name),
                        os.path.join(keep, self.id(), name),
                        dirs_exist_ok=True)

    # Starting and watching processes.

    def _start(self, machine, url=None, wait=LONG_WAIT, check=True):
        """Start a guarded nova-compute of ``machine`` as ``self.host``.

        :returns: the size of its log before the start, to read from.
        """
        extra = LOCK_CONF % {'url': url or self.etcd, 'wait': wait}
        if not check:
            extra += CHECK_OFF
        conf = self.cloud.config(machine, host=self.host, guard=True,
                                 extra=extra)
        since = self.cloud.log_size(machine)
        self.cloud.start(machine, [sys.executable, cloud.LAUNCHER], conf,
                         env={'HOSTGUARD_TEST_HYPERVISOR': self.hypervisor})
        return since

    def _started(self, machine, since):
        """Wait for a start or an exit: (running, what it logged)."""
        return self.cloud.wait_started(machine, since, STARTUP_TIMEOUT)

    def _nodes(self):
        """The compute node rows of this test's host or hypervisor."""
        return [row for row in self.cloud.compute_nodes()
                if self.host == row[0] or self.hypervisor == row[1]]

    def _start_holder(self, url=None):
        since = self._start(self.m1, url=url)
        running, logged = self._started(self.m1, since)
        self.assertTrue(running, logged[-4000:])
        self.assertEqual(self._one_node(), self._nodes())
        return self._held(logged)

    def _one_node(self):
        return [(self.host, self.hypervisor, 0)]

    def _held(self, logged):
        """The wait logged by a process that took the lock."""
        match = HELD.search(logged)
        self.assertIsNotNone(match, logged[-4000:])
        self.assertEqual(self.host, match.group(1))
        return float(match.group(3))

    def _twin(self):
        """m2, with the node identity of m1: a standby of the host."""
        shutil.copy(os.path.join(self.cloud.state_dir(self.m1),
                                 'compute_id'),
                    os.path.join(self.cloud.state_dir(self.m2),
                                 'compute_id'))
        return self.m2

    def _kill(self, machine, sig=signal.SIGKILL):
        proc = self.cloud.processes[machine]
        proc.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.wait()
        return proc

    def _exit(self, machine, since, timeout=STARTUP_TIMEOUT):
        returncode = self.cloud.processes[machine].wait(timeout)
        return returncode, self.cloud.log_of(machine)

    def _record(self, case, line):
        self.addDetail(case, testtools.content.text_content(line))
        path = os.environ.get('HOSTGUARD_LOCK_TIMES')
        if path:
            with open(path, 'a') as f:
                f.write('%-44s %s\n' % (case, line))

    def _assert_refused(self, machine, holder_pid, returncode, log):
        self.assertNotEqual(0, returncode, log[-4000:])
        match = REFUSED.search(log)
        self.assertIsNotNone(match, log[-4000:])
        self.assertEqual(self.host, match.group(1))
        self.assertIn('pid %d on machine %r' % (holder_pid,
                                                socket.gethostname()),
                      match.group(2))
        # Refused before nova's start went on.
        self.assertNotIn(service_log.STARTED, log)
        self.assertNotIn('Creating RPC server for service', log)
        return float(match.group(3))

    # The cases.

    def test_second_process_refused_while_the_holder_runs(self):
        self._start_holder()
        holder = self.cloud.processes[self.m1]
        twin = self._twin()
        since = self._start(twin, wait=SHORT_WAIT)
        returncode, log = self._exit(twin, since)
        waited = self._assert_refused(twin, holder.pid, returncode, log)
        self.assertGreaterEqual(waited, SHORT_WAIT)
        self.assertLess(waited, SHORT_WAIT + MARGIN)
        self.assertIsNone(holder.poll(), 'the holder should still run')
        self.assertEqual(self._one_node(), self._nodes())
        self._record('refused while the holder runs',
                     'refused after %.1f s of lock_wait' % waited)

        # The control: the same process, the check off (backend_url still
        # set), starts: nova 34 alone runs two processes as one host.
        since = self._start(twin, check=False)
        running, logged = self._started(twin, since)
        self.assertTrue(running, logged[-4000:])
        self.assertIsNone(HELD.search(logged))
        self.assertIsNone(REFUSED.search(logged))
        self.assertIsNone(holder.poll(), 'the holder should still run')
        self.assertEqual(self._one_node(), self._nodes())

    def test_restart_after_kill_9_waits_for_the_lease(self):
        url = backends.coordination_url('etcd', timeout=KILL_TTL)
        self._start_holder(url=url)
        self._kill(self.m1)
        killed = time.monotonic()
        since = self._start(self.m1, url=url)
        running, logged = self._started(self.m1, since)
        took = time.monotonic() - killed
        self.assertTrue(running, logged[-4000:])
        waited = self._held(logged)
        # The lease of the killed process had to expire first: up to its
        # TTL after the kill, minus the seconds nova took to reach the lock.
        self.assertGreater(waited, 0.0)
        self.assertLessEqual(waited, KILL_TTL + MARGIN)
        self.assertEqual(self._one_node(), self._nodes())
        self._record('restart right after kill -9',
                     'waited %.2f s for the lock, kill to started %.1f s'
                     % (waited, took))

    def test_restart_after_a_clean_stop_takes_the_lock_at_once(self):
        # oslo.service ends a SIGTERM with os._exit, which runs no atexit
        # handler: the lock is released by nova's Service.stop. Without
        # that, the restart would wait out the 10 s lease.
        url = backends.coordination_url('etcd', timeout=KILL_TTL)
        self._start_holder(url=url)
        self.cloud.stop(self.m1)   # SIGTERM, waits for the exit
        since = self._start(self.m1, url=url)
        running, logged = self._started(self.m1, since)
        self.assertTrue(running, logged[-4000:])
        waited = self._held(logged)
        self.assertLess(waited, 1.0)
        self._record('restart after a clean stop',
                     'waited %.2f s for the lock' % waited)

    def test_paused_holder_fenced_when_it_resumes(self):
        self._start_holder()
        paused = self._kill(self.m1, signal.SIGSTOP)
        self.addCleanup(lambda: paused.poll() is None and
                        paused.send_signal(signal.SIGCONT))
        twin = self._twin()
        since = self._start(twin)
        running, logged = self._started(twin, since)
        self.assertTrue(running, logged[-4000:])
        waited = self._held(logged)
        self.assertLessEqual(waited, TTL + MARGIN)
        self.assertIsNone(paused.poll())
        paused.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        returncode = paused.wait(60)
        window = time.monotonic() - resumed
        self._record('paused holder resumed (SIGCONT to exit)',
                     '%.2f s; the new holder waited %.2f s'
                     % (window, waited))
        self.assertEqual(75, returncode)
        log = self.cloud.log_of(self.m1)
        fenced = [line for line in log.splitlines() if FENCED in line]
        self.assertEqual(1, len(fenced), log[-4000:])
        self.assertIn('CRITICAL', fenced[0])
        self.assertIn("the lock of host '%s'" % self.host, fenced[0])
        self.assertIn('pid %d' % self.cloud.processes[twin].pid, fenced[0])
        self.assertLess(window, 15)
        # The new holder goes on.
        time.sleep(2)
        self.assertIsNone(self.cloud.processes[twin].poll())
        self.assertEqual(self._one_node(), self._nodes())

    def test_overlapping_starts_after_kill_9_start_one(self):
        # Two processes as the host start while the lease of a killed
        # holder runs out: exactly one may start.
        trials = int(os.environ.get('HOSTGUARD_LOCK_TRIALS', '2'))
        self._start_holder()
        self._twin()
        holder = self.m1
        double = neither = 0
        outcomes = []
        wait = TTL + 6
        for trial in range(trials):
            self._kill(holder)
            first, second = random.sample([self.m1, self.m2], 2)
            gap = random.uniform(0.3, 2.0)
            since = {first: self._start(first, wait=wait)}
            time.sleep(gap)
            since[second] = self._start(second, wait=wait)
            started = []
            for machine in (first, second):
                running, logged = self._started(machine, since[machine])
                if running:
                    started.append(machine)
            if len(started) == 2:
                double += 1
            elif not started:
                neither += 1
            else:
                holder = started[0]
                loser = second if holder == first else first
                returncode = self.cloud.processes[loser].poll()
                self.assertNotEqual(0, returncode)
                self._assert_refused(
                    loser, self.cloud.processes[holder].pid, returncode,
                    self.cloud.log_of(loser)[since[loser]:])
            outcomes.append('gap %.2f s: %s' % (gap, started or 'none'))
            if len(started) != 1:
                break
        self._record('overlapping starts', '; '.join(outcomes))
        self.assertEqual(0, double, outcomes)
        self.assertEqual(0, neither, outcomes)
        self.assertEqual(self._one_node(), self._nodes())

    def test_holder_runs_on_while_the_lock_service_is_down(self):
        backend = PrivateEtcd(self.cloud.workdir)
        backend.start()
        self.addCleanup(backend.stop)
        self._start_holder(url=backend.url)
        holder = self.cloud.processes[self.m1]
        since = self.cloud.log_size(self.m1)
        backend.stop()
        time.sleep(4)   # more than two checks (every 1 s)
        self.assertIsNone(holder.poll(), 'the holder should still run')
        logged = self.cloud.log_of(self.m1)[since:]
        self.assertIn('the lock service %s does not answer' % backend.url,
                      logged)
        self.assertNotIn(FENCED, logged)
        backend.start()
        self.cloud.wait_for(
            lambda: 'the lock service answers again' in
            self.cloud.log_of(self.m1)[since:], 30,
            'the holder to find the lock service again')
        time.sleep(2)
        self.assertIsNone(holder.poll(), 'the holder should still run')
        logged = self.cloud.log_of(self.m1)[since:]
        # etcd kept the lock (and its lease) across the restart: still
        # this process's.
        self.assertNotIn('this process holds it again', logged)
        self.assertNotIn(FENCED, logged)
        self.assertEqual(self._one_node(), self._nodes())

    def test_lock_service_down_at_start_refuses(self):
        url = 'etcd3+http://127.0.0.1:%d?timeout=%d' % (free_port(), TTL)
        since = self._start(self.m1, url=url, wait=2)
        returncode, log = self._exit(self.m1, since, timeout=120)
        self.assertNotEqual(0, returncode)
        self.assertNotIn(service_log.STARTED, log)
        # One line of the plugin's says why (nova then logs the refusal as
        # its unhandled error, with the traceback).
        lines = [line for line in log.splitlines()
                 if 'nova_hostguard' in line and UNANSWERED in line]
        self.assertEqual(1, len(lines), log[-4000:])
        self.assertIn(' ERROR ', lines[0])
        self.assertIn('the lock service %s did not answer within 2 s' % url,
                      lines[0])
        self.assertIn("Not starting nova-compute as host '%s'" % self.host,
                      lines[0])
        self.assertEqual([], self._nodes())
