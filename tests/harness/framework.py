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

"""Real nova 34, in process: API, conductor, scheduler, placement, compute.

Each compute host runs nova's ``fake.FakeDriverWithoutFakeNodes`` the way
a VMware cluster or a remote libvirt is run active/passive: the hypervisor
(its ``hypervisor_hostname``) is chosen by the test, and every host has
its own node identity, as two nova-compute services with their own
``state_path`` (and so their own ``compute_id`` file) would.
"""

import collections
import uuid

from nova import context as nova_context
from nova.db.main import api as main_db_api
from nova import objects
from nova.tests.functional import integrated_helpers
from nova.virt import fake

from tests.harness import databases
from tests.harness import fixtures as hostguard_fixtures


class SharedHypervisorTestCase(hostguard_fixtures.GuardSwitch,
                               integrated_helpers.ProviderUsageBaseTestCase):

    compute_driver = 'fake.FakeDriverWithoutFakeNodes'

    #: host name -> the hypervisor_hostname(s) its driver reports.
    hypervisors = {}

    #: Whether hosts reporting the same hypervisor see the same guests, as
    #: they would on a real shared hypervisor. Off by default: nova 34
    #: itself refuses a *new* compute service whose hypervisor already has
    #: guests, which would hide what the guard does in most tests.
    share_guests = False

    def setUp(self):
        self.flags(api_paste_config=hostguard_fixtures.nova_api_paste_ini(),
                   group='wsgi')
        self.hypervisors = dict(self.hypervisors)
        self.guests_by_hypervisor = collections.defaultdict(dict)
        self._patch_fake_driver()
        super().setUp()
        self.ctxt = nova_context.get_admin_context()

    def node_uuid(self, host, nodename):
        """The node identity a host's driver reports for a node."""
        return str(uuid.uuid5(hostguard_fixtures.NODE_ID_NAMESPACE,
                              '%s/%s' % (host, nodename)))

    def _patch_fake_driver(self):
        hypervisors = self.hypervisors
        test = self

        def init_host(driver, host):
            driver._host = host
            nodes = hypervisors.get(host, host)
            driver._set_nodes([nodes] if isinstance(nodes, str) else nodes)
            if test.share_guests:
                driver.instances = test.guests_by_hypervisor[
                    driver.get_available_nodes()[0]]

        def node_uuid(driver, nodename):
            return test.node_uuid(driver._host, nodename)

        def get_available_resource(driver, nodename):
            resources = fake.FakeDriver.get_available_resource(
                driver, nodename)
            resources['uuid'] = node_uuid(driver, nodename)
            return resources

        def get_nodenames_by_uuid(driver, refresh=False):
            return {node_uuid(driver, n): n
                    for n in driver.get_available_nodes()}

        cls = fake.FakeDriverWithoutFakeNodes
        for name, func in (('init_host', init_host),
                           ('get_available_resource', get_available_resource),
                           ('get_nodenames_by_uuid', get_nodenames_by_uuid)):
            self.useFixture(hostguard_fixtures.fixtures.MockPatchObject(
                cls, name, func))

    # What the database holds, read directly, not through the guard.

    def live_compute_nodes(self):
        """(host, hypervisor_hostname, uuid) of every live compute node."""
        return sorted(
            (cn.host, cn.hypervisor_hostname, cn.uuid)
            for cn in objects.ComputeNodeList.get_all(self.ctxt))

    def table_rows(self, table):
        """Every row of a main database table, as sorted tuples."""
        return databases.table_rows(main_db_api.get_engine(), table)
