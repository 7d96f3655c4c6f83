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

"""Bug 1419785, step by step, on any cloud, reporting what it observes.

One implementation of the story, run by the demo (nova in-process), the
local multi-process tests and the devstack gate jobs. It drives the cloud
through nova's REST API like an operator, and through a small service
control interface (:class:`Cloud`) like an HA manager: start or stop the
nova-compute of one of two machines, with a ``[DEFAULT] host`` value.
Both machines manage the same hypervisor.

The story:

1. Commissioning: the primary starts as host A on the empty hypervisor;
   the standby is tried once (the primary stopped) with its own
   ``host = B``, then the primary runs again.
2. Production: a server boots on A.
3. The primary fails; the standby starts as B.
4. The operator reacts to what the standby did: if it runs, they treat A
   as dead and evacuate its server; if it refused to start, they follow
   the refusal (start it as A, with A's node identity).
5. If the primary was evacuated, it comes back. If the standby took over
   as A, the primary's nova-compute comes back as A too while the
   standby runs (on clouds of separate processes only).

Each observation is a :class:`Check` that holds or not; nothing is assumed.
"""

import collections
import time

#: One observation: a name, whether it holds, and what was seen.
Check = collections.namedtuple('Check', ['name', 'holds', 'detail'])

#: One row of compute_nodes: the fields the story reads, and the whole row
#: (every column, for "unchanged").
Record = collections.namedtuple(
    'Record', ['host', 'hypervisor_hostname', 'uuid', 'deleted', 'row'])

PRIMARY = 'primary'
STANDBY = 'standby'

#: What each expected outcome means, for people.
OUTCOMES = {
    'refusal': 'the standby is refused with the guard\'s message; nothing is '
               'lost or changed',
    'bug': 'nova 34 splits the hypervisor between two hosts',
}

#: The checks that must hold for each expected outcome.
EXPECTATIONS = {
    # The guard on: the standby is refused with our message and nothing is
    # lost or changed.
    'refusal': ('standby_refused_by_hostguard', 'compute_nodes_unchanged',
                'server_active_on_owner', 'guest_on_hypervisor',
                'one_owner_in_the_end'),
    # The guard off: nova 34 splits the hypervisor.
    'bug': ('hypervisor_split',),
}

#: Checks that must hold for an outcome where the cloud can observe them:
#: a second nova-compute process as one host needs separate processes.
EXPECTATIONS_IF_OBSERVED = {
    'refusal': ('second_process_refused',),
}


class Cloud:
    """What the story needs from a cloud (an interface; see subclasses).

    ``hypervisor``, ``host_a`` and ``host_b`` are names; ``client`` has
    ``compute(method, path, body=None, microversion=None)`` returning
    ``(status, body)``, and ``providers()`` returning the names of
    placement's resource providers.
    """

    hypervisor = None
    host_a = None
    host_b = None
    client = None
    #: Whether each machine's nova-compute is a process of its own, so
    #: that two of them can run as one host at once.
    separate_processes = False

    def start_compute(self, machine, host):
        """Start the machine's nova-compute as ``host``; wait for it.

        :returns: ``(running, output)``: whether it runs once started (it
            may refuse to), and what it logged.
        """
        raise NotImplementedError()

    def stop_compute(self, machine):
        raise NotImplementedError()

    def guests(self):
        """The uuids of the guests the hypervisor itself runs."""
        raise NotImplementedError()

    def compute_nodes(self):
        """Every row of ``compute_nodes`` as :class:`Record`, by id."""
        raise NotImplementedError()

    def set_node_identity(self, machine, node_uuid):
        """Give the machine's nova-compute this node identity."""
        raise NotImplementedError()

    def boot_request(self):
        """The body of ``POST /servers`` for a small server, no network."""
        raise NotImplementedError()

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError('timed out after %ss waiting for %s'
                           % (timeout, what))


class Story:
    """Runs the steps; collects checks; tells what happens as it goes."""

    SERVER_TIMEOUT = 120

    def __init__(self, cloud, say=print):
        self.cloud = cloud
        self.say = say
        self.checks = []

    def check(self, name, holds, detail):
        self.checks.append(Check(name, bool(holds), detail))
        self.say('    [%s] %s: %s' % ('x' if holds else ' ', name, detail))

    # What the API shows.

    def server(self, server_id):
        status, body = self.cloud.client.compute(
            'GET', '/servers/%s' % server_id)
        return body['server']

    def wait_for_server(self, server_id, what):
        def settled():
            server = self.server(server_id)
            if server['OS-EXT-STS:task_state'] is None and \
                    server['status'] != 'BUILD':
                return server
        return self.cloud.wait(settled, self.SERVER_TIMEOUT, what)

    def hypervisor_records(self):
        # 2.87: the last microversion showing capacity; it does not ask
        # each host for its uptime over RPC either.
        status, body = self.cloud.client.compute(
            'GET', '/os-hypervisors/detail', microversion='2.87')
        return [h for h in body['hypervisors']
                if h['hypervisor_hostname'] == self.cloud.hypervisor]

    def live_records(self):
        return [r for r in self.cloud.compute_nodes()
                if r.hypervisor_hostname == self.cloud.hypervisor and
                not r.deleted]

    def service_id(self, host):
        status, body = self.cloud.client.compute(
            'GET', '/os-services?binary=nova-compute&host=%s' % host,
            microversion='2.53')
        return body['services'][0]['id']

    def force_down(self, host, down):
        self.cloud.client.compute(
            'PUT', '/os-services/%s' % self.service_id(host),
            {'forced_down': down}, microversion='2.53')

    # The steps.

    def run(self):
        cloud = self.cloud
        a, b = cloud.host_a, cloud.host_b
        self.say('1. Commissioning. The primary starts as %s on the empty '
                 'hypervisor %s; the standby is tried once as %s.'
                 % (a, cloud.hypervisor, b))
        self.start(PRIMARY, a)
        cloud.stop_compute(PRIMARY)
        running, log = cloud.start_compute(STANDBY, b)
        self.say('    the standby %s' % ('ran' if running else
                                         'refused to start'))
        if running:
            cloud.stop_compute(STANDBY)
        self.start(PRIMARY, a)

        self.say('2. Production. A server boots on %s.' % a)
        status, body = cloud.client.compute(
            'POST', '/servers', cloud.boot_request())
        server_id = body['server']['id']
        server = self.wait_for_server(server_id, 'the server to boot')
        self.check('server_booted_on_owner',
                   server['status'] == 'ACTIVE' and
                   server['OS-EXT-SRV-ATTR:host'] == a,
                   '%s on %s' % (server['status'],
                                 server['OS-EXT-SRV-ATTR:host']))

        self.say('3. The primary fails. The standby starts as %s.' % b)
        cloud.stop_compute(PRIMARY)
        before = cloud.compute_nodes()
        running, log = cloud.start_compute(STANDBY, b)
        refusal = _refusal_line(log)
        self.check('standby_refused_by_hostguard', not running and refusal,
                   refusal or ('it runs' if running else
                               'it stopped without our message'))
        after = cloud.compute_nodes()
        self.check('compute_nodes_unchanged', after == before,
                   'compute_nodes %s by the standby\'s start' % (
                       'unchanged' if after == before else
                       'changed (%d rows, %d before)' % (
                           len(after), len(before))))
        records = self.live_records()
        self.check('hypervisor_split', len({r.host for r in records}) > 1,
                   '%d live compute node record(s) for %s: %s' % (
                       len(records), cloud.hypervisor,
                       ', '.join(sorted(r.host for r in records))))
        listed = self.hypervisor_records()
        self.check('hypervisor_listed_twice', len(listed) > 1,
                   'GET /os-hypervisors lists %s %d time(s), %s' % (
                       cloud.hypervisor, len(listed), ', '.join(
                           '%s %s' % (h['service']['host'], h['state'])
                           for h in listed)))
        self.check('capacity_counted_twice', len(listed) > 1,
                   '%d vCPUs listed for one hypervisor of %d' % (
                       sum(h['vcpus'] for h in listed),
                       listed[0]['vcpus'] if listed else 0))
        providers = [p for p in cloud.client.providers()
                     if p == cloud.hypervisor]
        self.check('one_placement_provider', len(providers) == 1,
                   'placement has %d resource provider(s) named %s' % (
                       len(providers), cloud.hypervisor))

        if running:
            self.evacuate_then_primary_returns(server_id, a, b)
        else:
            self.follow_the_refusal(a)

        self.say('Afterwards:')
        server = self.wait_for_server(server_id, 'the server to settle')
        guests = cloud.guests()
        self.check('server_active_on_owner',
                   server['status'] == 'ACTIVE' and
                   server['OS-EXT-SRV-ATTR:host'] == a,
                   'the API says %s on %s' % (
                       server['status'], server['OS-EXT-SRV-ATTR:host']))
        self.check('guest_on_hypervisor', server_id in guests,
                   'the hypervisor runs %s' % (
                       'the guest' if server_id in guests else 'no guest'))
        self.check('guest_destroyed_while_api_says_active',
                   server['status'] == 'ACTIVE' and server_id not in guests,
                   'bug 1419785 as reported in 2015')
        owners = sorted(r.host for r in self.live_records())
        self.check('one_owner_in_the_end', owners == [a],
                   'live compute node record(s) for %s: %s' % (
                       cloud.hypervisor, ', '.join(owners)))
        return self.checks

    def start(self, machine, host):
        running, log = self.cloud.start_compute(machine, host)
        if not running:
            raise RuntimeError('the %s could not start as %s:\n%s'
                               % (machine, host, log[-3000:]))

    def evacuate_then_primary_returns(self, server_id, a, b):
        cloud = self.cloud
        self.say('4. The operator takes %s for dead: forces it down and '
                 'evacuates its server.' % a)
        self.force_down(a, True)
        status, body = cloud.client.compute(
            'POST', '/servers/%s/action' % server_id, {'evacuate': {}},
            microversion='2.53')
        server = self.wait_for_server(server_id, 'the evacuation')
        status, body = cloud.client.compute(
            'GET', '/os-migrations?instance_uuid=%s' % server_id,
            microversion='2.59')
        migrations = [m for m in body['migrations']
                      if m['migration_type'] == 'evacuation']
        fault = (server.get('fault') or {}).get('message', '')
        self.check('evacuated_to_standby',
                   server['OS-EXT-SRV-ATTR:host'] == b,
                   'evacuation %s; the server is %s on %s%s' % (
                       migrations[0]['status'] if migrations else 'refused',
                       server['status'], server['OS-EXT-SRV-ATTR:host'],
                       ' (%s)' % fault if fault else ''))
        self.say('5. %s comes back.' % a)
        cloud.stop_compute(STANDBY)
        self.force_down(a, False)
        running, log = cloud.start_compute(PRIMARY, a)
        destroyed = 'has been evacuated from this host' in log
        self.check('primary_destroyed_guest', destroyed,
                   'the primary %s "Destroying instance as it has been '
                   'evacuated"' % ('logged' if destroyed else 'did not log'))

    def follow_the_refusal(self, a):
        cloud = self.cloud
        owner = [r.uuid for r in self.live_records() if r.host == a]
        self.say('4. The operator follows the refusal: the standby takes '
                 'over as %s with its node identity %s.'
                 % (a, owner[0] if owner else '?'))
        if owner:
            cloud.set_node_identity(STANDBY, owner[0])
        running, log = cloud.start_compute(STANDBY, a)
        self.check('standby_took_over_as_owner', running,
                   'the standby %s as %s' % (
                       'runs' if running else 'did not start', a))
        if not running:
            return
        if not cloud.separate_processes:
            self.say('5. (The primary coming back as %s while the standby '
                     'runs as %s needs nova-compute processes of their '
                     'own: not shown on this cloud.)' % (a, a))
            return
        self.say('5. The primary comes back as %s while the standby runs '
                 'as %s.' % (a, a))
        running, log = cloud.start_compute(PRIMARY, a)
        refusal = _line_from(log, 'nova-hostguard: another nova-compute')
        self.check('second_process_refused', not running and refusal,
                   refusal or ('both run as %s' % a if running else
                               'it stopped without our message'))
        if running:
            cloud.stop_compute(PRIMARY)


def _line_from(log, start):
    for line in log.splitlines():
        if start in line:
            return line[line.index(start):]
    return None


def _refusal_line(log):
    for line in log.splitlines():
        if 'nova-hostguard: hypervisor' in line:
            return line[line.index('nova-hostguard: hypervisor'):]
    return None


def verdict(checks, expect):
    """The checks an expectation needs that do not hold (empty: met)."""
    holds = {c.name: c.holds for c in checks}
    return [name for name in EXPECTATIONS[expect] if not holds.get(name)] + [
        name for name in EXPECTATIONS_IF_OBSERVED.get(expect, ())
        if name in holds and not holds[name]]
