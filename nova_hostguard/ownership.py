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

"""Who owns a hypervisor: the decision, free of any database or RPC.

A hypervisor is identified by the ``hypervisor_hostname`` its driver reports.
Names are compared exactly, as nova stores them: case, surrounding white
space and every code point count, on every database backend. Two
nova-compute services managing the same hypervisor get that name from the
hypervisor itself, so they report the same string; any folding rule would
have to be implemented identically by Python, SQLite, MariaDB and
PostgreSQL, whose case-folding functions and collations do not agree. A
NULL name is no identity and never conflicts; the empty string is a name
like any other.
"""

import collections

from nova_hostguard import display

#: A live compute node record that owns a hypervisor.
Owner = collections.namedtuple(
    'Owner', ['host', 'node_uuid', 'hypervisor_hostname'])


def same_name(stored, wanted):
    """Whether two hypervisor_hostname values name the same hypervisor."""
    return stored is not None and wanted is not None and stored == wanted


def other_owners(nodes, hypervisor_hostname, host):
    """The live owners of ``hypervisor_hostname`` other than ``host``.

    :param nodes: iterable of objects with ``host``, ``uuid``,
        ``hypervisor_hostname`` and ``deleted`` attributes; may be a
        superset of the matches (a case-insensitive collation, a ``LIKE``).
    :returns: a list of :class:`Owner`, sorted by host then node uuid.
    """
    owners = {
        Owner(node.host, node.uuid, node.hypervisor_hostname)
        for node in nodes
        if not node.deleted
        and same_name(node.hypervisor_hostname, hypervisor_hostname)
        and node.host != host
    }
    return sorted(owners, key=lambda o: (o.host or '', o.node_uuid or ''))


def refusal_message(hypervisor_hostname, host, owners):
    """Say which host owns the hypervisor and what the operator should do.

    :param owners: list of ``(Owner, service_state)`` pairs, at least one.
    """
    held_by = ', '.join(
        '%s (compute node %s, %s)' % (
            display.quoted(owner.host), display.bare(str(owner.node_uuid)),
            state)
        for owner, state in owners)
    first_owner = owners[0][0]
    return (
        'nova-hostguard: hypervisor %(hv)s is already managed by host%(s)s '
        '%(held_by)s; refusing to create a second compute node record for '
        'it on host %(host)s. One hypervisor must be managed by one host '
        '(nova bug 1419785). If this nova-compute is a standby for %(owner)s '
        'in an active/passive pair, it must take over as %(owner)s: set '
        '"[DEFAULT] host = %(owner_value)s" in its nova.conf and, if its '
        'driver keeps a node identity file (compute_id in [DEFAULT] '
        'state_path), make that file hold %(owner_node)s. If the hypervisor '
        'really moved to %(host)s, delete the old compute service first '
        '("openstack compute service delete" with the id of the '
        'nova-compute service of %(owner)s), then restart this service.' % {
            'hv': display.quoted(hypervisor_hostname),
            's': 's' if len(owners) > 1 else '',
            'held_by': held_by,
            'host': display.quoted(host),
            'owner': display.quoted(first_owner.host),
            'owner_value': display.bare(first_owner.host),
            'owner_node': display.bare(str(first_owner.node_uuid)),
        })


#: What nova's services table holds at most in ``disabled_reason``.
DISABLED_REASON_LENGTH = 255

#: How a disabled_reason written by the guard begins.
DISABLED_REASON_PREFIX = 'nova-hostguard: '


def disabled_reason(hypervisor_hostname, owners):
    """The refused host's service disabled_reason: who owns what.

    Short enough for nova's column; the log has the whole refusal.

    :param owners: list of :class:`Owner`, at least one.
    """
    reason = ('%shypervisor %s is managed by host%s %s; refused a second '
              'compute node record for it, see this nova-compute log' % (
                  DISABLED_REASON_PREFIX, display.quoted(hypervisor_hostname),
                  's' if len(owners) > 1 else '',
                  ', '.join(display.quoted(owner.host) for owner in owners)))
    if len(reason) > DISABLED_REASON_LENGTH:
        reason = reason[:DISABLED_REASON_LENGTH - 3] + '...'
    return reason


def describe_service(service, is_up):
    """A short state of an owner's nova-compute service, for the message.

    A service stays "up" for ``[DEFAULT] service_down_time`` after its last
    heartbeat, so the time of that heartbeat is given too: an operator in
    the middle of a failover needs it to judge whether the owner is dead.

    :param service: the owner's ``Service`` object, or None if it has none.
    :param is_up: whether the service group considers the service up.
    """
    if service is None:
        return 'no nova-compute service'
    state = ['nova-compute service %s' % ('up' if is_up else 'down')]
    if service.disabled:
        state.append('disabled')
    if service.forced_down:
        state.append('forced down')
    heartbeat = last_heartbeat(service)
    if heartbeat is not None:
        state.append('last heartbeat %s' % heartbeat.strftime(
            '%Y-%m-%d %H:%M:%S UTC'))
    return ', '.join(state)


def last_heartbeat(service):
    """A service's last heartbeat, as nova's database service group reads it.

    ``last_seen_up``; a service that has not reported yet counts from its
    creation (``created_at``). Not ``updated_at``: any change of the row
    (an operator disabling the service) sets that.

    :param service: a ``Service`` object or a ``services`` row.
    """
    return (getattr(service, 'last_seen_up', None) or
            getattr(service, 'created_at', None))


def is_up(service, service_down_time, now):
    """Up as nova's servicegroup reads it: not forced down, heartbeat fresh.

    A heartbeat later than ``now`` (clocks apart) counts as up: for a
    repair, up is the side that refuses.
    """
    heartbeat = last_heartbeat(service)
    return not service.forced_down and heartbeat is not None and (
        now - heartbeat).total_seconds() <= service_down_time


def move_allowed(owner_is_live, rebalancing, owner_serves_elsewhere):
    """Whether a compute node record may move from its owner to a new host.

    nova's resource tracker moves a record it finds by uuid to the host
    that reports the node (an ironic node, by ``save()`` of ``host``). That
    is nova's failover when the owner is down or forced down, and its
    rebalancing in ironic's hash-ring mode, where every live nova-compute
    without ``[ironic] shard`` takes the nodes the ring gives it.

    From a live owner whose every node is one the new host serves too, it
    is a takeover: two services configured for one set of nodes (one
    ``[ironic] shard``), which would trade them on every periodic run. A
    live owner that also has nodes the new host does not serve is the
    service of another set: this node was moved out of it (the operator
    changed its shard or conductor group), and it goes.

    :param owner_is_live: the owner's nova-compute service is up and not
        forced down.
    :param rebalancing: the new host's driver spreads nodes over every
        live service itself (ironic's hash-ring mode).
    :param owner_serves_elsewhere: the owner has nodes that the new host
        does not serve.
    """
    return not owner_is_live or rebalancing or owner_serves_elsewhere


def move_refusal_message(hypervisor_hostname, node_uuid, host, owner,
                         owner_state, shared):
    """Say who keeps a node, why, and how the operator really moves it.

    :param shared: how many other nodes of the owner ``host`` serves too.
    """
    return (
        'nova-hostguard: node %(hv)s (compute node %(uuid)s) is managed by '
        'host %(owner)s (%(state)s), whose other %(shared)d node%(s)s host '
        '%(host)s serves too, and no other: two nova-compute services '
        'are configured for the same nodes (with ironic, the same '
        '[ironic] shard or conductor group), and nova would move the nodes '
        'between them on every periodic run. The node stays with host '
        '%(owner)s; host %(host)s does not report it. nova requires at most '
        'one nova-compute service per shard: run a standby with "[DEFAULT] '
        'host = %(owner_value)s" instead, started only when that one has '
        'stopped. To move the nodes to host %(host)s, stop the nova-compute '
        'service of %(owner)s and force it down ("openstack compute service '
        'set --down %(owner_value)s nova-compute"): the next run of host '
        '%(host)s takes its free nodes, and "nova-manage db '
        'ironic_compute_node_move" moves those with instances.' % {
            'hv': display.quoted(hypervisor_hostname),
            'uuid': display.bare(str(node_uuid)),
            'owner': display.quoted(owner),
            'owner_value': display.bare(owner),
            'state': owner_state,
            'shared': shared,
            's': '' if shared == 1 else 's',
            'host': display.quoted(host),
        })
