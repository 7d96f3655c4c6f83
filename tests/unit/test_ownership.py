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

"""The ownership decision, without nova, a database or RPC."""

import collections
import datetime

import testtools

from nova_hostguard import ownership

Node = collections.namedtuple(
    'Node', ['host', 'uuid', 'hypervisor_hostname', 'deleted'])


def node(host, name, uuid=None, deleted=0):
    return Node(host, uuid or 'uuid-%s-%s' % (host, name), name, deleted)


class SameNameTest(testtools.TestCase):
    """Names are compared exactly: case, spaces and code points count."""

    def test_equal_strings_are_the_same_hypervisor(self):
        self.assertTrue(ownership.same_name('hv1', 'hv1'))
        self.assertTrue(ownership.same_name('', ''))
        self.assertTrue(ownership.same_name('h' * 255, 'h' * 255))
        self.assertTrue(ownership.same_name('hv-ü', 'hv-ü'))

    def test_any_difference_is_another_hypervisor(self):
        for stored, wanted in [('hv1', 'HV1'), ('hv1', 'hv1 '),
                               ('hv1', ' hv1'), ('hv1', 'hv10'),
                               ('hv-ü', 'hv-u'), ('hv-ü', 'hv-Ü'),
                               # NFC and NFD spellings of the same text
                               ('hv-\u00fc', 'hv-u\u0308'),
                               ('', ' '), ('h' * 255, 'h' * 254)]:
            self.assertFalse(ownership.same_name(stored, wanted),
                             (stored, wanted))

    def test_null_names_nothing(self):
        self.assertFalse(ownership.same_name(None, None))
        self.assertFalse(ownership.same_name(None, ''))
        self.assertFalse(ownership.same_name('', None))


class OtherOwnersTest(testtools.TestCase):

    def test_a_live_node_of_another_host_owns_it(self):
        owners = ownership.other_owners(
            [node('hostA', 'hv1', uuid='u-a')], 'hv1', 'hostB')
        self.assertEqual([ownership.Owner('hostA', 'u-a', 'hv1')], owners)

    def test_own_host_deleted_rows_and_other_names_do_not(self):
        nodes = [node('hostB', 'hv1'),            # this host (restart)
                 node('hostA', 'hv1', deleted=7),  # soft-deleted
                 node('hostA', 'hv10'),           # LIKE '%hv1%'
                 node('hostA', 'HV1'),            # a ci collation
                 node('hostA', 'hv1 '),           # a PAD SPACE collation
                 node('hostA', None)]
        self.assertEqual([], ownership.other_owners(nodes, 'hv1', 'hostB'))

    def test_hosts_differing_in_case_are_different_hosts(self):
        # nova compares host names exactly as well (instance.host, the
        # services table): 'HostA' would be a second host.
        owners = ownership.other_owners([node('hostA', 'hv1')], 'hv1',
                                        'HostA')
        self.assertEqual(['hostA'], [o.host for o in owners])

    def test_null_name_never_conflicts(self):
        self.assertEqual([], ownership.other_owners(
            [node('hostA', None)], None, 'hostB'))

    def test_every_owner_once_sorted_by_host_then_uuid(self):
        nodes = [node('hostC', 'hv1', uuid='u2'),
                 node('hostA', 'hv1', uuid='u9'),
                 node('hostC', 'hv1', uuid='u1'),
                 node('hostA', 'hv1', uuid='u9')]
        self.assertEqual(
            [('hostA', 'u9'), ('hostC', 'u1'), ('hostC', 'u2')],
            [(o.host, o.node_uuid)
             for o in ownership.other_owners(nodes, 'hv1', 'hostB')])


class RefusalMessageTest(testtools.TestCase):

    def _message(self, owners, name='hv1', host='hostB'):
        return ownership.refusal_message(
            name, host,
            [(ownership.Owner(h, 'u-' + h, name), state)
             for h, state in owners])

    def test_names_hypervisor_owner_state_this_host_and_both_fixes(self):
        message = self._message([('hostA', 'nova-compute service down')])
        self.assertIn("hypervisor 'hv1' is already managed by host 'hostA' "
                      "(compute node u-hostA, nova-compute service down)",
                      message)
        self.assertIn("second compute node record for it on host 'hostB'",
                      message)
        self.assertIn('nova bug 1419785', message)
        self.assertIn('it must take over as \'hostA\': set "[DEFAULT] host = '
                      'hostA" in its nova.conf and, if its driver keeps a '
                      'node identity file (compute_id in [DEFAULT] '
                      'state_path), make that file hold u-hostA.', message)
        self.assertIn('openstack compute service delete', message)

    def test_several_owners_are_all_named(self):
        message = self._message([('hostA', 's1'), ('hostC', 's2')])
        self.assertIn("managed by hosts 'hostA' (compute node u-hostA, s1), "
                      "'hostC' (compute node u-hostC, s2)", message)
        self.assertIn('"[DEFAULT] host = hostA"', message)

    def test_control_characters_in_names_are_escaped(self):
        # Names come from a driver and a database: a log line must not let
        # them forge lines or drive a terminal.
        message = self._message([('host\nA\x1b[2J', 's')],
                                name='hv\r1', host='B\x07')
        self.assertNotIn('\n', message)
        self.assertNotIn('\r', message)
        self.assertNotIn('\x1b', message)
        self.assertNotIn('\x07', message)
        self.assertIn(r"'host\nA\x1b[2J'", message)
        self.assertIn(r'"[DEFAULT] host = host\nA\x1b[2J"', message)
        self.assertIn(r"'hv\r1'", message)

    def test_unicode_and_empty_names_are_shown_as_they_are(self):
        message = self._message([('höst', 's')], name='')
        self.assertIn("hypervisor '' is already managed by host 'höst'",
                      message)


class DescribeServiceTest(testtools.TestCase):

    Service = collections.namedtuple(
        'Service', ['disabled', 'forced_down', 'last_seen_up', 'created_at'])

    def test_states(self):
        self.assertEqual('no nova-compute service',
                         ownership.describe_service(None, False))
        self.assertEqual('nova-compute service up', ownership.describe_service(
            self.Service(False, False, None, None), True))
        heartbeat = datetime.datetime(2026, 11, 25, 13, 5, 9, 77,
                                      tzinfo=datetime.timezone.utc)
        self.assertEqual(
            'nova-compute service down, disabled, forced down, last '
            'heartbeat 2026-11-25 13:05:09 UTC',
            ownership.describe_service(
                self.Service(True, True, heartbeat, None), False))

    def test_a_service_that_never_reported_counts_from_its_creation(self):
        created = datetime.datetime(2026, 11, 25, 12, 0, 1)
        self.assertEqual(
            'nova-compute service up, last heartbeat 2026-11-25 12:00:01 UTC',
            ownership.describe_service(
                self.Service(False, False, None, created), True))


class HeartbeatTest(testtools.TestCase):
    """nova's database service group rule, the one repair uses too."""

    Service = collections.namedtuple(
        'Service', ['forced_down', 'last_seen_up', 'created_at',
                    'updated_at'])
    now = datetime.datetime(2026, 11, 25, 12, 0, 0)

    def ago(self, seconds):
        return self.now - datetime.timedelta(seconds=seconds)

    def test_last_seen_up_else_created_at_never_updated_at(self):
        self.assertEqual(self.ago(5), ownership.last_heartbeat(
            self.Service(False, self.ago(5), self.ago(50), self.now)))
        self.assertEqual(self.ago(50), ownership.last_heartbeat(
            self.Service(False, None, self.ago(50), self.now)))

    def test_up_within_service_down_time_unless_forced_down(self):
        self.assertTrue(ownership.is_up(
            self.Service(False, self.ago(60), None, None), 60, self.now))
        self.assertFalse(ownership.is_up(
            self.Service(False, self.ago(61), None, None), 60, self.now))
        self.assertFalse(ownership.is_up(
            self.Service(True, self.now, None, None), 60, self.now))
        # A fresh updated_at (the row changed) is no heartbeat.
        self.assertFalse(ownership.is_up(
            self.Service(False, None, self.ago(3600), self.now), 60,
            self.now))


class DisabledReasonTest(testtools.TestCase):

    def test_names_the_hypervisor_and_every_owner(self):
        self.assertEqual(
            "nova-hostguard: hypervisor 'hv1' is managed by hosts 'hostA', "
            "'hostB'; refused a second compute node record for it, see this "
            "nova-compute log",
            ownership.disabled_reason('hv1', [
                ownership.Owner('hostA', 'u-a', 'hv1'),
                ownership.Owner('hostB', 'u-b', 'hv1')]))

    def test_fits_nova_services_column(self):
        name = 'h\x1b' * 100
        reason = ownership.disabled_reason(
            name, [ownership.Owner('hostA', 'u-a', name)])
        self.assertEqual(ownership.DISABLED_REASON_LENGTH, len(reason))
        self.assertTrue(reason.startswith(
            "nova-hostguard: hypervisor 'h\\x1b"), reason)
        self.assertTrue(reason.endswith('...'), reason)


class MoveAllowedTest(testtools.TestCase):
    """A node moves from its owner unless that takes it from a live one."""

    def test_from_a_live_owner_of_the_same_nodes_is_a_takeover(self):
        # Two services for one [ironic] shard: they would trade the nodes.
        self.assertFalse(ownership.move_allowed(
            owner_is_live=True, rebalancing=False,
            owner_serves_elsewhere=False))

    def test_from_an_owner_down_or_forced_down_is_failover(self):
        # nova's failover, and nova-manage db ironic_compute_node_move.
        self.assertTrue(ownership.move_allowed(
            owner_is_live=False, rebalancing=False,
            owner_serves_elsewhere=False))

    def test_hash_ring_rebalancing_between_live_services(self):
        self.assertTrue(ownership.move_allowed(
            owner_is_live=True, rebalancing=True,
            owner_serves_elsewhere=False))

    def test_a_node_moved_out_of_the_live_owners_set(self):
        # The operator moved the node to this host's shard: the owner
        # keeps nodes of its own shard, which this host does not serve.
        self.assertTrue(ownership.move_allowed(
            owner_is_live=True, rebalancing=False,
            owner_serves_elsewhere=True))

    def test_the_refusal_names_owner_and_remedies(self):
        message = ownership.move_refusal_message(
            'n-1', 'n-1', 'ironic-b', 'ironic-a',
            'nova-compute service up', 2)
        for part in ("node 'n-1'", "host 'ironic-a' (nova-compute service "
                     "up), whose other 2 nodes host 'ironic-b' serves too, "
                     "and no other", '"[DEFAULT] host = ironic-a"',
                     'openstack compute service set --down ironic-a '
                     'nova-compute', 'nova-manage db ironic_compute_node_move',
                     "The node stays with host 'ironic-a'"):
            self.assertIn(part, message)
        self.assertIn('other 1 node host',
                      ownership.move_refusal_message(
                          'n-1', 'n-1', 'b', 'a', 'up', 1))
