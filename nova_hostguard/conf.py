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
]


def list_opts():
    """The ``oslo.config.opts`` entry point, for oslo-config-generator."""
    return [(GROUP, hostguard_opts)]
