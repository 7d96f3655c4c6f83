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

Where the database decides, the guard does not look first: in ``enforce``
mode, in a process with database access, in a cell whose database has the
unique constraint of ``nova-hostguard-manage db sync``
(:mod:`nova_hostguard.constraint`), the insert itself refuses a second
owner, and :func:`explain_duplicate` turns its error into the refusal.
``warn`` mode, nova-compute (over RPC) and cells without the constraint
look the owners up before the insert.
"""

import functools
import time

from nova import exception
from nova import objects
from nova import servicegroup
from oslo_log import log as logging

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import constraint
from nova_hostguard import display
from nova_hostguard import lookup
from nova_hostguard import ownership

LOG = logging.getLogger(__name__)

_settings = {'conf': None, 'group': hostguard_conf.GROUP}


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


def mode_if_switched_on():
    """The mode, or None while the guard is switched off.

    Off only in a process that switches it on and off again: nova's
    functional tests with and without the guard.
    """
    return None if _settings['conf'] is None else mode()


def check_new_owner(compute_node, host=None, disable=True):
    """Refuse (or warn about) a second owner of the node's hypervisor.

    Called before nova creates the record (or revives a deleted one).
    In ``enforce`` mode, where the database decides (see
    :func:`nova_hostguard.constraint.decides`), it looks nothing up and
    leaves the refusal to the insert.

    :param host: the host about to own the hypervisor, if not the
        record's own: the host reviving a record (nova moves the record
        to it only in a later save).
    :param disable: whether ``host`` is known to be the one refused, and
        so the service to disable in ``enforce`` mode.

    :returns: True if it looked the owners up, False if it left the check
        to the database's unique constraint (pass it on to
        :func:`explain_duplicate`).
    :raises: nova.exception.InvalidConfiguration in ``enforce`` mode when
        a live compute node of another host has the same
        hypervisor_hostname.
    """
    if (mode() == hostguard_conf.MODE_ENFORCE and _named(compute_node) and
            constraint.decides(compute_node._context)):
        return False
    host = _owner(compute_node, host)
    owners = _other_owners(compute_node, host)
    if not owners:
        return True
    message = _refusal_message(compute_node, host, owners)
    if mode() == hostguard_conf.MODE_WARN:
        LOG.warning('%s ([hostguard] mode = warn: creating it anyway.)',
                    message)
        return True
    LOG.error(message)
    _refuse(compute_node, host, owners, message, disable)


def explain_duplicate(compute_node, looked=True, host=None, disable=True):
    """Turn the database's refusal of a second owner into ours.

    Called when nova's create failed with ``DuplicateRecord`` (or its save
    with ``DBDuplicateEntry``) and the unique constraint of
    ``nova-hostguard-manage db sync`` refused this record: either another
    creator won a race past :func:`check_new_owner` (``looked``), or
    :func:`check_new_owner` left the check to the database (``looked``
    false). The database has decided, whatever the mode. Returns quietly
    when no other host owns the hypervisor (the duplicate was nova's own
    business: its uuid or ``(host, hypervisor_hostname)`` constraints).

    :param looked: what :func:`check_new_owner` returned.
    :param host: as for :func:`check_new_owner`.
    :param disable: as for :func:`check_new_owner`.
    :raises: nova.exception.InvalidConfiguration naming the owner.
    """
    host = _owner(compute_node, host)
    owners = _other_owners(compute_node, host)
    if not owners:
        return
    message = _refusal_message(compute_node, host, owners)
    if looked:
        LOG.error('%s (refused by the database: another compute node '
                  'record for it was created at the same time)', message)
    else:
        LOG.error('%s (refused by the database: its unique constraint '
                  'holds one live record per hypervisor)', message)
    _refuse(compute_node, host, owners, message, disable)


#: Pauses, in seconds, between looks for the owner after a commit
#: conflict: a Galera node applies the winner's write after it certified
#: it, so a look right after the loser's abort may not see it yet.
CONFLICT_LOOKS = (0, 0.1, 0.3, 1.0)


def explain_commit_conflict(compute_node, host=None, disable=True):
    """Turn a write that met the owner's at commit into the refusal.

    Called when nova's create (or its save of a revive) failed with a
    deadlock error. On a MariaDB Galera cluster that is how a second
    owner writing through another node than the first is refused: both
    meet at commit, certification lets the first commit and aborts the
    other. Only in ``enforce`` mode, and only when another host owns the
    hypervisor once the winner's write is visible here: otherwise the
    deadlock goes on to nova as it is (nova logs it and tries again in
    its next periodic run, where the check or the constraint refuses).

    :param host: as for :func:`check_new_owner`.
    :param disable: as for :func:`check_new_owner`.
    :raises: nova.exception.InvalidConfiguration naming the owner.
    """
    if mode() != hostguard_conf.MODE_ENFORCE:
        return
    host = _owner(compute_node, host)
    for pause in CONFLICT_LOOKS:
        time.sleep(pause)
        owners = _other_owners(compute_node, host)
        if owners:
            break
    else:
        return
    message = _refusal_message(compute_node, host, owners)
    LOG.error('%s (refused by the database: it met the record of %s at '
              'commit, a conflict between writes through two nodes of a '
              'Galera cluster)', message,
              display.quoted(owners[0][0].host))
    _refuse(compute_node, host, owners, message, disable)


def _refuse(compute_node, host, owners, message, disable=True):
    """Disable the refused host's service (enforce mode), then raise.

    nova-compute stops on the refusal only at startup; anywhere else (a
    periodic run, after a startup whose lookup failed) nova logs it and
    carries on. A disabled service takes no new instances and shows the
    owner in "openstack compute service list", wherever the refusal came.
    Only ``host``, the refused host, is disabled, and only when it is
    known (``disable``): never a record's previous host in its stead.
    """
    if mode() == hostguard_conf.MODE_ENFORCE and disable:
        _disable_service(compute_node._context, host,
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
                      'service of host %s', display.quoted(host))
        return
    LOG.error('nova-hostguard: disabled the nova-compute service of host %s '
              'so that nothing is scheduled to it (%s). Once it may manage '
              'the hypervisor, enable it: openstack compute service set '
              '--enable %s nova-compute', display.quoted(host), reason,
              display.quoted(host))


def _owner(compute_node, host):
    """The host about to own the node's hypervisor.

    ``host`` if given, else the record's own (None if it names none).
    """
    if host is not None:
        return host
    if compute_node.obj_attr_is_set('host'):
        return compute_node.host
    return None


def _other_owners(compute_node, host):
    """Every host but ``host`` owning the node's hypervisor, with its state.

    :returns: a list of ``(Owner, service state)``, empty if none.
    """
    if not _named(compute_node):
        return []
    name = compute_node.hypervisor_hostname
    context = compute_node._context
    owners = ownership.other_owners(
        lookup.nodes_named(context, name, host), name, host)
    return [(owner, _service_state(context, owner.host))
            for owner in owners]


def _named(compute_node):
    """Whether the record names a hypervisor (and a host) to check."""
    return (compute_node.obj_attr_is_set('hypervisor_hostname') and
            compute_node.obj_attr_is_set('host') and
            compute_node.hypervisor_hostname is not None)


def _refusal_message(compute_node, host, owners):
    return ownership.refusal_message(
        compute_node.hypervisor_hostname, host, owners)


def _service_state(context, host):
    try:
        service = objects.Service.get_by_compute_host(context, host)
    except exception.ComputeHostNotFound:
        return ownership.describe_service(None, False)
    return ownership.describe_service(service, service_is_up(service))


def service_is_up(service):
    """Up as nova's service group says: heartbeat fresh, not forced down."""
    return _servicegroup_api().service_is_up(service)


@functools.lru_cache(maxsize=None)
def _servicegroup_api():
    """nova's service group API, made once per process on first use."""
    return servicegroup.API()
