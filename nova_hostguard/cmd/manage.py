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

"""``nova-hostguard-manage``: schema, audit and repair, cell by cell.

Reads nova's own configuration, like ``nova-manage``::

    nova-hostguard-manage --config-file /etc/nova/nova.conf db sync \
        [--all-cells]
    nova-hostguard-manage --config-file /etc/nova/nova.conf db version
    nova-hostguard-manage --config-file /etc/nova/nova.conf db remove
    nova-hostguard-manage --config-file /etc/nova/nova.conf audit \
        [--all-cells] [--format table|json]
    nova-hostguard-manage --config-file /etc/nova/nova.conf repair \
        --hypervisor NAME --owner HOST [--apply] [--all-cells]

Exit status: 0 done, nothing to do, or (audit) clean; 1 refused (db sync:
a hypervisor already has more than one live owner; repair: not safe) or
(audit) problems found; 2 bad usage or configuration; 3 a database could
not be reached or changed; 255 an unexpected error (one line; the
traceback with --debug).
"""

import argparse
import json
import sys

from oslo_config import cfg

from nova_hostguard import audit as audits
from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard.db import migration
from nova_hostguard.db import splits as db_splits
from nova_hostguard import repair as repairs

CONF = cfg.CONF

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

DB_ERRORS = common.DB_ERRORS
#: Why a cell's migration can fail: a database error, a lock not granted
#: in time, or the migration's own refusal (RuntimeError).
SYNC_ERRORS = DB_ERRORS + (migration.LockTimeout, RuntimeError)
_reason = common.reason

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


def out(text=''):
    print(text)


def err(text):
    print('nova-hostguard-manage: %s' % text, file=sys.stderr)


def _splits_report(found):
    """Lines naming every split hypervisor: (cell, [Split])."""
    lines = []
    for cell, splits in found:
        for split in splits:
            lines.append('  %s: hypervisor %r has %d live compute nodes:' % (
                cells.describe(cell), split.hypervisor_hostname,
                len(split.nodes)))
            lines.extend('      host %r, compute node %s' % (
                node.host, node.uuid) for node in split.nodes)
    return lines


class DbCommands:
    """nova-hostguard's schema in nova's cell databases."""

    def sync(self, args):
        """Add the unique constraint; refuse if any hypervisor is split."""
        head = migration.head_revision()
        targets = cells.targets(CONF, args.all_cells)
        pending, found = [], []
        for cell in targets:
            engine = cells.engine(cell)
            try:
                before = migration.state(engine)
                if before.revision == head and before.problem is None:
                    out('%s: already at %s, nothing to do'
                        % (cells.describe(cell), head))
                    continue
                with engine.connect() as conn:
                    splits = db_splits.split_hypervisors(conn)
            except DB_ERRORS as e:
                err('%s: cannot read the database: %s. Nothing was changed.'
                    % (cells.describe(cell), _reason(e)))
                return EXIT_DATABASE
            if splits:
                found.append((cell, splits))
            pending.append((cell, engine, before))
        if found:
            count = sum(len(s) for _c, s in found)
            err('refusing to add the unique constraint: %d hypervisor%s '
                'already %s more than one live owner. Nothing was changed.'
                % (count, '' if count == 1 else 's',
                   'has' if count == 1 else 'have'))
            for line in _splits_report(found) + ['', SPLIT_ADVICE]:
                print(line, file=sys.stderr)
            return EXIT_REFUSED
        done = []
        for cell, engine, before in pending:
            try:
                outcome = migration.upgrade(engine,
                                            lock_timeout=args.lock_timeout)
            except SYNC_ERRORS as e:
                if not self._done_by_another(engine, head):
                    return self._sync_failed(cell, engine, e, before, done)
                outcome = migration.NOTHING
            out('%s: %s' % (cells.describe(cell), self._outcome(
                outcome, before, head)))
            done.append(cell)
        return EXIT_OK

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
        except DB_ERRORS:
            return False

    def _sync_failed(self, cell, engine, error, before, done):
        err('%s: could not apply the constraint: %s'
            % (cells.describe(cell), _reason(error)))
        try:
            after = migration.state(engine)
            with engine.connect() as conn:
                splits = db_splits.split_hypervisors(conn)
        except DB_ERRORS:
            after, splits = None, []
        if splits:
            print('A compute node record was created while the constraint '
                  'was being added:', file=sys.stderr)
            for line in _splits_report([(cell, splits)]) + ['', SPLIT_ADVICE]:
                print(line, file=sys.stderr)
        if after == before:
            print('This cell is unchanged.', file=sys.stderr)
        elif after is None:
            print('This cell\'s state could not be read again; "db version" '
                  'shows it.', file=sys.stderr)
        else:
            # Another session's work, or a leftover this run could not
            # remove (logged above): say what the cell holds now.
            print('This cell is not as this run found it: it is now at %s.'
                  % migration.describe(after, migration.head_revision()),
                  file=sys.stderr)
        print('%s.' % ('The constraint was applied to ' + ', '.join(
            cells.describe(c) for c in done) if done else
            'No other cell was changed'), file=sys.stderr)
        return EXIT_DATABASE

    def version(self, args):
        """Print the applied revision of each cell."""
        head = migration.head_revision()
        status = EXIT_OK
        for cell in cells.targets(CONF, args.all_cells):
            try:
                state = migration.state(cells.engine(cell))
            except DB_ERRORS as e:
                err('%s: cannot read the database: %s'
                    % (cells.describe(cell), _reason(e)))
                status = EXIT_DATABASE
                continue
            line = migration.describe(state, head)
            if state.revision and state.problem:
                line += ' ("db sync" repairs it)'
            out('%s: %s' % (cells.describe(cell), line))
        return status

    def remove(self, args):
        """Remove nova-hostguard's schema, leaving nova's as nova made it."""
        for cell in cells.targets(CONF, args.all_cells):
            engine = cells.engine(cell)
            try:
                current = migration.current_revision(engine)
                migration.remove(engine, lock_timeout=args.lock_timeout)
            except (migration.LockTimeout,) + DB_ERRORS as e:
                err('%s: could not remove the constraint: %s'
                    % (cells.describe(cell), _reason(e)))
                return EXIT_DATABASE
            out('%s: %s' % (cells.describe(cell),
                            'removed %s' % current if current else
                            'nothing to remove'))
        return EXIT_OK


class AuditCommand:
    """Find split hypervisors, partitioned instances, orphan records."""

    def audit(self, args):
        """Audit the cells; exit 0 when clean, 1 when anything is found."""
        targets = cells.targets(CONF, args.all_cells)
        report = audits.Report([cells.describe(c) for c in targets])
        nodes_by_cell = []
        for cell in targets:
            engine = cells.engine(cell)
            try:
                with engine.connect() as conn:
                    nodes_by_cell.append((cells.describe(cell),
                                          audits.audit_cell(
                                              conn, cells.describe(cell),
                                              report)))
            except DB_ERRORS as e:
                err('%s: cannot read the database: %s'
                    % (cells.describe(cell), _reason(e)))
                return EXIT_DATABASE
            finally:
                engine.dispose()
        audits.cross_cell(nodes_by_cell, report)
        if args.format == 'json':
            out(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        else:
            for line in audits.render(report):
                out(line)
        return EXIT_OK if report.clean else EXIT_REFUSED


class RepairCommand:
    """Give a split hypervisor one owner again (dry run by default)."""

    def repair(self, args):
        """Plan the repair; apply it with --apply."""
        found, not_owner = [], None
        for cell in cells.targets(CONF, args.all_cells):
            engine = cells.engine(cell)
            try:
                with engine.connect() as conn:
                    the_plan = repairs.plan(conn, *self._what(args))
                found.append((cell, engine, the_plan))
            except repairs.NotOwner as e:
                not_owner = (cell, e.reasons)   # maybe another cell's
            except repairs.Unsafe as e:
                return self._refused(cell, e.reasons)
            except DB_ERRORS as e:
                err('%s: cannot read the database: %s. Nothing was changed.'
                    % (cells.describe(cell), _reason(e)))
                return EXIT_DATABASE
        if not found and not_owner and not args.all_cells:
            return self._refused(*not_owner)
        if len(found) != 1:
            err('hypervisor %r with a live record of host %r is in %s; '
                'repair one cell at a time (without --all-cells, with that '
                'cell\'s [database] connection). Nothing was changed.' % (
                    args.hypervisor, args.owner, ', '.join(
                        cells.describe(c) for c, _e, _p in found) or
                    'no cell'))
            return EXIT_REFUSED
        cell, engine, the_plan = found[0]
        out('Repair of hypervisor %r in %s: owner %r (compute node %s).'
            % (args.hypervisor, cells.describe(cell), args.owner,
               the_plan.owner.uuid))
        if the_plan.empty:
            out('Nothing to repair: no other host holds a record of it or '
                'instances on it.')
            return EXIT_OK
        if not args.apply:
            for line in the_plan.changes():
                out('  ' + line)
            out('Dry run: nothing was changed. Run again with --apply to '
                'make these changes, in one transaction.')
            return EXIT_OK
        try:
            with engine.connect() as conn:
                applied = repairs.apply(conn, *self._what(args))
                dialect = conn.dialect
        except repairs.Unsafe as e:
            return self._refused(cell, e.reasons)
        except DB_ERRORS as e:
            err('%s: the repair failed and was rolled back: %s'
                % (cells.describe(cell), _reason(e)))
            return EXIT_DATABASE
        if applied.empty:
            # What the locked re-plan found, not what the first read did.
            out('Nothing was changed: when the repair locked the rows, no '
                'other host held a live record of the hypervisor or '
                'instances on it any more (another repair finished first?).')
            return EXIT_OK
        for line in applied.changes():
            out('  ' + line)
        out('Applied, in one transaction.')
        self._afterwards(applied, dialect)
        return EXIT_OK

    def _what(self, args):
        """What repairs.plan() and apply() take after the connection."""
        return (args.hypervisor, args.owner, CONF.service_down_time,
                placement_allocations())

    def _refused(self, cell, reasons):
        err('%s: refusing to repair; nothing was changed:' %
            cells.describe(cell))
        for reason in reasons:
            print('  ' + reason, file=sys.stderr)
        return EXIT_REFUSED

    def _afterwards(self, applied, dialect):
        out('')
        out('Placement, now: the moved instances still have allocations '
            'against the retired records\' resource providers. Move them '
            'to the owner\'s, then delete those providers:')
        for move in applied.moves:
            out('  nova-manage placement heal_allocations --instance %s '
                '--force' % move.uuid)
        for node in applied.stale:
            out('  openstack resource provider delete %s' % node.uuid)
        hosts = sorted({n.host for n in applied.stale} |
                       {m.host for m in applied.moves})
        out('Then delete the compute service of %s ("openstack compute '
            'service delete <id>") once nothing runs there.' % ', '.join(
                repr(h) for h in hosts))
        out('')
        out('To undo, on the cell database (remove the unique constraint '
            'first, "db remove": undoing recreates the split, which it '
            'refuses):')
        for statement in applied.undo(dialect):
            out('  ' + statement)


def placement_allocations():
    """The consumers of a resource provider's allocations, from placement.

    Through nova's own placement client and ``[placement]`` options; built
    on first use, so that a repair that retires nothing needs no placement.
    """
    client = []

    def allocations(rp_uuid):
        if not client:
            from nova.scheduler.client import report
            client.append(report.SchedulerReportClient())
        response = client[0].get('/resource_providers/%s/allocations'
                                 % rp_uuid, version='1.0')
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise RuntimeError('placement answered %s' % response.status_code)
        return list(response.json()['allocations'])
    return allocations


ACTIONS = {
    'sync': DbCommands().sync,
    'version': DbCommands().version,
    'remove': DbCommands().remove,
    'audit': AuditCommand().audit,
    'repair': RepairCommand().repair,
}

ALL_CELLS_HELP = ('Work on every cell database mapped in the API database '
                  '([api_database] connection), cell0 included, instead of '
                  'the one in [database] connection.')


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
            'expected a whole number of seconds, at least 1, not %r' % text)
    return seconds


def add_command_parsers(subparsers):
    db = subparsers.add_parser('db', help=DbCommands.__doc__)
    actions = db.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    for name in ('sync', 'version', 'remove'):
        method = getattr(DbCommands, name)
        parser = actions.add_parser(name, help=method.__doc__.splitlines()[0])
        parser.add_argument('--all-cells', action='store_true',
                            help=ALL_CELLS_HELP)
        if name != 'version':
            parser.add_argument(
                '--lock-timeout', metavar='SECONDS', type=_seconds,
                default=migration.DEFAULT_LOCK_TIMEOUT,
                help=LOCK_TIMEOUT_HELP)
        parser.set_defaults(action_fn=name)

    parser = subparsers.add_parser('audit', help=AuditCommand.__doc__)
    parser.add_argument('--all-cells', action='store_true',
                        help=ALL_CELLS_HELP)
    parser.add_argument('--format', choices=('table', 'json'),
                        default='table', help='table for people (default), '
                        'json for scripts')
    parser.set_defaults(action_fn='audit')

    parser = subparsers.add_parser('repair', help=RepairCommand.__doc__)
    parser.add_argument('--hypervisor', required=True,
                        help='the hypervisor_hostname of the split hypervisor')
    parser.add_argument('--owner', required=True,
                        help='the host that really manages it')
    parser.add_argument('--apply', action='store_true',
                        help='make the changes (default: print them only)')
    parser.add_argument('--all-cells', action='store_true',
                        help='find the hypervisor\'s cell among every cell '
                        'mapped in the API database')
    parser.set_defaults(action_fn='repair')


category_opt = cfg.SubCommandOpt('category', title='Commands',
                                 handler=add_command_parsers)


def main():
    return common.run('nova-hostguard-manage', _main)


def _main():
    problem = common.read_configuration(
        CONF, 'nova-hostguard-manage', [category_opt])
    if problem is not None:
        if problem:
            err(problem)
        return EXIT_USAGE
    common.setup_logging(CONF)
    try:
        return ACTIONS[CONF.category.action_fn](CONF.category)
    except cells.ConfigurationError as e:
        err(str(e))
        return EXIT_USAGE
    except DB_ERRORS as e:
        err('database error: %s' % _reason(e))
        return EXIT_DATABASE


if __name__ == '__main__':
    sys.exit(main())
