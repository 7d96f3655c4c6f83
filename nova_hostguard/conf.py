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

"""Options of the ``[hostguard]`` group.

The same group also carries ``driver = hostguard``, the oslo.config driver
selection that switches the guard on (registered by oslo.config itself).
"""

from oslo_config import cfg

GROUP = 'hostguard'

MODE_ENFORCE = 'enforce'
MODE_WARN = 'warn'

hostguard_opts = [
    cfg.StrOpt(
        'mode',
        default=MODE_ENFORCE,
        choices=[
            (MODE_ENFORCE,
             'Refuse to create (or revive) a compute node record for a '
             'hypervisor that another host already manages, with a message '
             'naming the owner, and disable this host\'s nova-compute '
             'service with a reason naming the owner. At startup '
             'nova-compute then stops; a refusal later on (a periodic run, '
             'after a startup whose check could not run) leaves it running '
             'but disabled, so nothing is scheduled to it. No compute node '
             'record is written.'),
            (MODE_WARN,
             'Log the same message as a warning and let nova create the '
             'record anyway. Meant for a canary roll-out: it shows which '
             'hosts would be refused without refusing them.'),
        ],
        help='What the guard does when a nova-compute service is about to '
             'create the compute node record of a hypervisor whose '
             'hypervisor_hostname already belongs to a live compute node '
             'of another host. Nova assumes one hypervisor is managed by '
             'one host forever; a second record splits the hypervisor\'s '
             'capacity and instances between two hosts (nova bug 1419785). '
             'The option is read by every process that has the guard '
             'loaded: nova-compute, nova-conductor, or both.'),
    cfg.BoolOpt(
        'one_process_per_host',
        default=True,
        help='Refuse to start a nova-compute while another nova-compute '
             'process still heartbeats as the same [DEFAULT] host. Taking '
             'over a hypervisor as its owner (what the guard tells a '
             'standby to do) is safe only once the owner\'s process has '
             'stopped: two processes running as one host both take that '
             'host\'s RPC requests and both manage the hypervisor, and '
             'nova does not notice. When nova-compute starts and its '
             'service record exists (any start but the first), it watches '
             'that record for 1.5 report_interval (15 seconds with '
             'nova\'s defaults), whatever its last heartbeat says, before '
             'init_host touches any instance; a new heartbeat means '
             'another process is alive, '
             'and nova-compute stops with a message naming the host and '
             'its last heartbeat. In warn mode the message is logged as a '
             'warning and nova-compute starts anyway. Read only by '
             'nova-compute, with the database service group driver; '
             'nova-api, nova-conductor and nova-scheduler are never '
             'delayed by it. Set to false to start nova-compute without '
             'this check (for instance when a cluster manager already '
             'fences the previous owner). With backend_url set, a lock '
             'in that lock service decides instead of the watch.'),
    cfg.StrOpt(
        'backend_url',
        secret=True,
        help='The backend URL of a lock service (a tooz URL, as in other '
             'OpenStack services\' [coordination] backend_url), for '
             'example etcd3+http://etcd.example.org:2379, '
             'redis://:password@redis.example.org:6379, '
             'zookeeper://zk.example.org:2181, or a mysql:// or '
             'postgresql:// database URL. When set (and '
             'one_process_per_host is true), nova-compute takes a lock named '
             'for its [DEFAULT] host before it reads its service record, '
             'holds it for its whole life, and refuses to start while '
             'another process holds it: a real mutual exclusion, where the '
             'heartbeat watch only guesses. A process that finds another '
             'holder of its lock (it was paused or cut off past the lock '
             'service\'s session time) stops at once; a lock service that '
             'does not answer stops nothing that runs. Read only by '
             'nova-compute. Unset (the default): the heartbeat watch. The '
             'driver\'s Python package must be installed (etcd3gw, redis, '
             'kazoo, PyMySQL or psycopg2).'),
    cfg.IntOpt(
        'lock_wait',
        default=60,
        min=0,
        help='Seconds a starting nova-compute waits for its host\'s lock '
             '(with backend_url set) before it refuses to start. Keep it '
             'longer than the lock service\'s session time (tooz\'s etcd '
             'and Redis drivers: 30 seconds unless the URL sets timeout): '
             'a process restarted right after its predecessor was killed '
             'then waits for the old lock to expire instead of refusing. '
             'Also how long a start waits for a lock service that does not '
             'answer.'),
]


def list_opts():
    """The ``oslo.config.opts`` entry point, for oslo-config-generator."""
    return [(GROUP, hostguard_opts)]
