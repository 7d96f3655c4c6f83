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

"""The check run before nova-compute moves a compute node to its host.

nova's resource tracker finds a node's record by uuid and, when it names
another host, moves it with ``save()`` of ``host`` ("ComputeNode <uuid>
moving from <old> to <new>"): no ``create()``, one row, so neither the
guarded create nor the unique constraint sees it. This is how two
nova-compute services given the same ``[ironic] shard`` trade every node
of it on every periodic run.

The check runs where the record is found (``ResourceTracker.
_get_compute_node``), before nova changes anything: the record, the
placement provider and the tracker's own state stay the owner's. It runs
in nova-compute only: whether a move is ironic's hash-ring rebalancing
depends on the moving service's ``[ironic]`` options, which nova-conductor
does not see. The decision is :func:`nova_hostguard.ownership.
move_allowed`; this module gathers its facts and acts on it.

A refused node is one refused node: the host's other nodes go on, its
service is not disabled, and the refusal is logged once per node and
owner. A host that owns no node yet is a second service for the owner's
nodes: its first refusal raises nova's ``InvalidConfiguration``, fatal at
start. Every other refusal raises ``ComputeHostNotFound``, which nova
reports as a one-line warning and skips, so a host with nodes of its own
still starts.
"""

import functools
import threading

from nova import conf as nova_conf
from nova import exception
from nova import objects
from oslo_log import log as logging

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import guard
from nova_hostguard import ownership

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF

#: (node uuid, owner host) pairs refused and logged by this process.
_refused = set()
_refused_lock = threading.Lock()
#: The nodes served, for the driver's node list of its current run.
_served = {}


def checking_moves(get_compute_node):
    """Wrap nova's ``ResourceTracker._get_compute_node``.

    The record it returns is checked when it is live and names another
    host: nova is about to move it to the tracker's host.
    """
    if getattr(get_compute_node, '_hostguard_moves', False):
        return get_compute_node

    @functools.wraps(get_compute_node)
    def get_compute_node_checked(tracker, context, *args, **kwargs):
        compute_node = get_compute_node(tracker, context, *args, **kwargs)
        if (compute_node is not None and not compute_node.deleted and
                compute_node.host != tracker.host):
            check_move(tracker, context, compute_node)
        return compute_node
    get_compute_node_checked._hostguard_moves = True
    return get_compute_node_checked


def check_move(tracker, context, compute_node):
    """Refuse (or warn about) moving a live owner's node to this host.

    :raises: nova.exception.InvalidConfiguration when this host owns no
        node and this node's refusal is new to the process (a second
        service: fatal at start); ComputeHostNotFound otherwise (nova
        skips the node). ``enforce`` mode only.
    """
    # nova reads the record with read_deleted='yes' (to revive it); the
    # owner's service is read as nova's service group reads it.
    context = context.elevated(read_deleted='no')
    owner = compute_node.host
    service = _service(context, owner)
    is_live = service is not None and guard.service_is_up(service)
    rebalancing = is_live and rebalances(tracker.driver, owner)
    elsewhere, shared = False, 0
    if is_live and not rebalancing:
        served = nodes_served(tracker.driver)
        owned = {cn.hypervisor_hostname
                 for cn in _nodes_of(context, owner)}
        owned.discard(compute_node.hypervisor_hostname)
        elsewhere = bool(owned - served)
        shared = len(owned & served)
    key = (compute_node.uuid, owner)
    if ownership.move_allowed(is_live, rebalancing, elsewhere):
        with _refused_lock:
            _refused.discard(key)
        return
    message = ownership.move_refusal_message(
        compute_node.hypervisor_hostname, compute_node.uuid, tracker.host,
        owner, ownership.describe_service(service, is_live), shared)
    with _refused_lock:
        first = key not in _refused
        _refused.add(key)
    if guard.mode() == hostguard_conf.MODE_WARN:
        if first:
            LOG.warning('%s ([hostguard] mode = warn: moving it anyway.)',
                        message)
        return
    if first:
        LOG.error(message)
        if not _nodes_of(context, tracker.host):
            raise exception.InvalidConfiguration(message)
    LOG.debug('nova-hostguard: node %s stays with host %s (logged once '
              'above).', compute_node.hypervisor_hostname, owner)
    raise exception.ComputeHostNotFound(host=owner)


def rebalances(driver, owner):
    """Whether the driver's own ring gave this host a node of ``owner``.

    nova's ironic driver hands each node to one member of its hash ring
    and moves nodes between members when the ring changes: nova's
    (deprecated, supported) rebalancing. The ring holds every live ironic
    nova-compute without a shard, the live hosts of ``[ironic] peer_list``
    with a conductor group, and this host alone with ``[ironic] shard``
    (or a ``peer_list`` of itself): a move from a host outside it is not
    a rebalance. A driver without a ring that says it rebalances
    (``rebalances_nodes``, nova's fake drivers) does so without a shard.
    """
    ring = getattr(driver, 'hash_ring', None)
    if ring is not None:
        return owner.lower() in ring.nodes
    return (getattr(driver, 'rebalances_nodes', False) and
            not CONF.ironic.shard)


def nodes_served(driver):
    """Every node this host is configured to serve, in use or not.

    For nova's ironic driver with ``[ironic] shard``: every node of the
    shard (and conductor group), asked of ironic: the driver itself
    reports only those free or running this host's instances, so a node
    running another host's instance is still one this host serves. For
    other drivers: the nodes they report.
    """
    from nova.virt.ironic import driver as ironic_driver

    if not isinstance(driver, ironic_driver.IronicDriver):
        return set(driver.get_available_nodes())
    # The same filters nova's driver lists its nodes with.
    filters = {}
    if CONF.ironic.conductor_group is not None:
        filters['conductor_group'] = CONF.ironic.conductor_group
    if CONF.ironic.shard:
        filters['shard'] = CONF.ironic.shard
    # Asked once per refresh of the driver's own node list (once per
    # periodic run), however many nodes are checked in it.
    key = (id(driver), getattr(driver, 'node_cache_time', None),
           tuple(sorted(filters.items())))
    served = _served.get(key)
    if served is None:
        served = {node.id for node in
                  driver._get_node_list(fields=('uuid',), **filters)}
        _served.clear()
        _served[key] = served
    return served


def _service(context, host):
    try:
        return objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return None


def _nodes_of(context, host):
    """The host's live compute node records (nova raises for none)."""
    try:
        return objects.ComputeNodeList.get_all_by_host(context, host)
    except exception.ComputeHostNotFound:
        return []
