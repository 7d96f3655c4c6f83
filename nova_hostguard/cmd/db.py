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


"""``nova-hostguard-manage db``: the unique constraint, cell by cell."""

import argparse

from oslo_config import cfg

from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard.db import migration
from nova_hostguard.db import splits
from nova_hostguard import display
from nova_hostguard import exception

CONF = cfg.CONF

SPLIT_ADVICE = (
    'Each of these hypervisors is split (nova bug 1419785): nova counts '
    'two hosts where there is one. For each, decide which host really '
    'manages the hypervisor, then retire the other host\'s compute node '
    'record: "nova-hostguard-manage repair --hypervisor NAME --owner HOST" '
    'moves that host\'s instances to the owner and retires the record in '
    'one transaction (a dry run first); or move or delete them yourself '
    'and delete its compute service ("openstack compute service delete '
    '<id>"), which soft-deletes its compute node records. Then run this '
    'command again.')

LOCK_TIMEOUT_HELP = (
    'How long to wait for any lock, in seconds (default: %(default)s): for '
    'another run on the same cell database, and for transactions open on '
    'compute_nodes. While the schema change waits, nova\'s queries on '
    'compute_nodes may queue behind it; after this long it gives up, '
    'changing nothing in that cell.')


def _seconds(text):
    """A whole number of seconds, at least 1.

    0 would mean "forever" to PostgreSQL and "not at all" to MySQL.
    """
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise argparse.ArgumentTypeError(
            'expected a whole number of seconds, at least 1, not %s'
            % display.quoted(text))
    return seconds


#: The options several actions take, declared once.
all_cells = common.args('--all-cells', action='store_true',
                        help=common.ALL_CELLS_HELP)
lock_timeout = common.args('--lock-timeout', metavar='SECONDS',
                           type=_seconds,
                           default=migration.DEFAULT_LOCK_TIMEOUT,
                           help=LOCK_TIMEOUT_HELP)


def _report_splits(found):
    """On stderr: every split hypervisor, then what to do about it."""
    for split in found:
        common.more('  %s: hypervisor %s has %d live compute nodes:' % (
            split.cell, display.quoted(split.hypervisor_hostname),
            len(split.nodes)))
        for node in split.nodes:
            common.more('      host %s, compute node %s'
                        % (display.quoted(node.host), node.uuid))
    common.more('')
    common.more(SPLIT_ADVICE)


def _splits(engine, cell):
    with engine.connect() as conn:
        return splits.find_splits(cells.describe(cell),
                                  splits.live_nodes(conn))


class DbCommands:
    """nova-hostguard's schema in nova's cell databases."""

    @all_cells
    @lock_timeout
    def sync(self, args):
        """Add the unique constraint; refuse if any hypervisor is split."""
        head = migration.head_revision()

        def read(cell, engine):
            """The cell's state, and its splits if it is to be synced."""
            before = migration.state(engine)
            if before == migration.State(head, None):
                common.out('%s: already at %s, nothing to do'
                           % (cells.describe(cell), head))
                return before, None
            return before, _splits(engine, cell)
        try:
            found = cells.walk(cells.targets(CONF, args.all_cells), read)
        except exception.CellDatabaseError as e:
            common.err('%s. Nothing was changed.' % e)
            return common.EXIT_DATABASE
        split = [s for _cell, (_before, in_cell) in found
                 for s in in_cell or ()]
        if split:
            count = len(split)
            common.err('refusing to add the unique constraint: %d hypervisor'
                       '%s already %s more than one live owner. Nothing was '
                       'changed.' % (count, '' if count == 1 else 's',
                                     'has' if count == 1 else 'have'))
            _report_splits(split)
            return common.EXIT_REFUSED
        done = []
        for cell, (before, in_cell) in found:
            if in_cell is None:   # at head already
                continue
            engine = cells.engine(cell)
            try:
                outcome = migration.upgrade(engine,
                                            lock_timeout=args.lock_timeout)
            except exception.SYNC_ERRORS as e:
                if not self._done_by_another(engine, head):
                    return self._sync_failed(cell, engine, e, before, done)
                outcome = migration.NOTHING
            common.out('%s: %s' % (cells.describe(cell), self._outcome(
                outcome, before, head)))
            done.append(cell)
        return common.EXIT_OK

    @staticmethod
    def _outcome(outcome, before, head):
        if outcome == migration.APPLIED:
            return ('applied %s (unique hypervisor_hostname per live compute '
                    'node)' % head)
        if outcome == migration.REPAIRED:
            return ('repaired %s: it was recorded, but %s; the constraint is '
                    'in place now' % (head, before.problem))
        return ('already at %s, nothing to do: another session applied it '
                'while this one ran' % head)

    @staticmethod
    def _done_by_another(engine, head):
        """After a failure: did another session leave the cell at head?"""
        try:
            return migration.state(engine) == (head, None)
        except exception.DB_ERRORS:
            return False

    def _sync_failed(self, cell, engine, error, before, done):
        common.err('%s: could not apply the constraint: %s'
                   % (cells.describe(cell), exception.reason(error)))
        try:
            after = migration.state(engine)
            found = _splits(engine, cell)
        except exception.DB_ERRORS:
            after, found = None, []
        if found:
            common.more('A compute node record was created while the '
                        'constraint was being added:')
            _report_splits(found)
        if after == before:
            common.more('This cell is unchanged.')
        elif after is None:
            common.more('This cell\'s state could not be read again; "db '
                        'version" shows it.')
        else:
            # Another session's work, or a leftover this run could not
            # remove (logged above): say what the cell holds now.
            common.more('This cell is not as this run found it: it is now '
                        'at %s.' % migration.describe(
                            after, migration.head_revision()))
        common.more('%s.' % ('The constraint was applied to ' + ', '.join(
            cells.describe(c) for c in done) if done else
            'No other cell was changed'))
        return common.EXIT_DATABASE

    @all_cells
    def version(self, args):
        """Print the applied revision of each cell."""
        head = migration.head_revision()
        status = common.EXIT_OK
        for cell in cells.targets(CONF, args.all_cells):
            try:
                state = cells.read(cell, migration.state)
            except exception.CellDatabaseError as e:
                common.err(str(e))
                status = common.EXIT_DATABASE
                continue
            line = migration.describe(state, head)
            if state.revision and state.problem:
                line += ' ("db sync" repairs it)'
            common.out('%s: %s' % (cells.describe(cell), line))
        return status

    @all_cells
    @lock_timeout
    def remove(self, args):
        """Remove nova-hostguard's schema, leaving nova's as nova made it."""
        for cell in cells.targets(CONF, args.all_cells):
            engine = cells.engine(cell)
            try:
                current = migration.current_revision(engine)
                migration.remove(engine, lock_timeout=args.lock_timeout)
            except exception.REMOVE_ERRORS as e:
                common.err('%s: could not remove the constraint: %s'
                           % (cells.describe(cell), exception.reason(e)))
                return common.EXIT_DATABASE
            common.out('%s: %s' % (cells.describe(cell),
                                   'removed %s' % current if current else
                                   'nothing to remove'))
        return common.EXIT_OK
