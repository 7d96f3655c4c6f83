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

"""One live nova-compute per host: the lock or the watch, and the refusal.

Runs inside nova-compute's ``Service.start``, from the first read of its
own service row (:class:`nova_hostguard.objects.GuardedService`), which
comes before ``init_host``. With ``[hostguard] backend_url`` the host's
lock in a lock service decides (:mod:`nova_hostguard.hostlock`); without
it, a watch of the service row's heartbeat (:mod:`nova_hostguard.
takeover`, which says what the watch can and cannot see).
"""

import atexit
import logging as std_logging
import os
import random
import sys
import threading
import time
import weakref

from nova import exception
from oslo_log import log as logging

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import guard
from nova_hostguard import hostlock
from nova_hostguard import takeover

LOG = logging.getLogger(__name__)

#: Seconds between two reads of the service row during a watch.
POLL_INTERVAL = 1.0

#: Seconds between writing the claim and reading it back: longer than a
#: write to the service row takes, so that a claim written at the same
#: moment by another starting process is seen by one of the two.
SETTLE = 2.0

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


def check(read, host, caller=None):
    """Refuse to start while another process runs as ``host``.

    :param read: a function returning this host's nova-compute
        ``Service`` (or None), as nova's remotable lookup does.
    :param caller: the frame of nova's ``Service.start`` that reads, if
        known: the lock is released when that service stops.
    :returns: the last ``Service`` read, for nova's start to go on with.
    :raises: nova.exception.InvalidConfiguration in ``enforce`` mode.
    """
    options = guard.settings_conf()[guard.settings_group()]
    if options.backend_url:
        release = _hold_lock(options.backend_url, host, options.lock_wait)
        nova_service = _starting_service(caller)
        if release is not None and nova_service is not None:
            _release_on_stop(nova_service, release)
        return read()
    return _watch(read, host)


def _release_on_stop(nova_service, release):
    """Release the lock when nova stops the service.

    oslo.service ends a graceful shutdown (SIGTERM) with ``os._exit``,
    which runs no ``atexit`` handler: without this the lock would outlive
    a clean stop until its session expired, and every restart would wait
    for it.
    """
    stop = nova_service.stop

    def stop_and_release(*args, **kwargs):
        try:
            return stop(*args, **kwargs)
        finally:
            release()
    nova_service.stop = stop_and_release


def _hold_lock(url, host, wait):
    """Take the host's lock and keep it for the process's life.

    :returns: the function that releases it, run at exit (or None when
        warn mode starts without it).
    """
    try:
        host_lock = hostlock.HostLock(url, host)
    except Exception as e:
        _refuse(hostlock.bad_url_message(url, e), fatal_in_warn_mode=True)
        return
    try:
        waited = host_lock.acquire(wait)
    except hostlock.BackendUnavailable as e:
        _refuse(hostlock.unavailable_message(url, host, wait, e))
        return
    except hostlock.HeldElsewhere as e:
        _refuse(hostlock.held_message(url, host, e.holders, e.waited))
        return
    LOG.info('nova-hostguard: holds the lock of host %r in %s (waited '
             '%.2f s); no other nova-compute process can start as this '
             'host while this one runs.', host, hostlock.safe_url(url),
             waited)
    keeper = hostlock.Keeper(host_lock, lambda holders: _fence(
        url, host, holders))
    keeper.start()

    def release():
        keeper.stop()
        host_lock.stop()
    atexit.register(release)
    return release


def _fence(url, host, holders):
    """Stop at once: another process holds this host's lock now."""
    LOG.critical(hostlock.fenced_message(url, host, holders))
    for handler in std_logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:
            pass
    os._exit(hostlock.FENCED_EXIT)


def _watch(read, host):
    conf = guard.settings_conf()
    started = time.monotonic()
    service = read()
    if conf.servicegroup_driver != 'db':
        LOG.warning('nova-hostguard: servicegroup_driver = %s keeps the '
                    'heartbeat outside the services table; not checking '
                    'for another nova-compute process running as host %r.',
                    conf.servicegroup_driver, host)
        return service
    plan = takeover.plan(service, conf.report_interval)
    if plan.action == takeover.START:
        LOG.info('nova-hostguard: %s; starting as host %r (checked in '
                 '%.2f s).', plan.reason, host, time.monotonic() - started)
        return service
    LOG.info('nova-hostguard: watching the heartbeat of host %r for %.1f s '
             'for another nova-compute process running as this host (%s).',
             host, plan.seconds, plan.reason)
    first = takeover.heartbeat_of(service)
    deadline = time.monotonic() + plan.seconds
    while time.monotonic() < deadline:
        time.sleep(min(POLL_INTERVAL, max(0, deadline - time.monotonic())))
        latest = _read_retrying(read, host)
        if latest is _UNREAD:
            continue
        if latest is None:
            # Deleted meanwhile ("openstack compute service delete"):
            # nova's start creates it again.
            return None
        if takeover.another_process_reported(
                first, takeover.heartbeat_of(latest)):
            _refuse(takeover.refusal_message(
                host, takeover.last_heartbeat(latest),
                time.monotonic() - started, conf.report_interval))
            return latest
        service = latest
    return _claim(read, service, host, started, conf.report_interval)


_UNREAD = object()


def _read_retrying(read, host):
    """One read of the row during the watch; a failed read is skipped.

    A conductor restarting or slow (MessagingTimeout) must not stop
    nova-compute's start: the watch goes on and reads again.
    """
    try:
        return read()
    except Exception as e:
        LOG.warning('nova-hostguard: could not read the service record of '
                    'host %r while watching it (%s: %s); reading again.',
                    host, type(e).__name__, e)
        return _UNREAD


def _claim(read, service, host, started, report_interval):
    """Mark the row as this process's, and see that nobody else did.

    Two processes can finish their watches at the same moment. Each
    writes a report_count of its own, lower than the row's (nova moves
    ``last_seen_up`` only when the count rises, so the claim never makes
    the service look "up": a nova-compute that never finishes starting
    goes down after service_down_time as without the plugin), waits
    :data:`SETTLE` seconds and reads it back: the process whose value is
    gone refuses. Until nova's own heartbeat runs, the claim is renewed
    every ``report_interval`` (a lower count again), so that a process
    starting meanwhile sees this one in its watch.
    """
    claimed = takeover.claim_count(service.report_count,
                                   random.randrange(takeover.CLAIM_SPREAD))
    if not _write_count(service, claimed):
        return service
    time.sleep(SETTLE)
    latest = _read_retrying(read, host)
    if latest is _UNREAD:
        latest = _read_retrying(read, host)
    if latest is None:
        # Deleted meanwhile: nova's start creates it again.
        return None
    if latest is not _UNREAD and latest.report_count != claimed:
        _refuse(takeover.overlap_message(
            host, time.monotonic() - started, report_interval))
        return latest
    LOG.info('nova-hostguard: no other nova-compute process runs as host '
             '%r; starting (checked in %.2f s).', host,
             time.monotonic() - started)
    _renew_claim(service, claimed, report_interval, read)
    return service


def _renew_claim(service, written, report_interval, read):
    """Renew the claim until nova heartbeats, or the row shows another.

    The writes go through objects of their own: ``service`` is nova's
    ``service_ref`` from now on, which nova's heartbeat changes in its own
    thread; it is only read here, to see nova's first heartbeat.
    """
    def renew():
        count = written
        while True:
            time.sleep(report_interval)
            if service.report_count != written:
                LOG.debug('nova-hostguard: nova heartbeats as host %r now; '
                          'the start-up claim ends.', service.host)
                return
            latest = _read_retrying(read, service.host)
            if latest is _UNREAD:
                continue
            if latest is None or latest.report_count != count:
                # nova's heartbeat (or another process) wrote: not ours
                # to claim any more.
                return
            if _write_count(latest, count - 1):
                count -= 1
    threading.Thread(target=renew, daemon=True,
                     name='hostguard-startup-claim').start()


def _write_count(service, count):
    """Write ``count`` as the row's report_count, as nova's heartbeat does."""
    try:
        service.report_count = count
        service.save()
    except Exception:
        LOG.warning('nova-hostguard: could not mark the service record of '
                    'host %r as this process\'s; a second process started '
                    'now may not see this one.', service.host,
                    exc_info=True)
        return False
    return True


def _refuse(message, fatal_in_warn_mode=False):
    if guard.mode() == hostguard_conf.MODE_WARN and not fatal_in_warn_mode:
        LOG.warning('%s ([hostguard] mode = warn: starting anyway.)',
                    message)
        return
    LOG.error(message)
    raise exception.InvalidConfiguration(message)
