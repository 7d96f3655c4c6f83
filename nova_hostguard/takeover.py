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

"""One live nova-compute per host: the decision, free of any RPC or clock.

The guard tells a standby to take over *as* the owner (same
``[DEFAULT] host``). If the owner's nova-compute is still alive, two
processes then run as one host: both consume ``compute.<host>``, both run
the periodic tasks against the hypervisor, and nova checks nothing at
start. So a nova-compute that starts looks, before ``init_host`` touches
anything, for another process that still heartbeats as its host.

How a live process is told from one that just stopped
------------------------------------------------------

nova's database service group writes a heartbeat every
``[DEFAULT] report_interval`` (10 s): ``services.report_count`` rises by
one and nova-conductor sets ``last_seen_up``. A service counts as "up" for
``service_down_time`` (60 s) after it, so "up" cannot tell a live process
from one stopped a moment ago: an ordinary restart would be refused for a
minute. Instead the check *watches* the service row:

* no service row, or a last heartbeat older than ``service_down_time``
  (stale, "down"): nobody heartbeats; start at once, no wait;
* a fresh last heartbeat: a live process writes its next heartbeat within
  one ``report_interval`` of it. The check re-reads the row until
  ``last heartbeat + report_interval × 1.5`` (the half interval is the
  margin for a late heartbeat: a busy process, a slow conductor). Any
  new heartbeat in that time means another process is alive: refuse. None
  means the previous process has stopped: start.

A process that passed the check reports a heartbeat at once and every
``report_interval`` until nova's own heartbeat takes over (nova starts it
only at the end of ``Service.start``, after ``init_host`` and the resource
tracker, and 5 s later): without that, a second process starting in that
time would see only the previous process's old heartbeat.

The watch is measured from the last heartbeat, not from the start: a
process restarted after a clean stop (nova-compute takes seconds to stop
and to come up again) finds most of the window already past, and one whose
last heartbeat is older than the window has missed a heartbeat, so it is
not waited for at all. The delay a start can get is therefore bounded by
``1.5 × report_interval`` (15 s with nova's defaults), and only when the
last heartbeat is younger than that.

Why not the consumers of the ``compute.<host>`` queue: they are a RabbitMQ
notion (oslo.messaging has no API for them; the management API needs its
own credentials and endpoint, a passive ``queue_declare`` a kombu
connection of our own), and RabbitMQ keeps a consumer of a dead process
until its connection's heartbeat times out. The heartbeat in the service
row is what nova itself and the operator (``openstack compute service
list``) read, over the same conductor nova-compute already talks to.

What it cannot see
------------------

* A live process that cannot heartbeat (cut off from RabbitMQ or its
  conductor, frozen) is not seen; if it comes back later, two processes
  run. Only fencing closes that.
* The check runs once, at start, in the starting process: a process
  already running is not stopped by it.
* Two first starts of a host at the same moment (no service row yet,
  nothing to heartbeat into) both pass; nova's own service record
  creation lets one of them win the row, not the process.
* It relies on the clocks of nova-conductor (which writes
  ``last_seen_up``) and nova-compute agreeing, as nova's own "up" does;
  a nova-compute clock ahead of the conductor's shortens the watch.
* It reads nova's database service group (``servicegroup_driver = db``,
  nova's default); with ``mc`` the heartbeat is not in the row and the
  check does not run (it says so at start).
"""

import collections

from nova_hostguard import display

#: How much longer than one report interval the check waits for the
#: next heartbeat of a live process.
MARGIN_FACTOR = 0.5

#: What the check decides.
START = 'start'
WATCH = 'watch'

Heartbeat = collections.namedtuple(
    'Heartbeat', ['report_count', 'last_seen_up'])

Plan = collections.namedtuple('Plan', ['action', 'seconds', 'reason'])


def last_heartbeat(service):
    """When a service last reported, as nova's database service group reads it.

    ``last_seen_up``, or ``created_at`` for one that never reported.
    """
    if service is None:
        return None
    return (getattr(service, 'last_seen_up', None) or
            getattr(service, 'created_at', None))


def heartbeat_of(service):
    """What changes in the service row at each heartbeat."""
    return Heartbeat(getattr(service, 'report_count', None),
                     getattr(service, 'last_seen_up', None))


def window(report_interval):
    """How long after a heartbeat a live process has written the next."""
    return report_interval * (1 + MARGIN_FACTOR)


def plan(service, now, report_interval, service_down_time):
    """What to do on the first read of this host's service row.

    :param service: the nova-compute ``Service`` of this host, or None.
    :param now: the current time (UTC, naive or aware like the service's).
    :returns: a :class:`Plan`: ``START`` (seconds 0) or ``WATCH`` the row
        for ``seconds`` (never more than :func:`window`).
    """
    if service is None:
        return Plan(START, 0, 'no nova-compute service record for this '
                    'host yet: its first start')
    if not report_interval or report_interval <= 0:
        return Plan(START, 0, 'report_interval is 0: services send no '
                    'heartbeat to watch')
    heartbeat = last_heartbeat(service)
    if heartbeat is None:
        return Plan(START, 0, 'no heartbeat recorded')
    age = _seconds(now, heartbeat)
    if abs(age) > service_down_time:
        return Plan(START, 0, 'last heartbeat %.0f s ago, older than '
                    'service_down_time (%s s)' % (age, service_down_time))
    remaining = min(window(report_interval), window(report_interval) - age)
    if remaining <= 0:
        return Plan(START, 0, 'last heartbeat %.1f s ago: a live process '
                    'would have reported again within %.1f s'
                    % (age, window(report_interval)))
    return Plan(WATCH, remaining, 'last heartbeat %.1f s ago' % age)


def another_process_reported(first, latest):
    """Whether the service row shows a heartbeat written after ``first``.

    :param first: the :class:`Heartbeat` read before the watch.
    :param latest: the :class:`Heartbeat` read now.
    """
    return latest != first


def applies(binary, host, starting, enabled, already_checked):
    """Whether a ``Service.get_by_host_and_binary`` call gets the check.

    Only the read that nova's ``Service.start`` of a nova-compute makes of
    its own service row: ``starting`` is the ``(binary, host)`` of the nova
    service whose ``start`` made the call, None for any other caller.
    nova-api, nova-conductor and nova-scheduler reading a nova-compute row
    (of any host, their own included) are never checked, nor is the lookup
    nova-conductor serves for a nova-compute over RPC. Once per start of a
    service.
    """
    return (enabled and not already_checked and
            binary == 'nova-compute' and starting == (binary, host))


def refusal_message(host, heartbeat, watched, report_interval):
    """Say which host is already running and what the operator can do.

    :param heartbeat: the time of the heartbeat seen during the watch.
    :param watched: the seconds watched before it came.
    """
    return (
        'nova-hostguard: another nova-compute process is running as host '
        '%(host)r: its service heartbeat advanced while this one was '
        'starting (last heartbeat %(hb)s, within %(watched).1f s of watching '
        'it; report_interval %(ri)s s). Two nova-compute processes as one '
        'host would both take compute.%(bare)s RPC requests and both manage '
        'the hypervisor; refusing to start this one before it touches any '
        'instance. Stop the other process first (on the machine that runs '
        'it: systemctl stop the nova-compute unit, or fence it), or, if it '
        'is shutting down, wait for it to exit, then start this one again. '
        'If this process was meant to run as another host, set '
        '"[DEFAULT] host" in its nova.conf. To run without this check, set '
        '"[hostguard] one_process_per_host = false".' % {
            'host': host, 'bare': display.bare(host), 'hb': _when(heartbeat),
            'watched': watched, 'ri': report_interval})


def _when(moment):
    if moment is None:
        return 'unknown'
    return moment.strftime('%Y-%m-%d %H:%M:%S UTC')


def _seconds(now, then):
    """``now - then`` in seconds, whether or not they carry a timezone."""
    if (now.tzinfo is None) != (then.tzinfo is None):
        now = now.replace(tzinfo=None)
        then = then.replace(tzinfo=None)
    return (now - then).total_seconds()
