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

"""``nova-hostguard-manage``: schema, audit, repair and services, by cell.

Reads nova's own configuration, like ``nova-manage``::

    nova-hostguard-manage --config-file /etc/nova/nova.conf db sync \
        [--all-cells]
    nova-hostguard-manage --config-file /etc/nova/nova.conf db version
    nova-hostguard-manage --config-file /etc/nova/nova.conf db remove
    nova-hostguard-manage --config-file /etc/nova/nova.conf audit \
        [--all-cells] [--format table|json]
    nova-hostguard-manage --config-file /etc/nova/nova.conf repair \
        --hypervisor NAME --owner HOST [--apply] [--all-cells]
    nova-hostguard-manage --config-file /etc/nova/nova.conf services \
        [--all-cells] [--format table|json]

Exit status: 0 done, nothing to do, (audit) clean or (services) every up
nova-compute guarded; 1 refused (db sync: a hypervisor already has more
than one live owner; repair: not safe), (audit) problems found or
(services) an up nova-compute runs without the guard; 2 bad usage or
configuration; 3 a database could not be reached or changed; 255 an
unexpected error (one line; the traceback with --debug).
"""

import sys

from oslo_config import cfg

from nova_hostguard.cmd import audit
from nova_hostguard.cmd import common
from nova_hostguard.cmd import db
from nova_hostguard.cmd import repair
from nova_hostguard.cmd import services
from nova_hostguard import exception

CONF = cfg.CONF

#: The categories: a class whose methods are its actions, or a function
#: that is the action itself. Each action's options are next to it, in
#: its ``@args`` decorators.
CATEGORIES = {
    'db': db.DbCommands,
    'audit': audit.audit,
    'repair': repair.repair,
    'services': services.services,
}


def add_command_parsers(subparsers):
    common.add_category_parsers(subparsers, CATEGORIES)


category_opt = cfg.SubCommandOpt('category', title='Commands',
                                 handler=add_command_parsers)


def main():
    return common.run(common.MANAGE, _main)


def _main():
    problem = common.read_configuration(CONF, common.MANAGE, [category_opt])
    if problem is not None:
        if problem:
            common.err(problem)
        return common.EXIT_USAGE
    common.setup_logging(CONF)
    try:
        return CONF.category.action_fn(CONF.category)
    except exception.ConfigurationError as e:
        common.err(str(e))
        return common.EXIT_USAGE
    except exception.DB_ERRORS as e:
        common.err('database error: %s' % exception.reason(e))
        return common.EXIT_DATABASE


if __name__ == '__main__':
    sys.exit(main())
