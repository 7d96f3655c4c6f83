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

"""``nova-hostguard-manage services``."""

import json

from oslo_config import cfg

from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard import coverage
from nova_hostguard import display
from nova_hostguard import exception

CONF = cfg.CONF

COLUMNS = ('cell', 'host', 'state', 'guard', 'records marked')


@common.args('--all-cells', action='store_true', help=common.ALL_CELLS_HELP)
@common.args('--format', choices=('table', 'json'), default='table',
             help='table for people (default), json for scripts')
def services(args):
    """List the nova-compute services and whether each runs the guard.

    Read from the compute node records each service last reported. Exit 0
    when every up service runs it, 1 when an up service does not.
    """
    try:
        found = coverage.read_cells(cells.targets(CONF, args.all_cells),
                                    CONF)
    except exception.CellDatabaseError as e:
        common.err(str(e))
        return common.EXIT_DATABASE
    if args.format == 'json':
        common.out(json.dumps({'services': [f._asdict() for f in found]},
                              indent=2, sort_keys=True))
    else:
        for line in render(found):
            common.out(line)
    unguarded = coverage.unguarded_up(found)
    return common.EXIT_REFUSED if unguarded else common.EXIT_OK


def render(found):
    """A table, then one line saying what needs doing."""
    rows = [(f.cell, display.quoted(f.host), f.state,
             '%s (%s)' % (f.guard, ', '.join(f.marks)) if f.marks
             else f.guard, '%d of %d' % (f.marked, f.nodes))
            for f in found]
    widths = [max([len(c)] + [len(r[i]) for r in rows])
              for i, c in enumerate(COLUMNS)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip(),
             '  '.join('-' * w for w in widths)]
    lines.extend('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                 for r in rows)
    unguarded = coverage.unguarded_up(found)
    lines.append('')
    if unguarded:
        lines.append(
            '%d up nova-compute service(s) run without the guard: %s. '
            'Install nova-hostguard in their Python and check that their '
            'nova.conf has "config_source = hostguard"; their log then '
            'says "nova-hostguard ... guards this nova-compute".' % (
                len(unguarded),
                ', '.join(display.quoted(f.host) for f in unguarded)))
    else:
        lines.append('Every up nova-compute service runs the guard.')
    return lines
