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
minute. Instead the check *watches* the service row for
``1.5 × report_interval`` from the moment it starts (the half interval is
the margin for a late heartbeat). Any change of the row's heartbeat in
that time means another process is alive: refuse. None means the previous
process has stopped.

The watch is measured from now, never from the timestamps in the row: a
late heartbeat, or a nova-compute clock ahead of nova-conductor's, cannot
shorten it or turn it off. A start with a service row therefore takes
``1.5 × report_interval`` longer (15 s with nova's defaults); a first
start (no row) does not wait.

Two processes whose watches end at the same moment would both start. So
each then *claims* the row: it writes a report_count of its own, lower
than the row's, waits a moment and reads it back; the process whose value
was overwritten refuses. nova moves ``last_seen_up`` only when the count
rises, so a claim never makes the service look "up": a nova-compute that
never finishes starting goes down after ``service_down_time`` exactly as
without the plugin. Until nova's own heartbeat takes over (nova starts it
only at the end of ``Service.start``, after ``init_host`` and the resource
tracker), the claim is renewed every ``report_interval`` with a lower
count again, so that a process starting meanwhile sees it in its watch.

Why not the consumers of the ``compute.<host>`` queue: they are a RabbitMQ
notion (oslo.messaging has no API for them), and RabbitMQ keeps a
consumer of a dead process until its connection's heartbeat times out.

What only a lock service gives
------------------------------

The watch guesses from a row that two processes read alone; a lock
service (``[hostguard] backend_url``, :mod:`nova_hostguard.hostlock`)
decides. What the watch cannot see:

* A live process that cannot heartbeat (cut off from RabbitMQ or its
  conductor, paused) is not seen; if it comes back later, two processes
  run. Only the lock (or fencing) closes that.
* Two *first* starts of a host (no service row yet: nova creates it only
  after ``init_host``) both pass, and a first start's whole ``init_host``
  runs with nothing to claim.
* Two claims can collide (the same value drawn, one chance in
  :data:`CLAIM_SPREAD`), and a write slower than the settle time can
  reach the row after the other process read it back.
* It reads nova's database service group (``servicegroup_driver = db``,
  nova's default); with ``mc`` the check does not run (it says so).
"""

import collections

from nova_hostguard import display

#: How much longer than one report interval the check waits for the
#: next heartbeat of a live process.
MARGIN_FACTOR = 0.5

#: How many different claims two starting processes draw from.
CLAIM_SPREAD = 4096

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


def plan(service, report_interval):
    """What to do on the first read of this host's service row.

    :param service: the nova-compute ``Service`` of this host, or None.
    :returns: a :class:`Plan`: ``START`` (seconds 0) or ``WATCH`` the row
        for ``seconds`` (:func:`window`), whatever the row's timestamps say.
    """
    if service is None:
        return Plan(START, 0, 'no nova-compute service record for this '
                    'host yet: its first start')
    if not report_interval or report_interval <= 0:
        return Plan(START, 0, 'report_interval is 0: services send no '
                    'heartbeat to watch')
    return Plan(WATCH, window(report_interval),
                'last heartbeat %s' % _when(last_heartbeat(service)))


def claim_count(report_count, draw):
    """The report_count a starting process writes to claim the row.

    Lower than the row's, so that nova does not count it as a heartbeat,
    and one of :data:`CLAIM_SPREAD` values, so that two processes claiming
    at once write different ones.
    """
    return (report_count or 0) - 1 - draw


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
        '"[hostguard] one_process_per_host = false". A lock service '
        '([hostguard] backend_url) decides this for certain; the heartbeat '
        'watch only guesses.' % {
            'host': host, 'bare': display.bare(host), 'hb': _when(heartbeat),
            'watched': watched, 'ri': report_interval})


def overlap_message(host, watched, report_interval):
    """Two processes finished their watches together; this one lost."""
    return (
        'nova-hostguard: another nova-compute process started as host '
        '%(host)r at the same moment as this one: it claimed the service '
        'record after this one did (checked for %(watched).1f s; '
        'report_interval %(ri)s s). Two nova-compute processes as one '
        'host would both take compute.%(bare)s RPC requests and both manage '
        'the hypervisor; refusing to start this one before it touches any '
        'instance. Stop the other process first, or let it run. A lock '
        'service ([hostguard] backend_url) decides this for certain; the '
        'heartbeat watch only guesses.' % {
            'host': host, 'bare': display.bare(host), 'watched': watched,
            'ri': report_interval})


def _when(moment):
    if moment is None:
        return 'unknown'
    return moment.strftime('%Y-%m-%d %H:%M:%S UTC')
