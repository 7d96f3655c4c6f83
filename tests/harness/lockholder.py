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

"""A process that takes a host's lock as nova-compute does, and holds it.

``python -m tests.harness.lockholder URL HOST WAIT`` takes the lock with
:class:`nova_hostguard.hostlock.HostLock`, keeps it with a
:class:`~nova_hostguard.hostlock.Keeper` (exiting with
:data:`~nova_hostguard.hostlock.FENCED_EXIT` once another process holds
it, as nova-compute's start-up check does) and releases it on SIGTERM.
It prints one JSON line per event, with the time: ``acquired`` (with
``waited``), ``refused`` (with ``holders``), ``unavailable``, ``fenced``.
Exit status: 0 after SIGTERM, 2 refused, 3 unavailable, 75 fenced.
"""

import json
import os
import signal
import sys
import threading
import time

from nova_hostguard import hostlock

REFUSED = 2
UNAVAILABLE = 3


def say(event, **details):
    details.update(event=event, pid=os.getpid(), time=time.time())
    print(json.dumps(details), flush=True)


def main(url, host, wait):
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *args: stopped.set())
    host_lock = hostlock.HostLock(url, host)
    try:
        waited = host_lock.acquire(float(wait))
    except hostlock.HeldElsewhere as e:
        say('refused', waited=e.waited,
            holders=[holder._asdict() for holder in e.holders],
            message=hostlock.held_message(url, host, e.holders, e.waited))
        return REFUSED
    except hostlock.BackendUnavailable as e:
        say('unavailable',
            message=hostlock.unavailable_message(url, host, float(wait), e))
        return UNAVAILABLE
    say('acquired', waited=waited)

    def fence(holders):
        say('fenced', holders=[holder._asdict() for holder in holders],
            message=hostlock.fenced_message(url, host, holders))
        os._exit(hostlock.FENCED_EXIT)

    keeper = hostlock.Keeper(host_lock, fence)
    keeper.start()
    while not stopped.wait(0.1):
        pass
    keeper.stop()
    host_lock.stop()
    say('released')
    return 0


if __name__ == '__main__':
    sys.exit(main(*sys.argv[1:]))
