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

"""The base of the tests that run nova's services as separate processes."""

import os

import fixtures
import testtools

from tests.harness import backends
from tests.harness.processes import cloud


class NovaProcessesTestCase(testtools.TestCase):
    """nova processes over real RabbitMQ and MariaDB, in ``self.cloud``.

    Each test gets its own database and RabbitMQ virtual host, and fails
    (never skips) when either does not answer. Set ``HOSTGUARD_KEEP_LOGS``
    to a directory to keep the processes' logs of a failed test.
    """

    def setUp(self):
        super().setUp()
        backends.require(self, 'mysql', 'rabbitmq')
        workdir = self.useFixture(fixtures.TempDir()).path
        self.cloud = self.useFixture(cloud.NovaProcesses(workdir))
        cloud.keep_logs_on_failure(
            self, self.cloud, os.environ.get('HOSTGUARD_KEEP_LOGS'))
