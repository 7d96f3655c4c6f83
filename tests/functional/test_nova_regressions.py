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

"""nova's own regression tests of ironic's node moves, with the guard on.

nova's test, unchanged, run with the guard switched on first: hash-ring
rebalancing between live services (bug 1853009) must still move the node
back and forth exactly as nova expects. The module is imported, not its
class, so that nova's unguarded test is not collected here a second time.
"""

from nova.tests.functional.regressions import test_bug_1853009

from tests.harness import fixtures as hostguard_fixtures


class GuardedBug1853009Test(
        hostguard_fixtures.GuardSwitch,
        test_bug_1853009.NodeRebalanceDeletedComputeNodeRaceTestCase):

    def setUp(self):
        self.flags(api_paste_config=hostguard_fixtures.nova_api_paste_ini(),
                   group='wsgi')
        super().setUp()
        self.enable_guard()
        # The guard's move check runs on each of nova's moves.
        self.checked = []
        from nova_hostguard import moves
        check = moves.check_move

        def record(tracker, context, compute_node):
            self.checked.append((compute_node.host, tracker.host))
            return check(tracker, context, compute_node)
        self.useFixture(hostguard_fixtures.fixtures.MonkeyPatch(
            'nova_hostguard.moves.check_move', record))

    def test_node_rebalance_deleted_compute_node_race(self):
        super().test_node_rebalance_deleted_compute_node_race()
        self.assertIn(('host_b', 'host_a'), self.checked)
        self.assertIn(('host_a', 'host_b'), self.checked)
