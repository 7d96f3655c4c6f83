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

"""The check run before a compute node record becomes a live owner.

The refusal is nova's own ``InvalidConfiguration``: it is the exception
nova-compute treats as fatal at startup (``_update_available_resource_for_
node`` re-raises it), and, living in ``nova.exception``, it crosses RPC as
itself from a guarded nova-conductor to an unguarded nova-compute. An
exception of our own would reach such a nova-compute as a ``RemoteError``,
which it only logs before carrying on.
"""

from nova import exception
from nova import objects
from nova import servicegroup
from oslo_log import log as logging

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import lookup
from nova_hostguard import ownership

LOG = logging.getLogger(__name__)

_settings = {'conf': None, 'group': hostguard_conf.GROUP}
_servicegroup_api = []


def configure(conf, group):
    """Read options from ``conf[group]`` (set by the oslo.config driver)."""
    _settings['conf'] = conf
    _settings['group'] = group


def mode():
    conf = _settings['conf']
    if conf is None:
        return hostguard_conf.MODE_ENFORCE
    return conf[_settings['group']].mode


def check_new_owner(compute_node):
    """Refuse (or warn about) a second owner of the node's hypervisor.

    Called before nova creates the record (or revives a deleted one).

    :raises: nova.exception.InvalidConfiguration in ``enforce`` mode when
        a live compute node of another host has the same
        hypervisor_hostname.
    """
    message = _refusal(compute_node)
    if message is None:
        return
    if mode() == hostguard_conf.MODE_WARN:
        LOG.warning('%s ([hostguard] mode = warn: creating it anyway.)',
                    message)
        return
    LOG.error(message)
    raise exception.InvalidConfiguration(message)


def explain_duplicate(compute_node):
    """Turn the database's refusal of a second owner into ours.

    Called when nova's create failed with ``DuplicateRecord``: another
    creator won a race past :func:`check_new_owner`, and the unique
    constraint of ``nova-hostguard-manage db sync`` refused this one. The
    database has decided, whatever the mode. Returns quietly when no other
    host owns the hypervisor (the duplicate was nova's own business: its
    uuid or ``(host, hypervisor_hostname)`` constraints).

    :raises: nova.exception.InvalidConfiguration naming the winner.
    """
    message = _refusal(compute_node)
    if message is None:
        return
    LOG.error('%s (refused by the database: another compute node record '
              'for it was created at the same time)', message)
    raise exception.InvalidConfiguration(message)


def _refusal(compute_node):
    """The refusal message if another host owns the hypervisor, or None."""
    if not (compute_node.obj_attr_is_set('hypervisor_hostname') and
            compute_node.obj_attr_is_set('host')):
        return None
    name = compute_node.hypervisor_hostname
    host = compute_node.host
    if name is None:
        return None
    context = compute_node._context
    owners = ownership.other_owners(
        lookup.nodes_named(context, name), name, host)
    if not owners:
        return None
    return ownership.refusal_message(
        name, host, [(owner, _service_state(context, owner.host))
                     for owner in owners])


def _service_state(context, host):
    try:
        service = objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return ownership.describe_service(None, False)
    if not _servicegroup_api:
        _servicegroup_api.append(servicegroup.API())
    return ownership.describe_service(
        service, _servicegroup_api[0].service_is_up(service))
