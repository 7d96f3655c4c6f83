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

"""The start-up races, many times over, with real nova-compute processes.

Usage: ``tox -e lock-soak`` (20 trials per backend on etcd, Redis, MariaDB
and PostgreSQL: about 20 s a trial with the fence, 15 s without; then 20
trials of the default mode, ``watch``: about 11 s a trial; about
35 minutes in all on 2 cores), or
``python tools/lock_soak.py --trials 5 --backends etcd,redis,watch``.
Needs the services of ``tools/test-setup.sh`` and, for the lock mode,
etcd and Redis (``tests/harness/backends.py`` names them), and nova 34
with the plugin installed, as ``tox -e e2e`` does.

One nova-conductor, and per backend two machines whose nova-compute runs
as one host (the same node identity), with ``[hostguard] backend_url`` on
that backend (lease ``--ttl`` seconds for etcd and Redis) and
``lock_wait`` of ``--ttl`` + 5 s. Each trial:

overlapping start
    ``kill -9`` the holder, then start both machines, the second 0.3-2 s
    (random) after the first: exactly one may start. A *double start*
    (both started) is the failure this tool looks for; *neither* (both
    refused) is a failure too. The winner's wait for the lock (as it
    logged it) is kept.
fence (etcd and Redis, unless ``--no-fence``)
    ``SIGSTOP`` the holder, start the other machine (it takes the lock
    once the paused process's lease expires), ``SIGCONT`` the paused one:
    it must exit with status 75. The *fence window* is the time from
    ``SIGCONT`` to its exit. A database lock lives with its connection,
    which a paused process keeps: nothing to fence there.

watch (the default mode: no ``backend_url``)
    The same overlapping start, without a lock service: each new process
    watches the service row's heartbeat (1.5 x ``report_interval``), then
    claims the row and reads it back (``startup.SETTLE``, 2 s). Exactly
    one may start; the other's refusal is counted by kind: *watch* (it
    saw the winner's claim or heartbeat during its watch) or *claim* (both
    finished their watches together and its claim was overwritten). To
    keep trials short, these nova-computes run with ``report_interval =
    2`` and ``service_down_time = 10`` (a 3 s watch instead of 15 s at
    nova's default of 10); the table says so. The winner's *wait* is the
    time its check took, as it logged it. No fence here: n/a.

Prints one table; exits 1 if any double start, neither, or unfenced
resume happened.
"""

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.harness import backends  # noqa: E402
from tests.harness.processes import cloud as cloud_mod  # noqa: E402

HELD = re.compile(r"nova-hostguard: holds the lock of host '[^']+' in \S+ "
                  r"\(waited ([0-9.]+) s\)")
REFUSED = 'nova-hostguard: another nova-compute process runs as host'
FENCED = 'is held by another process now'
LEASED = ('etcd', 'redis')
LOCK_CONF = """
[hostguard]
backend_url = %(url)s
lock_wait = %(wait)d
"""
WATCH = 'watch'
#: Refusals of the default mode, by kind.
WATCH_REFUSALS = (
    ('watch', 'nova-hostguard: another nova-compute process is running as '
              'host'),
    ('claim', 'nova-hostguard: another nova-compute process started as '
              'host'))
CHECKED = re.compile(r"nova-hostguard: no other nova-compute process runs "
                     r"as host '[^']+'; starting \(checked in ([0-9.]+) s\)")
#: The default mode's nova-computes heartbeat every 2 s: a 3 s watch.
WATCH_REPORT_INTERVAL = 2
WATCH_SERVICE_DOWN_TIME = 10
WATCH_CONF = """
[DEFAULT]
report_interval = %d
service_down_time = %d
""" % (WATCH_REPORT_INTERVAL, WATCH_SERVICE_DOWN_TIME)
TIMEOUT = 180


class Soak:
    """One backend's host, two machines, and the trials' figures."""

    def __init__(self, cloud, backend, ttl):
        self.cloud = cloud
        self.backend = backend
        tag = uuid.uuid4().hex[:6]
        self.host = 'soak-%s-%s' % (backend, tag)
        self.hypervisor = 'hv-%s-%s' % (backend, tag)
        self.machines = [self.host + '-a', self.host + '-b']
        if backend == WATCH:
            self.extra = WATCH_CONF
        else:
            options = {'timeout': ttl} if backend in LEASED else {}
            self.extra = LOCK_CONF % {
                'url': backends.coordination_url(backend, **options),
                'wait': ttl + 5}
        self.holder = None
        self.trials = self.double = self.neither = self.refusals = 0
        self.kinds = dict.fromkeys((kind for kind, _ in WATCH_REFUSALS), 0)
        self.waits = []
        self.fence_trials = self.fenced = 0
        self.windows = []
        self.notes = []

    def start(self, machine):
        conf = self.cloud.config(machine, host=self.host, guard=True,
                                 extra=self.extra)
        since = self.cloud.log_size(machine)
        self.cloud.start(machine, [sys.executable, cloud_mod.LAUNCHER], conf,
                         env={'HOSTGUARD_TEST_HYPERVISOR': self.hypervisor})
        return since

    def outcome(self, machine, since):
        running, logged = self.cloud.wait_started(machine, since, TIMEOUT)
        return running, logged

    def first_start(self):
        a, b = self.machines
        running, logged = self.outcome(a, self.start(a))
        if not running:
            raise RuntimeError('%s did not start:\n%s' % (a, logged[-4000:]))
        shutil.copy(os.path.join(self.cloud.state_dir(a), 'compute_id'),
                    os.path.join(self.cloud.state_dir(b), 'compute_id'))
        self.holder = a

    def kill(self, machine, sig=signal.SIGKILL):
        proc = self.cloud.processes.get(machine)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            if sig == signal.SIGKILL:
                proc.wait()
        return proc

    def overlapping_start(self):
        self.trials += 1
        self.kill(self.holder)
        first, second = random.sample(self.machines, 2)
        gap = random.uniform(0.3, 2.0)
        since = {first: self.start(first)}
        time.sleep(gap)
        since[second] = self.start(second)
        started = []
        for machine in (first, second):
            running, logged = self.outcome(machine, since[machine])
            if running:
                started.append(machine)
                match = HELD.search(logged) or CHECKED.search(logged)
                if match:
                    self.waits.append(float(match.group(1)))
            elif REFUSED in logged:
                self.refusals += 1
            else:
                for kind, message in WATCH_REFUSALS:
                    if message in logged:
                        self.refusals += 1
                        self.kinds[kind] += 1
                        break
        if len(started) == 2:
            self.double += 1
            self.notes.append('trial %d: both started (gap %.2f s)'
                              % (self.trials, gap))
            self.kill(second)
            started = [first]
        elif not started:
            self.neither += 1
            self.notes.append('trial %d: neither started (gap %.2f s)'
                              % (self.trials, gap))
            running, logged = self.outcome(first, self.start(first))
            started = [first] if running else []
            if not started:
                raise RuntimeError('no process starts as %s any more'
                                   % self.host)
        self.holder = started[0]

    def fence(self):
        self.fence_trials += 1
        before = self.cloud.log_size(self.holder)
        paused = self.kill(self.holder, signal.SIGSTOP)
        other = [m for m in self.machines if m != self.holder][0]
        running, logged = self.outcome(other, self.start(other))
        paused.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        if not running:
            self.notes.append('fence %d: the new process did not start: %s'
                              % (self.fence_trials, logged[-300:]))
            return
        try:
            code = paused.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        window = time.monotonic() - resumed
        if code == 75 and FENCED in self.cloud.log_of(self.holder)[before:]:
            self.fenced += 1
            self.windows.append(window)
        else:
            self.notes.append('fence %d: the resumed process: exit %s after '
                              '%.1f s' % (self.fence_trials, code, window))
            self.kill(self.holder)
        self.holder = other

    def stop(self):
        for machine in self.machines:
            self.kill(machine, signal.SIGCONT)
            if machine in self.cloud.processes:
                self.cloud.stop(machine)

    def failed(self):
        return (self.double or self.neither or
                self.fenced != self.fence_trials)


def stats(samples):
    if not samples:
        return '-'
    return '%.2f / %.2f' % (statistics.median(samples), max(samples))


def refusals(soak):
    if soak.backend != WATCH:
        return str(soak.refusals)
    return '%d (%s)' % (soak.refusals, ', '.join(
        '%s %d' % item for item in soak.kinds.items()))


def table(soaks):
    header = ('backend', 'trials', 'double', 'neither', 'refusals',
              'wait med/max s', 'fenced', 'fence window med/max s')
    rows = [header] + [(
        s.backend, str(s.trials), str(s.double), str(s.neither),
        refusals(s), stats(s.waits),
        '%d/%d' % (s.fenced, s.fence_trials) if s.fence_trials else 'n/a',
        stats(s.windows)) for s in soaks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ['  '.join(cell.ljust(w)
                       for cell, w in zip(row, widths)).rstrip()
             for row in rows]
    lines.insert(1, '  '.join('-' * w for w in widths))
    if any(s.backend == WATCH for s in soaks):
        lines.append(
            'watch: no backend_url (the heartbeat watch), report_interval '
            '%d s, service_down_time %d s; wait = the check\'s time as '
            'logged; refusals by kind: watch (heartbeat or claim seen while '
            'watching), claim (claim overwritten)'
            % (WATCH_REPORT_INTERVAL, WATCH_SERVICE_DOWN_TIME))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--trials', type=int, default=20)
    parser.add_argument('--backends', default=','.join(
        backends.COORDINATION_BACKENDS + (WATCH,)),
                        help='comma-separated; "watch" is the default mode '
                             '(no backend_url)')
    parser.add_argument('--ttl', type=int, default=3,
                        help='lease of etcd and Redis, in seconds')
    parser.add_argument('--no-fence', action='store_true')
    args = parser.parse_args()
    chosen = args.backends.split(',')
    missing = [s for s in ['mysql', 'rabbitmq'] + chosen
               if s != WATCH and not backends.answers(s)]
    if missing:
        sys.exit('not answering: %s (%s)' % (', '.join(missing),
                                             backends.SETUP_HINT))
    workdir = tempfile.mkdtemp(prefix='hostguard-lock-soak-')
    cloud = cloud_mod.NovaProcesses(workdir)
    cloud.setUp()
    soaks = []
    try:
        cloud.start_conductor(guard=True)
        for backend in chosen:
            soak = Soak(cloud, backend, args.ttl)
            soaks.append(soak)
            began = time.monotonic()
            try:
                soak.first_start()
                for _ in range(args.trials):
                    trial = time.monotonic()
                    soak.overlapping_start()
                    if backend in LEASED and not args.no_fence:
                        soak.fence()
                    print('%s: trial %d, double %d, neither %d, fenced '
                          '%d/%d (%.0f s)' % (
                              backend, soak.trials, soak.double,
                              soak.neither, soak.fenced, soak.fence_trials,
                              time.monotonic() - trial), flush=True)
            finally:
                soak.stop()
            print('%s: %.0f s' % (backend, time.monotonic() - began),
                  flush=True)
    finally:
        cloud.cleanUp()
    print()
    print(table(soaks))
    for soak in soaks:
        for note in soak.notes:
            print('%s: %s' % (soak.backend, note))
    if any(s.failed() for s in soaks):
        print('logs kept in %s' % workdir)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
