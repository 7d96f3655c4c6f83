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

"""The failover story, told by real nova 34 running in this process."""

import textwrap
import unittest

from nova import exception

from tests.functional import base


class Failover(base.SharedHypervisorTestCase):
    """hostA manages hv1 and fails; its standby starts as hostB."""

    hypervisors = {'hostA': 'hv1', 'hostB': 'hv1'}
    guard = False
    say = None

    def runTest(self):
        say = self.say
        if self.guard:
            self.enable_guard()
        self._start_compute('hostA')
        server = self._create_server(name='demo-server', networks='none')
        say('- hostA manages hypervisor hv1; server %s boots there: %s'
            % (server['name'], server['status']))
        self.computes['hostA'].stop()
        say('- hostA fails. Its standby starts for the same hypervisor with '
            '"[DEFAULT] host = hostB".')
        try:
            self._start_compute('hostB')
        except exception.InvalidConfiguration as e:
            say('- hostB REFUSES TO START:')
            say(str(e), 4)
        say('- compute node records now: %s' % ', '.join(
            '%s/%s' % (n[0], n[1]) for n in self.live_compute_nodes()))
        # 2.87: the last microversion showing capacity, and one that does
        # not ask each host for its uptime over RPC.
        self.admin_api.microversion = '2.87'
        hypervisors = self.admin_api.api_get(
            '/os-hypervisors/detail').body['hypervisors']
        say('- GET /os-hypervisors/detail: %s; %d vCPUs in all for one '
            'hypervisor of %d' % (
                ', '.join('%s on %s (%s)' % (
                    h['hypervisor_hostname'], h['service']['host'],
                    h['state']) for h in hypervisors),
                sum(h['vcpus'] for h in hypervisors),
                hypervisors[0]['vcpus']))
        say('- placement resource providers: %s' % ', '.join(
            p['name'] for p in self._get_all_providers()))
        server = self.api.get_server(server['id'])
        say('- server %s: %s on %s' % (
            server['name'], server['status'],
            server['OS-EXT-SRV-ATTR:host']))


def tell_the_story(out):
    def say(text='', indent=0):
        for line in textwrap.wrap(text, 76 - indent) or ['']:
            out.write(' ' * (2 + indent) + line + '\n')

    out.write('nova-hostguard demo: one hypervisor (hv1), two nova-compute '
              'hosts,\nreal nova 34 in this process.\n')
    failed = False
    for title, guard in (
            ('1. Without the guard', False),
            ('2. With the guard ([DEFAULT] config_source = hostguard)', True)):
        out.write('\n%s\n' % title)
        case = Failover()
        case.guard = guard
        case.say = say
        result = unittest.TestResult()
        case.run(result)
        for _test, trace in result.errors + result.failures:
            failed = True
            out.write('the demo itself failed:\n%s\n' % trace[-3000:])
    return 1 if failed else 0
