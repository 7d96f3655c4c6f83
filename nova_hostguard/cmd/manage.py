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

"""``nova-hostguard-manage``: nova-hostguard's schema, cell by cell.

Reads nova's own configuration, like ``nova-manage``::

    nova-hostguard-manage --config-file /etc/nova/nova.conf db sync
    nova-hostguard-manage --config-file /etc/nova/nova.conf db sync --all-cells
    nova-hostguard-manage --config-file /etc/nova/nova.conf db version
    nova-hostguard-manage --config-file /etc/nova/nova.conf db remove

Exit status: 0 done (or nothing to do), 1 refused (a hypervisor already has
more than one live owner), 2 bad usage or configuration, 3 a database could
not be reached or changed.
"""

import sys

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as logging
import sqlalchemy as sa

from nova_hostguard import cells
from nova_hostguard.db import migration
from nova_hostguard.db import splits as db_splits

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

DB_ERRORS = (db_exc.DBError, sa.exc.SQLAlchemyError)

SPLIT_ADVICE = (
    'Each of these hypervisors is split (nova bug 1419785): nova counts '
    'two hosts where there is one. For each, decide which host really '
    'manages the hypervisor, then retire the other host\'s compute node '
    'record: move or delete that host\'s instances, then delete its '
    'compute service ("openstack compute service delete <id>"), which '
    'soft-deletes its compute node records. Then run this command again.')


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

    def sync(self, all_cells):
        """Add the unique constraint; refuse if any hypervisor is split."""
        head = migration.head_revision()
        targets = cells.targets(CONF, all_cells)
        pending, found = [], []
        for cell in targets:
            engine = cells.engine(cell)
            try:
                if migration.current_revision(engine) == head:
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
            pending.append((cell, engine))
        if found:
            count = sum(len(s) for _c, s in found)
            err('refusing to add the unique constraint: %d hypervisor%s '
                'already %s more than one live owner. Nothing was changed.'
                % (count, '' if count == 1 else 's',
                   'has' if count == 1 else 'have'))
            for line in _splits_report(found) + ['', SPLIT_ADVICE]:
                print(line, file=sys.stderr)
            return EXIT_REFUSED
        for done, (cell, engine) in enumerate(pending):
            try:
                migration.upgrade(engine)
            except DB_ERRORS as e:
                return self._sync_failed(cell, engine, e, pending[:done])
            out('%s: applied %s (unique hypervisor_hostname per live compute '
                'node)' % (cells.describe(cell), head))
        return EXIT_OK

    def _sync_failed(self, cell, engine, error, done):
        err('%s: could not apply the constraint: %s'
            % (cells.describe(cell), _reason(error)))
        try:
            with engine.connect() as conn:
                splits = db_splits.split_hypervisors(conn)
        except DB_ERRORS:
            splits = []
        if splits:
            print('A compute node record was created while the constraint '
                  'was being added:', file=sys.stderr)
            for line in _splits_report([(cell, splits)]) + ['', SPLIT_ADVICE]:
                print(line, file=sys.stderr)
        print('This cell is unchanged; %s.' % (
            'the constraint was applied to ' + ', '.join(
                cells.describe(c) for c, _e in done) if done else
            'no cell was changed'), file=sys.stderr)
        return EXIT_DATABASE

    def version(self, all_cells):
        """Print the applied revision of each cell."""
        head = migration.head_revision()
        status = EXIT_OK
        for cell in cells.targets(CONF, all_cells):
            try:
                current = migration.current_revision(cells.engine(cell))
            except DB_ERRORS as e:
                err('%s: cannot read the database: %s'
                    % (cells.describe(cell), _reason(e)))
                status = EXIT_DATABASE
                continue
            if current is None:
                state = 'not applied (head is %s)' % head
            elif current == head:
                state = '%s (head)' % current
            else:
                state = '%s (head is %s)' % (current, head)
            out('%s: %s' % (cells.describe(cell), state))
        return status

    def remove(self, all_cells):
        """Remove nova-hostguard's schema, leaving nova's as nova made it."""
        for cell in cells.targets(CONF, all_cells):
            engine = cells.engine(cell)
            try:
                current = migration.current_revision(engine)
                migration.remove(engine)
            except DB_ERRORS as e:
                err('%s: could not remove the constraint: %s'
                    % (cells.describe(cell), _reason(e)))
                return EXIT_DATABASE
            out('%s: %s' % (cells.describe(cell),
                            'removed %s' % current if current else
                            'nothing to remove'))
        return EXIT_OK


def _reason(error):
    """The database's own words, without SQLAlchemy's background links."""
    inner = getattr(error, 'inner_exception', None) or error
    orig = getattr(inner, 'orig', None)
    return str(orig if orig is not None else inner).splitlines()[0]


CATEGORIES = {'db': DbCommands}

ALL_CELLS_HELP = ('Work on every cell database mapped in the API database '
                  '([api_database] connection), cell0 included, instead of '
                  'the one in [database] connection.')


def add_command_parsers(subparsers):
    db = subparsers.add_parser('db', help=DbCommands.__doc__)
    actions = db.add_subparsers(dest='action', metavar='ACTION')
    actions.required = True
    for name in ('sync', 'version', 'remove'):
        method = getattr(DbCommands, name)
        parser = actions.add_parser(name, help=method.__doc__.splitlines()[0])
        parser.add_argument('--all-cells', action='store_true',
                            help=ALL_CELLS_HELP)
        parser.set_defaults(action_fn=name)


category_opt = cfg.SubCommandOpt('category', title='Commands',
                                 handler=add_command_parsers)


def _parse_configuration():
    """Read nova.conf as nova's binaries do; a message if it cannot be."""
    from nova import monkey_patch

    try:
        # nova's own first step: choose the concurrency mode (reading
        # nova.conf) before anything may import eventlet.
        monkey_patch.patch(backend='threading')
        import nova.conf  # noqa: F401  (nova's [database] options)
        from oslo_messaging import opts as messaging_opts

        # [DEFAULT] transport_url: nova's cell mappings may be templates
        # that refer to it.
        for group, opts in messaging_opts.list_opts():
            if group is None:
                CONF.register_opts(opts)
        CONF.register_cli_opt(category_opt)
        logging.register_options(CONF)
        CONF(sys.argv[1:], project='nova', prog='nova-hostguard-manage')
    except cfg.Error as e:
        return str(e)
    except SystemExit as e:
        # --help; argparse after printing its usage; a bad [hostguard] option.
        if not e.code:
            raise
        return e.code if isinstance(e.code, str) else ''
    return None


def setup_logging():
    """Warnings and errors on stderr; stdout is the command's own output."""
    CONF.set_default('use_stderr', True)
    logging.set_defaults(default_log_levels=(
        logging.get_default_log_levels() + ['alembic=WARN']))
    logging.setup(CONF, 'nova-hostguard')


def main():
    problem = _parse_configuration()
    if problem is not None:
        if problem:
            err(problem)
        return EXIT_USAGE
    setup_logging()
    command = CATEGORIES[CONF.category.name]()
    try:
        return getattr(command, CONF.category.action_fn)(
            all_cells=CONF.category.all_cells)
    except cells.ConfigurationError as e:
        err(str(e))
        return EXIT_USAGE
    except DB_ERRORS as e:
        err('cannot read the API database: %s' % _reason(e))
        return EXIT_DATABASE


if __name__ == '__main__':
    sys.exit(main())
