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

"""``nova-hostguard-status upgrade check``, like ``nova-status``.

Reads nova's configuration and answers, with oslo.upgradecheck's codes
(0 success, 1 warning, 2 failure, also for a configuration or a database
that cannot be used; 255 an unexpected error, in one line): is the unique
constraint in every cell, does any hypervisor have more than one live
owner, is the guard switched on in the configuration read, and does
every up nova-compute run it.
"""

import sys

from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

from nova_hostguard import audit as audits
from nova_hostguard import cells
from nova_hostguard.cmd import common
from nova_hostguard import conf as hostguard_conf
from nova_hostguard import coverage
from nova_hostguard.db import migration
from nova_hostguard import display
from nova_hostguard import exception

CONF = cfg.CONF
Code = upgradecheck.Code
Result = upgradecheck.Result


class Checks(upgradecheck.UpgradeCommands):
    """nova-hostguard's upgrade checks."""

    _targets = None

    def _cells(self):
        """Every cell if the API database is configured, else [database]."""
        if self._targets is None:
            self._targets = cells.targets(
                CONF, bool(CONF.api_database.connection))
        return self._targets

    def _each_cell(self, read):
        """``read(targets)`` on the cells to check.

        :returns: ``(read's value, None)``, or ``(None, Result)`` with the
            failure that stopped it.
        """
        try:
            targets = self._cells()
        except exception.ConfigurationError as e:
            return None, Result(Code.FAILURE, str(e))
        except exception.DB_ERRORS as e:
            return None, Result(Code.FAILURE, 'cannot read the cell mappings '
                                'from the API database: %s'
                                % exception.reason(e))
        if not targets:
            return None, Result(Code.WARNING, (
                'No cell is mapped in the API database ([api_database] '
                'connection): nothing was checked. Map the cells with '
                '"nova-manage cell_v2" first.'))
        try:
            return read(targets), None
        except exception.CellDatabaseError as e:
            return None, Result(Code.FAILURE, str(e))

    def _check_constraint(self):
        found, failure = self._each_cell(lambda targets: cells.walk(
            targets, lambda _cell, engine: migration.state(engine)))
        if failure:
            return failure
        head = migration.head_revision()
        # In place means recorded at head and really there.
        missing = ['%s: %s' % (cells.describe(cell),
                               migration.describe(state, head))
                   for cell, state in found if state != (head, None)]
        if missing:
            return Result(Code.WARNING, (
                'The unique constraint is missing in %s. Two nova-compute '
                'services starting at once could both pass the guard\'s '
                'check. Run "nova-hostguard-manage db sync --all-cells".')
                % '; '.join(missing))
        return Result(Code.SUCCESS)

    def _check_split_hypervisors(self):
        report, failure = self._each_cell(audits.run)
        if failure:
            return failure
        names = report.split_names
        if not names:
            return Result(Code.SUCCESS)
        return Result(Code.FAILURE, (
            '%d hypervisor(s) have more than one live owner: %s. Resolve '
            'them ("nova-hostguard-manage audit" lists them, "repair" '
            'undoes a split) before applying the constraint.') % (
                len(names), ', '.join(display.quoted(n) for n in names)))

    def _check_guard_enabled(self):
        groups = [g for g in CONF.config_source
                  if CONF[g].driver == 'hostguard']
        if not groups:
            return Result(Code.WARNING, (
                'The guard is not switched on in %s: nova services reading '
                'it run unguarded. Add "config_source = hostguard" to '
                '[DEFAULT] and "driver = hostguard" to [hostguard].') % (
                    ', '.join(CONF.config_file) or 'the configuration'))
        if CONF[groups[0]].mode == hostguard_conf.MODE_WARN:
            return Result(Code.WARNING, (
                '[%s] mode = warn: a second host for a hypervisor is only '
                'logged, not refused.') % groups[0])
        return Result(Code.SUCCESS)

    def _check_computes_guarded(self):
        found, failure = self._each_cell(
            lambda targets: coverage.read_cells(targets, CONF))
        if failure:
            return failure
        unguarded = coverage.unguarded_up(found)
        if not unguarded:
            return Result(Code.SUCCESS)
        return Result(Code.WARNING, (
            '%d up nova-compute service(s) report their compute nodes '
            'without the guard: %s. Install nova-hostguard where they run '
            'and switch it on in their nova.conf ("nova-hostguard-manage '
            'services" lists every service).') % (
                len(unguarded),
                ', '.join(display.quoted(f.host) for f in unguarded)))

    _upgrade_checks = (
        ('Unique hypervisor constraint in every cell', _check_constraint),
        ('No hypervisor with more than one live owner',
         _check_split_hypervisors),
        ('Guard switched on', _check_guard_enabled),
        ('Every up nova-compute runs the guard', _check_computes_guarded),
    )


def main():
    return common.run('nova-hostguard-status', _main)


def _main():
    checks = Checks()
    upgradecheck.register_cli_options(CONF, checks)
    problem = common.read_configuration(CONF, 'nova-hostguard-status')
    if problem is not None:
        if problem:
            print('nova-hostguard-status: %s' % problem, file=sys.stderr)
        return 2
    common.setup_logging(CONF)
    # upgradecheck.main() would set this; check() reads --json from it.
    upgradecheck.CONF = CONF
    # Not upgradecheck.run(), which prints an unexpected error's traceback
    # on stdout: common.run() prints one line on stderr (exit 255 alike).
    return CONF.command.action_fn()


if __name__ == '__main__':
    sys.exit(main())
