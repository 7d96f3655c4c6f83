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


"""``nova-hostguard-manage audit``."""

import json

from oslo_config import cfg

from nova_hostguard import audit as audits
from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard import exception

CONF = cfg.CONF


@common.args('--all-cells', action='store_true', help=common.ALL_CELLS_HELP)
@common.args('--format', choices=('table', 'json'), default='table',
             help='table for people (default), json for scripts')
def audit(args):
    """Find split hypervisors, partitioned instances, orphan records.

    Exit 0 when clean, 1 when anything is found.
    """
    try:
        report = audits.run(cells.targets(CONF, args.all_cells))
    except exception.CellDatabaseError as e:
        common.err(str(e))
        return common.EXIT_DATABASE
    if args.format == 'json':
        common.out(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        for line in audits.render(report):
            common.out(line)
    return common.EXIT_OK if report.clean else common.EXIT_REFUSED
