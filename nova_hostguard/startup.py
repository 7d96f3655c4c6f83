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

"""One live nova-compute per host: the reads, the wait and the refusal.

The decision is :mod:`nova_hostguard.takeover` (why a heartbeat watch,
and its bounds); this module reads the service row over nova's own
remotable ``Service.get_by_host_and_binary``, sleeps between reads, and
raises. It runs inside nova-compute's ``Service.start``, from the first
read of its own service row (:class:`nova_hostguard.objects.
GuardedService`), which comes before ``init_host``.
"""

import sys
import threading
import time
import weakref

from nova import exception
from oslo_log import log as logging
from oslo_utils import timeutils

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import guard
from nova_hostguard import takeover

LOG = logging.getLogger(__name__)

#: Seconds between two reads of the service row during a watch.
POLL_INTERVAL = 1.0

#: The nova services (``nova.service.Service``) whose start has run (or
#: passed over) the start-up check: one per nova-compute process, one per
#: compute service started in nova's in-process functional framework.
_checked = weakref.WeakSet()
_lock = threading.Lock()


def wants_check(host, binary, caller):
    """Whether this read of a service row is nova-compute's own start.

    :param caller: the frame that called ``get_by_host_and_binary``. The
        read is nova-compute's own start when it is nova's
        ``Service.start`` of a nova-compute service of ``host``, whatever
        the process's ``[DEFAULT] host`` and whether or not it has an
        indirection API (nova's functional framework runs every service
        in one process, without one).
    """
    conf = guard.settings_conf()
    if conf is None:
        return False
    service = _starting_service(caller)
    starting = None
    if service is not None:
        starting = (getattr(service, 'binary', None),
                    getattr(service, 'host', None))
    with _lock:
        if not takeover.applies(
                binary, host, starting,
                conf[guard.settings_group()].one_process_per_host,
                service is not None and service in _checked):
            return False
        _checked.add(service)
    return True


def _starting_service(frame):
    """The nova service whose ``start`` is ``frame``, or None."""
    nova_service = sys.modules.get('nova.service')
    if (frame is None or nova_service is None or
            frame.f_code.co_name != 'start' or
            frame.f_globals.get('__name__') != nova_service.__name__):
        return None
    service = frame.f_locals.get('self')
    if not isinstance(service, nova_service.Service):
        return None
    return service


def check(read, host):
    """Refuse to start while another process heartbeats as ``host``.

    :param read: a function returning this host's nova-compute
        ``Service`` (or None), as nova's remotable lookup does.
    :returns: the last ``Service`` read, for nova's start to go on with.
    :raises: nova.exception.InvalidConfiguration in ``enforce`` mode.
    """
    conf = guard.settings_conf()
    started = time.monotonic()
    service = read()
    if conf.servicegroup_driver != 'db':
        LOG.warning('nova-hostguard: servicegroup_driver = %s keeps the '
                    'heartbeat outside the services table; not checking '
                    'for another nova-compute process running as host %r.',
                    conf.servicegroup_driver, host)
        return service
    plan = takeover.plan(service, timeutils.utcnow(), conf.report_interval,
                         conf.service_down_time)
    if plan.action == takeover.START:
        LOG.info('nova-hostguard: no other nova-compute process heartbeats '
                 'as host %r (%s); starting (checked in %.2f s).', host,
                 plan.reason, time.monotonic() - started)
        _claim(service, conf.report_interval)
        return service
    LOG.info('nova-hostguard: the nova-compute service of host %r is up '
             '(%s); watching its heartbeat for %.1f s for another process '
             'running as this host.', host, plan.reason, plan.seconds)
    first = takeover.heartbeat_of(service)
    deadline = time.monotonic() + plan.seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(POLL_INTERVAL, remaining))
        latest = read()
        if latest is None:
            # Deleted meanwhile ("openstack compute service delete"):
            # nova's start creates it again.
            service = None
            break
        if takeover.another_process_reported(
                first, takeover.heartbeat_of(latest)):
            _refuse(host, latest, time.monotonic() - started,
                    conf.report_interval)
            return latest
        service = latest
    LOG.info('nova-hostguard: no heartbeat as host %r while watching: '
             'the previous nova-compute process has stopped; starting '
             '(checked in %.2f s).', host, time.monotonic() - started)
    _claim(service, conf.report_interval)
    return service


def _claim(service, report_interval):
    """Heartbeat from the check on, until nova's own heartbeat runs.

    nova's service group starts heartbeating only at the end of
    ``Service.start`` (after ``init_host`` and the resource tracker, which
    take minutes on a big host) and 5 s later. Until then the row would
    show the previous process's last heartbeat, and a second process
    starting meanwhile would see nothing alive. So this process reports
    at once and every ``report_interval`` after, on the very object it
    hands to nova, and stops once nova's heartbeat has moved the count
    (or the process exits).
    """
    if service is None or not report_interval or report_interval <= 0:
        return
    written = [_report(service)]
    if written[0] is None:
        return

    def keep_reporting():
        while True:
            time.sleep(report_interval)
            if service.report_count != written[0]:
                LOG.debug('nova-hostguard: nova heartbeats as host %r '
                          'now; the start-up heartbeat ends.', service.host)
                return
            count = _report(service)
            if count is None:
                return
            written[0] = count

    thread = threading.Thread(target=keep_reporting, daemon=True,
                              name='hostguard-startup-heartbeat')
    thread.start()


def _report(service):
    """One heartbeat, as nova's database service group writes it."""
    try:
        service.report_count += 1
        service.save()
    except Exception:
        LOG.warning('nova-hostguard: could not report the start-up '
                    'heartbeat of host %r; a second process started now '
                    'may not see this one.', service.host, exc_info=True)
        return None
    return service.report_count


def _refuse(host, service, watched, report_interval):
    message = takeover.refusal_message(
        host, takeover.last_heartbeat(service), watched, report_interval)
    if guard.mode() == hostguard_conf.MODE_WARN:
        LOG.warning('%s ([hostguard] mode = warn: starting anyway.)',
                    message)
        return
    LOG.error(message)
    raise exception.InvalidConfiguration(message)
