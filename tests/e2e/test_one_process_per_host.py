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

"""One live nova-compute per host, with real separate processes.

nova-conductor and nova-compute processes over RabbitMQ and MariaDB
(:mod:`tests.harness.processes.cloud`). A takeover as the owner is safe
only once the owner's process has stopped: a second nova-compute started as
``hostA`` while hostA's process still runs is refused before
``init_host``; a restart after a clean stop or after ``kill -9`` is not;
with the check switched off, nova 34 runs both (the control).

Set ``HOSTGUARD_KEEP_LOGS`` to a directory to keep the processes' logs of
a failed run, ``HOSTGUARD_TAKEOVER_TIMES`` to a file to append the
measured delays to.
"""

import os
import re
import shutil
import signal
import sys
import time
from urllib import parse

import testtools

from tests.e2e import base
from tests.harness import backends
from tests.harness.processes import cloud
from tests.harness.processes import service_log

STARTUP_TIMEOUT = 180
REFUSAL = "another nova-compute process is running as host 'hostA'"
CHECKED = re.compile(r'nova-hostguard: (.*?)\(checked in ([0-9.]+) s\)')
WATCHING = re.compile(r'watching the heartbeat of host .* for ([0-9.]+) s')
CHECK_OFF = """
[hostguard]
one_process_per_host = false
"""


class OneProcessPerHostTest(base.NovaProcessesTestCase):

    def setUp(self):
        super().setUp()
        # The guard in nova-conductor too, as host hostA (an all-in-one
        # controller): it serves nova-compute's reads of hostA's
        # nova-compute row, with its own host hostA, and must never run
        # the check itself.
        self.cloud.start(
            'conductor',
            [os.path.join(os.path.dirname(sys.executable), 'nova-conductor')],
            self.cloud.config('conductor', host='hostA', guard=True))

    # Starting and watching processes.

    def _start(self, machine, host='hostA', check=True):
        """Start a guarded nova-compute of ``machine`` as ``host``."""
        conf = self.cloud.config(machine, host=host, guard=True,
                                 extra='' if check else CHECK_OFF)
        since = self.cloud.log_size(machine)
        launched = time.monotonic()
        self.cloud.start(machine, [sys.executable, cloud.LAUNCHER], conf,
                         env={'HOSTGUARD_TEST_HYPERVISOR': 'hv1'})
        return since, launched

    def _started(self, machine, since, launched):
        running, logged = self.cloud.wait_started(machine, since,
                                                  STARTUP_TIMEOUT)
        return running, logged, time.monotonic() - launched

    def _start_owner(self):
        since, launched = self._start('hostA')
        running, logged, took = self._started('hostA', since, launched)
        self.assertTrue(running, logged[-4000:])
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())
        self._record('cold start, no service record', logged, took)
        return logged

    def _twin(self):
        """A second machine set up to take over as hostA.

        Same host, and hostA's node identity (nova's compute_id) in its
        state_path.
        """
        shutil.copy(os.path.join(self.cloud.state_dir('hostA'), 'compute_id'),
                    os.path.join(self.cloud.state_dir('standby'),
                                 'compute_id'))
        return 'standby'

    def _heartbeats(self):
        with self.cloud.engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT report_count FROM services WHERE host = 'hostA' "
                "AND `binary` = 'nova-compute'").scalar()

    def _wait_heartbeat(self):
        """Wait for hostA's next heartbeat: the window then lies ahead."""
        first = self._heartbeats()
        self.cloud.wait_for(lambda: self._heartbeats() != first, 60,
                            "hostA's next heartbeat")

    def _consumers(self, queue):
        path = 'queues/%s/%s' % (parse.quote(self.cloud.vhost, safe=''),
                                 parse.quote(queue, safe=''))
        return backends.rabbit_api('GET', path).json().get('consumers')

    def _record(self, case, logged, took, end='started'):
        """Keep the check's own delay and the time to start, per case."""
        match = CHECKED.search(logged)
        line = '%-48s check %s s, launch to %s %.1f s' % (
            case, match.group(2) if match else '-', end, took)
        self.addDetail(case, testtools.content.text_content(line))
        path = os.environ.get('HOSTGUARD_TAKEOVER_TIMES')
        if path:
            with open(path, 'a') as f:
                f.write(line + '\n')
                f.writelines('    %s\n' % entry[:600]
                             for entry in logged.splitlines()
                             if 'nova-hostguard: ' in entry and
                             'ComputeNode.create()' not in entry)
        return match

    def _assert_check_never_ran_in_conductor(self):
        conductor = self.cloud.log_of('conductor')
        self.assertIn('one_process_per_host = True', conductor)
        self.assertIsNone(WATCHING.search(conductor))
        self.assertNotIn('checked in', conductor)

    # The cases.

    def test_second_process_as_the_same_host_refused(self):
        self._start_owner()
        owner = self.cloud.processes['hostA']
        standby = self._twin()
        self._wait_heartbeat()
        since, launched = self._start(standby)
        returncode = self.cloud.processes[standby].wait(STARTUP_TIMEOUT)
        took = time.monotonic() - launched
        log = self.cloud.log_of(standby)
        self._record('second process while the first runs (refused)',
                     log, took, end='exit')
        self.assertNotEqual(0, returncode)
        self.assertIn(REFUSAL, log)
        watched = re.search(r'within ([0-9.]+) s of watching', log)
        self.assertLessEqual(float(watched.group(1)), 15.0 + 2)
        self.assertIn('last heartbeat 20', log)
        self.assertIn('[hostguard] one_process_per_host = false', log)
        # Refused before init_host: nova's start never got further.
        self.assertNotIn(service_log.STARTED, log)
        self.assertNotIn('Creating RPC server for service', log)
        # The first process goes on, its record untouched.
        self.assertIsNone(owner.poll(), 'hostA should still be running')
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())
        self._assert_check_never_ran_in_conductor()

    def test_second_process_right_after_a_start_refused(self):
        # The owner restarts, and the second process comes right after
        # it started: before nova's own first heartbeat (5 s after the end
        # of its start), the row shows only the owner's claim.
        self._start_owner()
        self.cloud.stop('hostA')
        since, launched = self._start('hostA')
        running, logged, took = self._started('hostA', since, launched)
        self.assertTrue(running, logged[-4000:])
        owner = self.cloud.processes['hostA']
        standby = self._twin()
        since, launched = self._start(standby)
        returncode = self.cloud.processes[standby].wait(STARTUP_TIMEOUT)
        log = self.cloud.log_of(standby)
        self._record('second process right after the first started',
                     log, time.monotonic() - launched, end='exit')
        self.assertNotEqual(0, returncode)
        self.assertIn(REFUSAL, log)
        self.assertIsNone(owner.poll(), 'hostA should still be running')
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())

    def test_restart_after_a_clean_stop_not_refused(self):
        self._start_owner()
        self._wait_heartbeat()
        self.cloud.stop('hostA')   # SIGTERM, waits for the exit
        since, launched = self._start('hostA')
        running, logged, took = self._started('hostA', since, launched)
        self._record('restart after a clean stop', logged, took)
        self.assertTrue(running, logged[-4000:])
        self.assertNotIn(REFUSAL, logged)
        self.assertIsNotNone(CHECKED.search(logged), logged[-4000:])
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())

    def test_restart_after_kill_9_not_refused(self):
        self._start_owner()
        self._wait_heartbeat()
        # Right after a heartbeat: the longest watch a restart can get.
        proc = self.cloud.processes['hostA']
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        since, launched = self._start('hostA')
        running, logged, took = self._started('hostA', since, launched)
        match = self._record('restart right after kill -9', logged, took)
        self.assertTrue(running, logged[-4000:])
        self.assertNotIn(REFUSAL, logged)
        # The whole window, from now: 1.5 report intervals.
        self.assertEqual('15.0', WATCHING.search(logged).group(1))
        self.assertIsNotNone(match, logged[-4000:])
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())
        self._assert_check_never_ran_in_conductor()

    def test_control_check_off_nova_runs_both(self):
        self._start_owner()
        standby = self._twin()
        self._wait_heartbeat()
        since, launched = self._start(standby, check=False)
        running, logged, took = self._started(standby, since, launched)
        self.assertTrue(running, logged[-4000:])
        self.assertIsNone(WATCHING.search(logged))
        self.assertIsNone(self.cloud.processes['hostA'].poll())
        # nova 34 runs both as hostA: two consumers of its queue, one
        # record, no word of it anywhere.
        self.cloud.wait_for(lambda: self._consumers('compute.hostA') == 2,
                            60, 'two consumers on compute.hostA')
        self.assertEqual([('hostA', 'hv1', 0)], self.cloud.compute_nodes())
        self.assertNotIn(REFUSAL, logged)
