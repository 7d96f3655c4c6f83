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

"""A server that answers but cannot serve the tests fails them, loudly.

Where a missing server may be skipped (a plain local run), one that
answers but refuses the tests' user, or a RabbitMQ without its management
API, is a broken setup: it must fail, saying what to fix.
"""

import socket

import fixtures
import testscenarios
import testtools

from tests.harness import backends


class Verdict(Exception):
    pass


class Recorder:
    """Stands for the test that calls require(): what it was told."""

    def fail(self, message):
        raise Verdict('fail', message)

    def skipTest(self, message):
        raise Verdict('skip', message)


def closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class RequireTest(testscenarios.WithScenarios, testtools.TestCase):

    scenarios = [
        ('mysql', {'service': 'mysql', 'wrong': {
            'MYSQL_PASSWORD': 'not-the-password'}}),
        # A role that does not exist: PostgreSQL may trust 127.0.0.1 and
        # then takes any password.
        ('postgresql', {'service': 'postgresql', 'wrong': {
            'PG_USER': 'hostguard_no_such_role'}}),
        ('rabbitmq', {'service': 'rabbitmq', 'wrong': {
            'RABBIT_MGMT_PORT': closed_port()}}),
    ]

    def setUp(self):
        super().setUp()
        backends.require(self, self.service)
        # The setting where a server that does not answer is skipped.
        self.useFixture(fixtures.EnvironmentVariable(
            'HOSTGUARD_ALLOW_MISSING_BACKENDS', '1'))
        self.useFixture(fixtures.EnvironmentVariable('CI'))

    def verdict(self):
        try:
            backends.require(Recorder(), self.service)
        except Verdict as verdict:
            return verdict.args
        return None

    def test_the_real_setup_passes(self):
        self.assertIsNone(self.verdict())

    def test_a_refusing_server_fails_and_says_what_to_fix(self):
        for name, value in self.wrong.items():
            self.useFixture(fixtures.MockPatchObject(backends, name, value))
        kind, message = self.verdict() or (None, None)
        self.assertEqual('fail', kind)
        if self.service == 'rabbitmq':
            self.assertIn('the RabbitMQ management API at http://%s:%s/api '
                          '(plugin rabbitmq_management'
                          % (backends.RABBIT_HOST, self.wrong[
                              'RABBIT_MGMT_PORT']), message)
        else:
            self.assertIn('%s at %s:%s refuses user %r' % (
                (self.service,) + backends.SERVICES[self.service] +
                (backends.MYSQL_USER if self.service == 'mysql' else
                 'hostguard_no_such_role',)), message)
        self.assertIn('tools/test-setup.sh prepares it', message)
