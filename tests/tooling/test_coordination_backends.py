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

"""Each tooz lock backend the lock mode is tested on really locks.

For etcd, Redis, MariaDB and PostgreSQL (``backends.COORDINATION_BACKENDS``)
two real tooz coordinators, as two nova-compute services would be, take
one lock through ``backends.coordination_url``: while one holds it the
other cannot take it, and once it is released the other can. A backend
that does not answer fails (skips only in a plain local run, as
``backends.require`` says).
"""

import uuid

import testscenarios
import testtools
from tooz import coordination

from tests.harness import backends

#: etcd's and Redis's leases: short, so that a lock a failed run leaves
#: behind is gone soon; long beside the test.
OPTIONS = {'etcd': {'timeout': 5}, 'redis': {'timeout': 5}}


class CoordinationUrlTest(testtools.TestCase):

    def test_options_become_the_query_string(self):
        self.assertEqual(
            'etcd3+http://%s:%s?timeout=5' % (
                backends.ETCD_HOST, backends.ETCD_PORT),
            backends.coordination_url('etcd', timeout=5))
        self.assertEqual(
            'redis://%s:%s?lock_timeout=3&timeout=5' % (
                backends.REDIS_HOST, backends.REDIS_PORT),
            backends.coordination_url('redis', timeout=5, lock_timeout=3))

    def test_every_backend_has_a_url_and_no_other(self):
        for backend in backends.COORDINATION_BACKENDS:
            self.assertIn(backend, backends.SERVICES)
            self.assertIn('://', backends.coordination_url(backend))
        self.assertRaises(ValueError, backends.coordination_url, 'zookeeper')


class LockTest(testscenarios.WithScenarios, testtools.TestCase):

    scenarios = [(backend, {'backend': backend})
                 for backend in backends.COORDINATION_BACKENDS]

    def setUp(self):
        super().setUp()
        backends.require(self, self.backend)
        self.name = b'nova-hostguard-selftest-' + uuid.uuid4().hex.encode()

    def coordinator(self, member):
        coordinator = coordination.get_coordinator(
            backends.coordination_url(self.backend,
                                      **OPTIONS.get(self.backend, {})),
            member)
        coordinator.start(start_heart=True)
        self.addCleanup(coordinator.stop)
        return coordinator

    def lock(self, coordinator):
        lock = coordinator.get_lock(self.name)
        held = []

        def release_if_held():
            if held:
                lock.release()

        self.addCleanup(release_if_held)
        return lock, held

    def take(self, lock, held):
        taken = lock.acquire(blocking=False)
        if taken:
            held.append(True)
        return taken

    def give_back(self, lock, held):
        self.assertTrue(lock.release())
        held.clear()

    def test_one_holder_at_a_time(self):
        first, first_held = self.lock(self.coordinator(b'hostguard-a'))
        second, second_held = self.lock(self.coordinator(b'hostguard-b'))

        self.assertTrue(self.take(first, first_held))
        self.assertFalse(self.take(second, second_held),
                         'a second coordinator took the lock %s, which the '
                         'first holds, on %s'
                         % (self.name, self.backend))

        self.give_back(first, first_held)
        self.assertTrue(self.take(second, second_held),
                        'the lock, released, stayed taken on %s'
                        % self.backend)
        self.assertFalse(self.take(first, first_held))
        self.give_back(second, second_held)
