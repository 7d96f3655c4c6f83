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

nova stops nova-compute on that exception only at startup; in ``enforce``
mode the guard also disables the refused host's nova-compute service,
naming the owner, so that a refusal nova only logs (a periodic run) still
keeps servers away from the host.
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


def settings_conf():
    """The configuration the guard was switched on with, or None."""
    return _settings['conf']


def settings_group():
    return _settings['group']


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
    owners = _other_owners(compute_node)
    if not owners:
        return
    message = _refusal_message(compute_node, owners)
    if mode() == hostguard_conf.MODE_WARN:
        LOG.warning('%s ([hostguard] mode = warn: creating it anyway.)',
                    message)
        return
    LOG.error(message)
    _refuse(compute_node, owners, message)


def explain_duplicate(compute_node):
    """Turn the database's refusal of a second owner into ours.

    Called when nova's create failed with ``DuplicateRecord`` (or its save
    with ``DBDuplicateEntry``): another creator won a race past
    :func:`check_new_owner`, and the unique constraint of
    ``nova-hostguard-manage db sync`` refused this one. The database has
    decided, whatever the mode. Returns quietly when no other host owns
    the hypervisor (the duplicate was nova's own business: its uuid or
    ``(host, hypervisor_hostname)`` constraints).

    :raises: nova.exception.InvalidConfiguration naming the winner.
    """
    owners = _other_owners(compute_node)
    if not owners:
        return
    message = _refusal_message(compute_node, owners)
    LOG.error('%s (refused by the database: another compute node record '
              'for it was created at the same time)', message)
    _refuse(compute_node, owners, message)


def _refuse(compute_node, owners, message):
    """Disable the refused host's service (enforce mode), then raise.

    nova-compute stops on the refusal only at startup; anywhere else (a
    periodic run, after a startup whose lookup failed) nova logs it and
    carries on. A disabled service takes no new instances and shows the
    owner in "openstack compute service list", wherever the refusal came.
    """
    if mode() == hostguard_conf.MODE_ENFORCE:
        _disable_service(compute_node._context, compute_node.host,
                         ownership.disabled_reason(
                             compute_node.hypervisor_hostname,
                             [owner for owner, _ in owners]))
    raise exception.InvalidConfiguration(message)


def _disable_service(context, host, reason):
    """Disable ``host``'s nova-compute service, unless it already is.

    An operator's own reason for a disabled service is kept; a host
    without a service has nothing to disable. A failure is logged: the
    refusal itself must still reach nova.
    """
    try:
        service = objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return
    if service.disabled:
        return
    try:
        service.disabled = True
        service.disabled_reason = reason
        service.save()
    except Exception:
        LOG.exception('nova-hostguard: could not disable the nova-compute '
                      'service of host %r', host)
        return
    LOG.error('nova-hostguard: disabled the nova-compute service of host %r '
              'so that nothing is scheduled to it (%s). Once it may manage '
              'the hypervisor, enable it: openstack compute service set '
              '--enable %r nova-compute', host, reason, host)


def _other_owners(compute_node):
    """Every other host owning the node's hypervisor, with its state.

    :returns: a list of ``(Owner, service state)``, empty if none.
    """
    if not (compute_node.obj_attr_is_set('hypervisor_hostname') and
            compute_node.obj_attr_is_set('host')):
        return []
    name = compute_node.hypervisor_hostname
    if name is None:
        return []
    context = compute_node._context
    owners = ownership.other_owners(
        lookup.nodes_named(context, name), name, compute_node.host)
    return [(owner, _service_state(context, owner.host))
            for owner in owners]


def _refusal_message(compute_node, owners):
    return ownership.refusal_message(
        compute_node.hypervisor_hostname, compute_node.host, owners)


def _service_state(context, host):
    try:
        service = objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return ownership.describe_service(None, False)
    if not _servicegroup_api:
        _servicegroup_api.append(servicegroup.API())
    return ownership.describe_service(
        service, _servicegroup_api[0].service_is_up(service))
