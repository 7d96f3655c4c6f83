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

"""nova-compute's start-up check in lock mode, against a real etcd.

The check as nova-compute runs it (:func:`nova_hostguard.startup.check`
with ``[hostguard] backend_url``): the refusal, warn mode, a bad URL. Real
nova-compute processes in lock mode are ``tests/e2e/test_lock.py``.
"""

import uuid

from nova import exception
from oslo_config import cfg
import testtools

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import startup
from tests.harness import backends
from tests.unit import test_startup


class LockModeCheckTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        backends.require(self, 'etcd')
        self.conf = test_startup._configure_guard(self, [
            cfg.StrOpt('host', default='hostA'),
            cfg.IntOpt('report_interval', default=1),
            cfg.StrOpt('servicegroup_driver', default='db'),
        ])
        self.conf.set_override('backend_url',
                               backends.coordination_url('etcd', timeout=3),
                               hostguard_conf.GROUP)
        self.conf.set_override('lock_wait', 1, hostguard_conf.GROUP)
        self.host = 'host-%s' % uuid.uuid4().hex[:8]
        self.reads = []

    def read(self):
        self.reads.append(1)
        return None

    def hold(self):
        release = startup._hold_lock(self.conf.hostguard.backend_url,
                                     self.host, 1)
        self.addCleanup(release)

    def test_the_holder_starts_and_reads_its_row_after_the_lock(self):
        url = self.conf.hostguard.backend_url
        release = startup._hold_lock(url, self.host, 1)
        self.addCleanup(release)
        self.assertEqual([], self.reads)
        release()
        # Released at exit: the next start takes it at once.
        self.assertIsNone(startup.check(self.read, self.host))
        self.assertEqual([1], self.reads)

    def test_a_second_process_is_refused_before_reading_anything(self):
        self.hold()
        e = self.assertRaises(exception.InvalidConfiguration,
                              startup.check, self.read, self.host)
        self.assertIn('another nova-compute process runs as host %r' %
                      self.host, str(e))
        self.assertIn('[hostguard] lock_wait', str(e))
        self.assertEqual([], self.reads)

    def test_warn_mode_starts_anyway(self):
        self.hold()
        self.conf.set_override('mode', 'warn', hostguard_conf.GROUP)
        self.assertIsNone(startup.check(self.read, self.host))
        self.assertEqual([1], self.reads)

    def test_a_bad_url_is_one_clear_line_even_in_warn_mode(self):
        self.conf.set_override('mode', 'warn', hostguard_conf.GROUP)
        self.conf.set_override('backend_url', 'etc3://127.0.0.1:2379',
                               hostguard_conf.GROUP)
        e = self.assertRaises(exception.InvalidConfiguration,
                              startup.check, self.read, self.host)
        self.assertIn('nova-hostguard: invalid configuration: [hostguard] '
                      'backend_url etc3://127.0.0.1:2379', str(e))
        self.assertNotIn('\n', str(e))
        self.assertEqual([], self.reads)

    def test_an_unreachable_service_refuses_to_start(self):
        self.conf.set_override('backend_url', 'redis://127.0.0.1:9',
                               hostguard_conf.GROUP)
        e = self.assertRaises(exception.InvalidConfiguration,
                              startup.check, self.read, self.host)
        self.assertIn('the lock service redis://127.0.0.1:9 did not answer '
                      'within 1 s', str(e))
        self.assertEqual([], self.reads)
