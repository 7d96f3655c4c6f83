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

"""Put the guarded ComputeNode and Service in place, once per process."""

import functools
import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

_lock = threading.Lock()


def install(conf, group):
    """Install the guard; safe to call any number of times.

    nova's binaries parse their configuration (and so load the driver) two
    to four times per process. Every call points the guard at ``conf``
    and ``group`` (the latest parse's); only the first registers the
    guarded ComputeNode.
    :returns: True if this call installed the guard.
    """
    # nova is imported here, not at module level: oslo.config instantiates
    # every oslo.config.driver of the environment, even unselected ones.
    from nova.compute import resource_tracker
    from nova.objects import base as objects_base
    from nova import service

    from nova_hostguard import coverage
    from nova_hostguard import guard
    from nova_hostguard import moves
    from nova_hostguard import objects as hostguard_objects

    guard.configure(conf, group)
    with _lock:
        if is_installed():
            return False
        objects_base.NovaObjectRegistry.register(
            hostguard_objects.GuardedComputeNode)
        # Inert outside nova-compute's start, and there while
        # [hostguard] one_process_per_host is false (read at start).
        objects_base.NovaObjectRegistry.register(
            hostguard_objects.GuardedService)
        # A revive's owner to be is the resource tracker's host, not the
        # previous host the record still names (objects.tracking_host).
        tracker = resource_tracker.ResourceTracker
        tracker._init_compute_node = hostguard_objects.tracking_host(
            tracker._init_compute_node)
        # A record found by uuid that names another host is moved to this
        # one by save(): checked before nova moves it (moves.py).
        tracker._get_compute_node = moves.checking_moves(
            tracker._get_compute_node)
        # The records it reports say the guard runs here (coverage.py).
        tracker._copy_resources = coverage.marking(
            tracker._copy_resources, guard.mode_if_switched_on)
        # Said again in nova's own log, which is not set up yet.
        service.Service.start = announcing(service.Service.start)
    LOG.info('nova-hostguard: ComputeNode.create() now refuses a second '
             'host for one hypervisor, and nova-compute moves no node from '
             'a live owner ([%s] mode = %s); nova-compute '
             'refuses to start while another process runs as its host '
             '([%s] one_process_per_host = %s).',
             group, guard.mode(), group, conf[group].one_process_per_host)
    return True


def announcing(start):
    """Wrap nova's ``Service.start``: one INFO line in nova's log.

    The driver installs the guard while nova parses its configuration,
    before nova sets up logging: what install() logs then goes nowhere.
    A service starts once logging is set up (once in each worker process
    of a nova service) and says that the guard runs here.
    """
    if getattr(start, '_hostguard_announcing', False):
        return start

    @functools.wraps(start)
    def start_announced(service, *args, **kwargs):
        try:
            _announce(service)
        except Exception:
            # A log line never stops a service from starting.
            LOG.debug('nova-hostguard: could not log the guard in use',
                      exc_info=True)
        return start(service, *args, **kwargs)
    start_announced._hostguard_announcing = True
    return start_announced


def _announce(service):
    from nova_hostguard import coverage
    from nova_hostguard import guard

    conf, group = guard.settings_conf(), guard.settings_group()
    if conf is None:
        return
    LOG.info('nova-hostguard %(version)s guards this %(binary)s (host '
             '%(host)s): [%(group)s] mode = %(mode)s, one_process_per_host '
             '= %(one)s, backend_url %(lock)s.',
             {'version': coverage.version(), 'binary': service.binary,
              'host': service.host, 'group': group, 'mode': guard.mode(),
              'one': conf[group].one_process_per_host,
              'lock': 'set' if conf[group].backend_url else 'unset'})


def is_installed():
    from nova.objects import base as objects_base

    from nova_hostguard import objects as hostguard_objects

    classes = objects_base.NovaObjectRegistry.obj_classes().get(
        'ComputeNode', [])
    return hostguard_objects.GuardedComputeNode in classes
