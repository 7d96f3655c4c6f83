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
service is not disabled, and the refusal is logged once per owner. The
first refusal raises nova's ``InvalidConfiguration`` (fatal at start, so a
second service for a live shard does not start; logged by nova in a
periodic run); later ones raise ``ComputeHostNotFound``, which nova's
periodic task reports as a warning and skips.
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

    :raises: nova.exception.InvalidConfiguration the first time a move
        from an owner is refused in this process, ComputeHostNotFound
        after that (``enforce`` mode).
    """
    # nova reads the record with read_deleted='yes' (to revive it); the
    # owner's service is read as nova's service group reads it.
    context = context.elevated(read_deleted='no')
    owner = compute_node.host
    service = _service(context, owner)
    is_live = service is not None and guard.service_is_up(service)
    rebalancing = rebalances(tracker.driver)
    elsewhere, shared = False, 0
    if is_live and not rebalancing:
        served = nodes_served(tracker.driver)
        owned = {cn.hypervisor_hostname for cn in
                 objects.ComputeNodeList.get_all_by_host(context, owner)}
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
        raise exception.InvalidConfiguration(message)
    LOG.debug('nova-hostguard: node %s stays with host %s (logged once '
              'above).', compute_node.hypervisor_hostname, owner)
    raise exception.ComputeHostNotFound(host=owner)


def rebalances(driver):
    """Whether the driver spreads nodes over every live service itself.

    nova's ``ComputeDriver.rebalances_nodes`` says so ("really here for
    ironic"): its ironic driver without ``[ironic] shard`` (hash-ring mode,
    or ``peer_list`` with ``conductor_group``) hands each node to one live
    ironic nova-compute, and nodes move between live services when the
    ring changes, which is nova's (deprecated, supported) design. With a
    shard, its ring is this host alone.
    """
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
    filters = {'shard': CONF.ironic.shard}
    if CONF.ironic.conductor_group is not None:
        filters['conductor_group'] = CONF.ironic.conductor_group
    # The same list nova's driver asks for, with the uuid alone.
    return {node.id for node in
            driver._get_node_list(fields=('uuid',), **filters)}


def _service(context, host):
    try:
        return objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return None
