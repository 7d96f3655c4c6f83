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

"""One live nova-compute per host: the watch loop and the heartbeat.

Against a service row kept in memory.

The separate-process tests (``tests/e2e/test_one_process_per_host.py``)
run the same code inside real nova-compute processes; these run it with
a one-second report interval, fast.
"""

import datetime
import sys
import threading
import time
from unittest import mock

import fixtures
from nova import exception
from nova import objects
from nova.objects import base as objects_base
from nova.objects import service as service_obj
from nova import service as nova_service
from oslo_config import cfg
import oslo_messaging as messaging
from oslo_utils import timeutils
import testtools

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import guard
from nova_hostguard import objects as hostguard_objects
from nova_hostguard import startup
from tests.harness import fixtures as hostguard_fixtures

REPORT_INTERVAL = 1

#: What a read or a save of the row takes: one RPC call to nova-conductor.
RPC_LATENCY = 0.01


class Row:
    """The host's service row, and the one object a process reads of it.

    It saves as nova's ``service_update`` does: ``last_seen_up`` moves only
    when the report count rises.
    """

    host = 'hostA'

    def __init__(self, seconds_ago):
        moment = timeutils.utcnow() - datetime.timedelta(seconds=seconds_ago)
        self.report_count = 7
        self.last_seen_up = moment
        self.created_at = moment - datetime.timedelta(days=1)
        self.saves = []
        self._mutex = threading.Lock()

    def read(self):
        time.sleep(RPC_LATENCY)
        with self._mutex:
            copy = Row.__new__(Row)
            copy.__dict__.update(self.__dict__)
        copy.save = lambda: self._save(copy)
        return copy

    def _save(self, copy):
        time.sleep(RPC_LATENCY)
        with self._mutex:
            self.saves.append(copy.report_count)
            if copy.report_count > self.report_count:
                self.last_seen_up = timeutils.utcnow()
            self.report_count = copy.report_count

    def other_process_reports(self):
        with self._mutex:
            self.report_count += 1
            self.last_seen_up = timeutils.utcnow()


def _nova_reports(service):
    """Count a heartbeat as nova's: the start-up claim then ends."""
    service.report_count = 10 ** 6


def _configure_guard(test, nova_opts):
    """The guard's settings from a configuration of ``nova_opts``.

    The guard's own settings are put back when ``test`` ends.
    """
    conf = cfg.ConfigOpts()
    conf.register_opts(nova_opts)
    conf.register_opts(hostguard_conf.hostguard_opts,
                       group=hostguard_conf.GROUP)
    conf([])
    test.useFixture(hostguard_fixtures.GuardStateFixture())
    guard.configure(conf, hostguard_conf.GROUP)
    return conf


def _another_reports_at_read_2(row):
    """A read of ``row`` after which another process has reported."""
    reads = []

    def read():
        reads.append(1)
        if len(reads) == 2:
            row.other_process_reports()
        return row.read()
    return read


class CheckTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = _configure_guard(self, [
            cfg.StrOpt('host', default='hostA'),
            cfg.IntOpt('report_interval', default=REPORT_INTERVAL),
            cfg.IntOpt('service_down_time', default=60),
            cfg.StrOpt('servicegroup_driver', default='db'),
        ])
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.SETTLE', 0.3))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.POLL_INTERVAL', 0.1))

    def check(self, read, host='hostA'):
        service = startup.check(read, host)
        if service is not None:
            self.addCleanup(_nova_reports, service)
        return service

    def test_no_service_row_starts_at_once(self):
        began = time.monotonic()
        self.assertIsNone(self.check(lambda: None))
        self.assertLess(time.monotonic() - began, 0.5)

    def test_a_row_is_watched_a_whole_window_then_claimed(self):
        row = Row(seconds_ago=0.2)
        began = time.monotonic()
        service = self.check(row.read)
        waited = time.monotonic() - began
        # 1.5 report intervals from now, then the settle time.
        self.assertGreater(waited, 1.5 + 0.3)
        self.assertLess(waited, 1.5 + 0.3 + 1.0)
        # The claim: one save, a count lower than the row's.
        self.assertEqual(1, len(row.saves))
        self.assertLess(row.saves[0], 7)
        self.assertEqual(row.saves[0], service.report_count)

    def test_a_stale_row_is_watched_too(self):
        # A heartbeat older than service_down_time: nova calls the service
        # down, but a process in its init_host would not heartbeat yet.
        row = Row(seconds_ago=120)
        self.assertRaises(exception.InvalidConfiguration, self.check,
                          _another_reports_at_read_2(row))

    def test_a_late_heartbeat_keeps_the_watch_on(self):
        # Issue 19, defect 2: a heartbeat 1.6 intervals old (late, within
        # service_down_time) used to mean "start" without a watch.
        row = Row(seconds_ago=1.6 * REPORT_INTERVAL)
        e = self.assertRaises(exception.InvalidConfiguration, self.check,
                              _another_reports_at_read_2(row))
        self.assertIn("another nova-compute process is running as host "
                      "'hostA'", str(e))

    def test_a_clock_ahead_keeps_the_watch_on(self):
        # Issue 19, defect 2: this clock 14 intervals ahead of the
        # conductor's makes a fresh heartbeat look 14 intervals old.
        row = Row(seconds_ago=14 * REPORT_INTERVAL)
        self.assertRaises(exception.InvalidConfiguration, self.check,
                          _another_reports_at_read_2(row))

    def test_a_heartbeat_while_watching_is_refused(self):
        row = Row(seconds_ago=0.2)
        e = self.assertRaises(exception.InvalidConfiguration, self.check,
                              _another_reports_at_read_2(row))
        self.assertIn("another nova-compute process is running as host "
                      "'hostA'", str(e))
        self.assertIn('[hostguard] backend_url', str(e))
        self.assertEqual([], row.saves)

    def test_a_failed_read_while_watching_is_read_again(self):
        # Issue 19, defect 4: a conductor restarting (MessagingTimeout)
        # during the watch used to abort nova-compute's start.
        row = Row(seconds_ago=0.2)
        reads = []

        def read():
            reads.append(1)
            if len(reads) in (2, 3):
                raise messaging.MessagingTimeout('conductor restarting')
            return row.read()
        self.assertIsNotNone(self.check(read))
        self.assertGreater(len(reads), 3)

    def test_a_failed_read_does_not_hide_another_process(self):
        row = Row(seconds_ago=0.2)
        reads = []

        def read():
            reads.append(1)
            if len(reads) == 2:
                row.other_process_reports()
                raise messaging.MessagingTimeout('conductor restarting')
            return row.read()
        self.assertRaises(exception.InvalidConfiguration, self.check, read)

    def test_the_claim_never_makes_the_service_look_up(self):
        # Issue 19, defect 3: the start-up heartbeat kept a nova-compute
        # that never finished starting "up" for ever. The claim writes
        # lower counts, which nova does not count as heartbeats.
        row = Row(seconds_ago=0.2)
        last_seen_up = row.last_seen_up
        self.check(row.read)
        time.sleep(REPORT_INTERVAL * 2.5)
        self.assertEqual(last_seen_up, row.last_seen_up)
        self.assertEqual(3, len(row.saves))
        self.assertEqual(sorted(row.saves, reverse=True), row.saves)
        self.assertLess(row.saves[0], 7)

    def test_a_crash_loop_never_makes_the_service_look_up(self):
        row = Row(seconds_ago=0.2)
        last_seen_up = row.last_seen_up
        for _attempt in range(3):
            service = startup.check(row.read, 'hostA')
            # The process fails in init_host and exits: its claim ends.
            _nova_reports(service)
        self.assertEqual(3, len(row.saves))
        self.assertEqual(last_seen_up, row.last_seen_up)

    def test_the_claim_ends_when_nova_reports(self):
        row = Row(seconds_ago=0.2)
        service = self.check(row.read)
        time.sleep(REPORT_INTERVAL * 1.5)
        self.assertEqual(2, len(row.saves))
        # nova's service group heartbeats on the object it was given,
        # which the renewals never wrote to: one above the first claim.
        service.report_count += 1
        service.save()
        time.sleep(REPORT_INTERVAL * 2.5)
        self.assertEqual(3, len(row.saves))
        self.assertEqual(row.saves[0] + 1, row.saves[2])

    def test_overlapping_starts_one_starts(self):
        # Issue 19, defect 1: two processes whose watches overlap (the
        # owner died 0.5 s before; the second starts 0-1 s after the
        # first) both started, 12 of 12. Repeated trials, count the bad.
        both_started = 0
        for delay in (0.0, 0.05, 0.1, 0.3, 0.6, 1.0):
            row = Row(seconds_ago=0.5)
            outcomes = []

            def start(pause):
                time.sleep(pause)
                try:
                    service = startup.check(row.read, 'hostA')
                except exception.InvalidConfiguration:
                    outcomes.append('refused')
                else:
                    outcomes.append('started')
                    self.addCleanup(_nova_reports, service)
            threads = [threading.Thread(target=start, args=(pause,))
                       for pause in (0, delay)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.assertEqual(2, len(outcomes))
            both_started += outcomes.count('started') == 2
        self.assertEqual(0, both_started)

    def test_warn_mode_starts_anyway(self):
        self.conf.set_override('mode', 'warn', hostguard_conf.GROUP)
        row = Row(seconds_ago=0.2)
        self.assertIsNotNone(self.check(_another_reports_at_read_2(row)))

    def test_memcache_service_group_is_not_checked(self):
        self.conf.set_override('servicegroup_driver', 'mc')
        row = Row(seconds_ago=0.2)
        began = time.monotonic()
        self.check(row.read)
        self.assertLess(time.monotonic() - began, 0.5)
        self.assertEqual([], row.saves)


class _Started(Exception):
    """Stops nova's Service.start right after the read of its service row."""

    def __init__(self, service_ref):
        super().__init__()
        self.service_ref = service_ref


def _stop(service_ref):
    raise _Started(service_ref)


class WantsCheckTest(testtools.TestCase):
    """Only nova-compute's start reading its own row, once per start.

    The first read nova's ``Service.start`` of a nova-compute makes of its
    own row, with or without an indirection API, whatever
    ``[DEFAULT] host`` is.
    """

    def setUp(self):
        super().setUp()
        self.conf = _configure_guard(self, [
            cfg.StrOpt('host', default='hostA')])
        self.checked = []

        def check(read, host, caller=None):
            self.checked.append(host)
            return read()
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup.check', check))
        # The row, without a database; GuardedService reads it through
        # nova's method, as in nova-compute.
        self.useFixture(fixtures.MockPatchObject(
            service_obj.Service, 'get_by_host_and_binary',
            classmethod(lambda cls, context, host, binary: (host, binary))))
        self.useFixture(fixtures.MonkeyPatch(
            'nova.objects.Service', hostguard_objects.GuardedService))
        # nova's version string reads nova's own (unparsed) configuration.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.version.version_string_with_package', lambda: 'test'))

    def start(self, service):
        """Run nova's own ``Service.start`` up to ``init_host``."""
        e = self.assertRaises(_Started, nova_service.Service.start, service)
        return e.service_ref

    def service(self, host, binary='nova-compute'):
        """A nova service of ``binary`` for ``host``, as nova creates one."""
        service = nova_service.Service.__new__(nova_service.Service)
        service.host = host
        service.binary = binary
        service.topic = binary.rpartition('-')[2]
        service.manager = mock.Mock()
        service.manager.init_host.side_effect = _stop
        return service

    def test_each_nova_compute_start_once(self):
        first = self.service('hostA')
        self.assertEqual(('hostA', 'nova-compute'), self.start(first))
        self.assertEqual(['hostA'], self.checked)
        # nova reads the row again in the same start (a race to create
        # it): not checked again.
        self.start(first)
        self.assertEqual(['hostA'], self.checked)
        # Another service, in nova's functional framework, for the same
        # host or another: checked, whatever [DEFAULT] host says.
        self.start(self.service('hostA'))
        self.start(self.service('hostB'))
        self.assertEqual(['hostA', 'hostA', 'hostB'], self.checked)

    def test_without_an_indirection_api(self):
        self.assertIsNone(objects_base.NovaObject.indirection_api)
        self.start(self.service('hostA'))
        self.assertEqual(['hostA'], self.checked)

    def test_with_an_indirection_api(self):
        self.useFixture(fixtures.MonkeyPatch(
            'nova.objects.base.NovaObject.indirection_api', object()))
        self.start(self.service('hostA'))
        self.assertEqual(['hostA'], self.checked)

    def test_not_other_services_starting(self):
        for binary in ('nova-conductor', 'nova-scheduler'):
            self.start(self.service('hostA', binary))
        self.assertEqual([], self.checked)

    def test_never_outside_a_start(self):
        # nova-api, nova-conductor and nova-scheduler reading the
        # nova-compute row of any host, their own included, with or
        # without an indirection API.
        for api in (None, object()):
            self.useFixture(fixtures.MonkeyPatch(
                'nova.objects.base.NovaObject.indirection_api', api))
            for host in ('hostA', 'hostB'):
                self.assertEqual(
                    (host, 'nova-compute'),
                    objects.Service.get_by_host_and_binary(
                        None, host, 'nova-compute'))
                self.assertFalse(startup.wants_check(
                    host, 'nova-compute', sys._getframe()))
        self.assertEqual([], self.checked)

    def test_not_for_another_row_in_a_start(self):
        asked = []

        def init_host(service_ref):
            start = sys._getframe()
            while start.f_code is not nova_service.Service.start.__code__:
                start = start.f_back
            startup._checked.clear()
            asked.append(startup.wants_check('hostB', 'nova-compute', start))
            asked.append(startup.wants_check('hostA', 'nova-conductor',
                                             start))
            raise _Started(service_ref)
        service = self.service('hostA')
        service.manager.init_host.side_effect = init_host
        self.start(service)
        self.assertEqual(['hostA'], self.checked)
        self.assertEqual([False, False], asked)

    def test_not_when_switched_off(self):
        self.conf.set_override('one_process_per_host', False,
                               hostguard_conf.GROUP)
        self.start(self.service('hostA'))
        self.assertEqual([], self.checked)

    def test_not_without_the_guard(self):
        guard.configure(None, hostguard_conf.GROUP)
        self.start(self.service('hostA'))
        self.assertEqual([], self.checked)
