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

"""One live nova-compute per host: the decision, without nova or RPC."""

import collections
import datetime

import testtools

from nova_hostguard import takeover

Service = collections.namedtuple(
    'Service', ['report_count', 'last_seen_up', 'created_at'])

NOW = datetime.datetime(2026, 11, 27, 1, 0, 0, tzinfo=datetime.timezone.utc)


def service(seconds_ago, report_count=7, never_reported=False):
    moment = NOW - datetime.timedelta(seconds=seconds_ago)
    if never_reported:
        return Service(0, None, moment)
    return Service(report_count, moment, moment - datetime.timedelta(days=1))


def plan(svc, report_interval=10):
    return takeover.plan(svc, report_interval)


class PlanTest(testtools.TestCase):

    def test_first_start_has_no_service_and_no_wait(self):
        self.assertEqual((takeover.START, 0), plan(None)[:2])

    def test_every_row_is_watched_a_whole_window_whatever_its_age(self):
        # Issue 19, defect 2: the age of the last heartbeat comes from two
        # clocks and a heartbeat that may be late; it no longer shortens
        # or skips the watch.
        for age in (-30, 0, 4, 14.5, 15, 16, 59, 61, 3600):
            self.assertEqual((takeover.WATCH, 15.0),
                             plan(service(age))[:2], age)
        self.assertEqual((takeover.WATCH, 15.0),
                         plan(service(90, never_reported=True))[:2])

    def test_window_follows_report_interval(self):
        self.assertEqual(15.0, takeover.window(10))
        self.assertEqual(45.0, takeover.window(30))
        self.assertEqual((takeover.WATCH, 45.0),
                         plan(service(20), report_interval=30)[:2])

    def test_no_report_interval_nothing_to_watch(self):
        self.assertEqual((takeover.START, 0),
                         plan(service(1), report_interval=0)[:2])


class ClaimTest(testtools.TestCase):

    def test_a_claim_is_lower_than_the_row_so_never_a_heartbeat(self):
        for draw in (0, 1, takeover.CLAIM_SPREAD - 1):
            self.assertLess(takeover.claim_count(7, draw), 7)
        self.assertEqual(-1, takeover.claim_count(None, 0))

    def test_different_draws_different_claims(self):
        claims = {takeover.claim_count(100, draw)
                  for draw in range(takeover.CLAIM_SPREAD)}
        self.assertEqual(takeover.CLAIM_SPREAD, len(claims))


class HeartbeatTest(testtools.TestCase):

    def test_no_change_is_no_other_process(self):
        first = takeover.heartbeat_of(service(3))
        self.assertFalse(takeover.another_process_reported(
            first, takeover.heartbeat_of(service(3))))

    def test_a_new_report_is_another_process(self):
        first = takeover.heartbeat_of(service(3, report_count=7))
        self.assertTrue(takeover.another_process_reported(
            first, takeover.heartbeat_of(service(0, report_count=8))))

    def test_a_report_with_the_same_count_is_another_process(self):
        # Two processes already running write the same count; the time
        # still moves.
        first = takeover.heartbeat_of(service(3, report_count=7))
        self.assertTrue(takeover.another_process_reported(
            first, takeover.heartbeat_of(service(0, report_count=7))))

    def test_first_report_of_a_new_service(self):
        first = takeover.heartbeat_of(service(3, never_reported=True))
        self.assertTrue(takeover.another_process_reported(
            first, takeover.heartbeat_of(service(0, report_count=1))))


class AppliesTest(testtools.TestCase):
    """Only nova-compute's start reading its own row, once."""

    def applies(self, binary='nova-compute', host='hostA',
                starting=('nova-compute', 'hostA'), enabled=True,
                already_checked=False):
        return takeover.applies(binary, host, starting, enabled,
                                already_checked)

    def test_nova_compute_start(self):
        self.assertTrue(self.applies())

    def test_other_binaries_never(self):
        for binary in ('nova-conductor', 'nova-scheduler', 'nova-api',
                       'nova-novncproxy'):
            self.assertFalse(self.applies(binary=binary), binary)
            self.assertFalse(self.applies(
                binary=binary, starting=(binary, 'hostA')), binary)

    def test_outside_a_start_never(self):
        # nova-api, nova-conductor, nova-scheduler, nova-manage reading a
        # nova-compute row, of their own host name or another.
        self.assertFalse(self.applies(starting=None))

    def test_another_service_starting_never(self):
        self.assertFalse(self.applies(starting=('nova-conductor', 'hostA')))

    def test_another_host_never(self):
        self.assertFalse(self.applies(host='hostB'))

    def test_once_per_start(self):
        self.assertFalse(self.applies(already_checked=True))

    def test_switched_off(self):
        self.assertFalse(self.applies(enabled=False))


class RefusalMessageTest(testtools.TestCase):

    def test_names_host_heartbeat_and_what_to_do(self):
        message = takeover.refusal_message(
            'hostA', datetime.datetime(2026, 11, 27, 0, 59, 58), 2.34, 10)
        self.assertIn("as host 'hostA'", message)
        self.assertIn('last heartbeat 2026-11-27 00:59:58 UTC', message)
        self.assertIn('within 2.3 s', message)
        self.assertIn('Stop the other process first', message)
        self.assertIn('[hostguard] one_process_per_host = false', message)
        self.assertIn('compute.hostA', message)

    def test_escapes_the_host(self):
        message = takeover.refusal_message('host\x1b[2J', None, 1, 10)
        self.assertNotIn('\x1b', message)
        self.assertIn('last heartbeat unknown', message)
