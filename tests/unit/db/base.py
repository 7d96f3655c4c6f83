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

"""Tests against nova's real schema on SQLite, MariaDB and PostgreSQL."""

import testscenarios
import testtools

from tests import backends
from tests import databases
from tests import fixtures as hostguard_fixtures


class BackendTestCase(testscenarios.WithScenarios, testtools.TestCase):
    """One run per backend; nova's cell schema in a fresh database."""

    scenarios = databases.SCENARIOS

    def setUp(self):
        super().setUp()
        if self.backend != 'sqlite':
            backends.require(self, self.backend)
        from nova import objects
        objects.register_all()
        self.db = self.useFixture(databases.NovaCellDatabase(self.backend))
        self.ctxt = self.db.context()

    def enable_guard(self, mode=None):
        from nova import conf
        return self.useFixture(
            hostguard_fixtures.HostGuardFixture(conf.CONF, mode=mode))

    def new_compute_node(self, host, hypervisor_hostname, **fields):
        """An unsaved ComputeNode as nova's resource tracker builds one."""
        from nova import objects
        values = dict(
            host=host, hypervisor_hostname=hypervisor_hostname,
            vcpus=8, memory_mb=16384, local_gb=100, vcpus_used=0,
            memory_mb_used=0, local_gb_used=0, hypervisor_type='fake',
            hypervisor_version=1, cpu_info='{}')
        values.update(fields)
        return objects.ComputeNode(context=self.ctxt, **values)

    def create(self, host, hypervisor_hostname, **fields):
        node = self.new_compute_node(host, hypervisor_hostname, **fields)
        node.create()
        return node
