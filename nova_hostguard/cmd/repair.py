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


"""``nova-hostguard-manage repair``: a dry run, or the repair with --apply.
"""

from oslo_config import cfg

from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard import display
from nova_hostguard import exception
from nova_hostguard import repair as repairs

CONF = cfg.CONF


@common.args('--hypervisor', required=True,
             help='the hypervisor_hostname of the split hypervisor')
@common.args('--owner', required=True,
             help='the host that really manages it')
@common.args('--apply', action='store_true',
             help='make the changes (default: print them only)')
@common.args('--all-cells', action='store_true',
             help='find the hypervisor\'s cell among every cell mapped in '
             'the API database')
def repair(args):
    """Give a split hypervisor one owner again (dry run by default).

    Plans the repair and prints it; with --apply, plans it again with the
    rows locked and applies it, in one transaction.
    """
    what = (args.hypervisor, args.owner, CONF.service_down_time,
            repairs.PlacementAllocations())
    try:
        cell, the_plan = repairs.choose_cell(
            cells.targets(CONF, args.all_cells), *what,
            all_cells=args.all_cells)
    except exception.Unsafe as e:
        return _refused(e)
    except exception.NotOneCell as e:
        common.err(str(e))
        return common.EXIT_REFUSED
    except exception.CellDatabaseError as e:
        common.err('%s. Nothing was changed.' % e)
        return common.EXIT_DATABASE
    common.out('Repair of hypervisor %s in %s: owner %s (compute node %s).'
               % (display.quoted(args.hypervisor), cells.describe(cell),
                  display.quoted(args.owner), the_plan.owner.uuid))
    if the_plan.empty:
        common.out('Nothing to repair: no other host holds a record of it '
                   'or instances on it.')
        return common.EXIT_OK
    if not args.apply:
        for line in the_plan.changes():
            common.out('  ' + line)
        common.out('Dry run: nothing was changed. Run again with --apply to '
                   'make these changes, in one transaction.')
        return common.EXIT_OK
    engine = cells.engine(cell)
    try:
        with engine.connect() as conn:
            applied = repairs.apply(conn, *what)
            dialect = conn.dialect
    except exception.Unsafe as e:
        e.cell = cells.describe(cell)
        return _refused(e)
    except exception.DB_ERRORS as e:
        common.err('%s: the repair failed and was rolled back: %s'
                   % (cells.describe(cell), exception.reason(e)))
        return common.EXIT_DATABASE
    if applied.empty:
        # What the locked re-plan found, not what the first read did.
        common.out('Nothing was changed: when the repair locked the rows, '
                   'no other host held a live record of the hypervisor or '
                   'instances on it any more (another repair finished '
                   'first?).')
        return common.EXIT_OK
    for line in applied.changes():
        common.out('  ' + line)
    common.out('Applied, in one transaction.')
    _afterwards(applied, dialect)
    return common.EXIT_OK


def _refused(unsafe):
    common.err('%s: refusing to repair; nothing was changed:' % unsafe.cell)
    for reason in unsafe.reasons:
        common.more('  ' + reason)
    return common.EXIT_REFUSED


def _afterwards(applied, dialect):
    """What is left to do in placement and nova, and how to undo."""
    common.out('')
    common.out('Placement, now: the moved instances still have allocations '
               'against the retired records\' resource providers. Move them '
               'to the owner\'s, then delete those providers:')
    for move in applied.moves:
        common.out('  nova-manage placement heal_allocations --instance %s '
                   '--force' % move.uuid)
    for node in applied.stale:
        common.out('  openstack resource provider delete %s' % node.uuid)
    hosts = sorted({n.host for n in applied.stale} |
                   {m.host for m in applied.moves})
    common.out('Then delete the compute service of %s ("openstack compute '
               'service delete <id>") once nothing runs there.' % ', '.join(
                   display.quoted(h) for h in hosts))
    common.out('')
    common.out('To undo, on the cell database (remove the unique constraint '
               'first, "db remove": undoing recreates the split, which it '
               'refuses):')
    for statement in applied.undo(dialect):
        common.out('  ' + statement)
