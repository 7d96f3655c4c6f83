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

"""audit and upgrade check, run as commands on MariaDB and PostgreSQL
with nova's real schema (repair, which needs placement running:
tests/e2e/test_repair.py).

"Nothing changed" means: every row of instances, compute_nodes, services
and migrations is as it was before the command.
"""

import json

import sqlalchemy as sa

from nova_hostguard import coverage
from nova_hostguard.db import migration
from tests.db import base
from tests.harness import databases
from tests.harness import fixtures as hostguard_fixtures

GUARD = hostguard_fixtures.GUARD_LINES


class AuditTest(base.CommandTestCase):

    scenarios = base.SERVER_BACKENDS

    def audit(self, *args, conf=None):
        return self.command('nova-hostguard-manage', 'audit', *args,
                            conf=conf)

    def healthy_cloud(self):
        """hv2 on hostC with its instance and service: nothing to find."""
        node = self.create('hostC', 'hv2')
        self.add_service('hostC')
        self.add_instance('hostC', 'hv2', node.id)
        return node

    def test_a_healthy_cloud_is_clean(self):
        self.healthy_cloud()
        result = self.audit()
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('Clean.', result.stdout)
        result = self.audit('--format', 'json')
        self.assertEqual(0, json.loads(result.stdout)['problems'])

    def seed_problems(self):
        """Every kind of problem, once, next to a healthy hypervisor."""
        self.healthy_cloud()
        a = self.create('hostA', 'hv1')
        b = self.create('hostB', 'hv1')
        self.add_service('hostA')
        self.add_service('hostB')
        on_a = self.add_instance('hostA', 'hv1', a.id)
        on_b = self.add_instance('hostB', 'hv1', b.id)
        # Exact host names: 'HOSTC' is another host than 'hostC'.
        case = self.add_instance('HOSTC', 'hv2')
        orphan = self.create('gone\x1b[2J', 'hv3')   # no service
        return a, b, on_a, on_b, case, orphan

    def test_finds_exactly_the_seeded_problems(self):
        a, b, on_a, on_b, case, orphan = self.seed_problems()
        before = self.tables(*base.TABLES)

        result = self.audit('--format', 'json')

        self.assertEqual(1, result.returncode, result.stderr)
        found = json.loads(result.stdout)
        cell = found['cells'][0]
        self.assertEqual(
            [{'cell': cell, 'hypervisor_hostname': 'hv1', 'compute_nodes': [
                {'host': 'hostA', 'uuid': a.uuid},
                {'host': 'hostB', 'uuid': b.uuid}]}],
            found['split_hypervisors'])
        self.assertEqual(sorted([
            {'cell': cell, 'uuid': on_a, 'host': 'hostA', 'node': 'hv1',
             'owners': ['hostA', 'hostB']},
            {'cell': cell, 'uuid': on_b, 'host': 'hostB', 'node': 'hv1',
             'owners': ['hostA', 'hostB']},
            {'cell': cell, 'uuid': case, 'host': 'HOSTC', 'node': 'hv2',
             'owners': ['hostC']}], key=lambda p: (p['node'], p['host'])),
            sorted(found['partitioned_instances'],
                   key=lambda p: (p['node'], p['host'])))
        self.assertEqual(
            [{'cell': cell, 'host': 'gone\x1b[2J', 'hypervisor_hostname':
              'hv3', 'uuid': orphan.uuid}],
            found['compute_nodes_without_service'])
        self.assertEqual([], found['hypervisors_in_several_cells'])
        self.assertEqual(5, found['problems'])
        self.assertEqual(before, self.tables(*base.TABLES))

    def test_the_table_is_for_people_and_safe_for_terminals(self):
        self.seed_problems()
        result = self.audit()
        self.assertEqual(1, result.returncode)
        self.assertNotIn('\x1b', result.stdout)
        self.assertIn(r"host 'gone\x1b[2J', hypervisor 'hv3'", result.stdout)
        self.assertIn('Hypervisors with more than one live compute node '
                      'record: 1', result.stdout)
        self.assertIn('Partitioned instances (on a hypervisor another host '
                      'owns): 3', result.stdout)
        self.assertIn('5 problem(s) found.', result.stdout)

    def test_json_round_trips(self):
        self.seed_problems()
        text = self.audit('--format', 'json').stdout
        self.assertEqual(text.strip(), json.dumps(json.loads(text), indent=2,
                                                  sort_keys=True))

    def test_across_cells(self):
        cell0, api, _uuid0, _uuid1 = self.two_cells()
        self.healthy_cloud()
        with cell0.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO compute_nodes (host, hypervisor_hostname, uuid, "
                "vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, "
                "local_gb_used, hypervisor_type, hypervisor_version, "
                "cpu_info, deleted) VALUES ('hostZ', 'hv2', 'u-z', 1, 1, 1, "
                "0, 0, 0, 'fake', 1, '{}', 0)"))
        result = self.audit('--all-cells', '--format', 'json',
                            conf='[api_database]\nconnection = %s\n'
                            % api.url)
        self.assertEqual(1, result.returncode, result.stderr)
        found = json.loads(result.stdout)
        self.assertEqual(['hv2'], [c['hypervisor_hostname'] for c in
                                   found['hypervisors_in_several_cells']])
        self.assertEqual(
            ['hostC', 'hostZ'],
            sorted(n['host'] for n in
                   found['hypervisors_in_several_cells'][0]['compute_nodes']))
        self.assertEqual([], found['split_hypervisors'])

    def test_an_unreachable_database(self):
        result = self.audit(conf='[database]\nconnection = mysql+pymysql://'
                            'nova:secret@127.0.0.1:1/nova\n')
        self.assertEqual(3, result.returncode)
        self.assertIn('cannot read the database', result.stderr)
        self.assertNotIn('secret', result.stderr)


class ServicesTest(base.CommandTestCase):
    """``services``: which nova-compute services run the guard.

    The mark is what a guarded nova-compute's resource tracker writes in
    its records' stats (tests/e2e/test_processes.py writes it with real
    processes); here the rows are written as nova stores them.
    """

    scenarios = base.SERVER_BACKENDS

    MARK = {coverage.STATS_KEY: coverage.mark('enforce')}

    def services(self, *args, conf=None):
        return self.command('nova-hostguard-manage', 'services', *args,
                            conf=conf)

    def seed(self):
        """One service of each kind the listing tells apart."""
        self.create('hostA', 'hv1', stats=dict(self.MARK, num_instances='0'))
        self.create('hostA', 'hv2', stats=self.MARK)
        self.add_service('hostA')
        # Unguarded: one of its two records lost the mark.
        self.create('hostB', 'hv3', stats={'num_instances': '0'})
        self.create('hostB', 'hv4', stats=self.MARK)
        self.add_service('hostB')
        self.create('hostC', 'hv5')
        self.add_service('hostC', heartbeat_age=3600)
        self.add_service('hostD')
        self.create('hostE', 'hv6', stats=self.MARK)
        self.add_service('hostE', forced_down=True)

    def test_lists_each_service_and_fails_for_an_unguarded_up_one(self):
        self.seed()
        before = self.tables(*base.TABLES)
        result = self.services('--format', 'json')
        self.assertEqual(1, result.returncode, result.stderr)
        found = {f['host']: (f['state'], f['guard'], f['marked'], f['nodes'])
                 for f in json.loads(result.stdout)['services']}
        self.assertEqual({
            'hostA': ('up', 'guarded', 2, 2),
            'hostB': ('up', 'unguarded', 1, 2),
            'hostC': ('down', 'unguarded', 0, 1),
            'hostD': ('up', 'no compute node record', 0, 0),
            'hostE': ('forced down', 'guarded', 1, 1)}, found)
        # Nothing changed: the command only reads.
        self.assertEqual(before, self.tables(*base.TABLES))
        table = self.services()
        self.assertEqual(1, table.returncode)
        self.assertIn("1 up nova-compute service(s) run without the guard: "
                      "'hostB'.", table.stdout)
        self.assertIn('guarded (%s)' % self.MARK[coverage.STATS_KEY],
                      table.stdout)

    def test_every_up_service_guarded_is_success(self):
        # The control: the same listing without hostB passes.
        self.create('hostA', 'hv1', stats=self.MARK)
        self.add_service('hostA')
        self.create('hostC', 'hv5')
        self.add_service('hostC', heartbeat_age=3600)
        result = self.services()
        self.assertEqual(0, result.returncode, result.stdout)
        self.assertIn('Every up nova-compute service runs the guard.',
                      result.stdout)

    def test_heartbeats_outside_the_database_are_no_proof_of_down(self):
        # With nova's memcache service group, last_seen_up never moves:
        # no service can be read as down, so none is left out.
        self.seed()
        result = self.services(
            '--format', 'json', conf='[DEFAULT]\nservicegroup_driver = mc\n'
            '[database]\nconnection = %s\n' % self.db.url)
        self.assertEqual(1, result.returncode, result.stderr)
        found = {f['host']: (f['state'], f['guard'])
                 for f in json.loads(result.stdout)['services']}
        self.assertEqual({
            'hostA': ('unknown', 'guarded'),
            'hostB': ('unknown', 'unguarded'),
            'hostC': ('unknown', 'unguarded'),
            'hostD': ('unknown', 'no compute node record'),
            'hostE': ('forced down', 'guarded')}, found)
        table = self.services(conf='[DEFAULT]\nservicegroup_driver = mc\n'
                              '[database]\nconnection = %s\n' % self.db.url)
        self.assertIn("2 up nova-compute service(s) run without the guard: "
                      "'hostB', 'hostC'.", table.stdout)

    def test_the_upgrade_check_warns_naming_the_unguarded(self):
        self.seed()
        migration.upgrade(self.db.engine)
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', '--json',
            conf='[database]\nconnection = %s\n%s' % (self.db.url, GUARD))
        self.assertEqual(1, result.returncode, result.stdout)
        checks = {c['check']: c for c in json.loads(result.stdout)['checks']}
        check = checks['Every up nova-compute runs the guard']
        self.assertEqual(1, check['result'])
        self.assertIn("1 up nova-compute service(s) report their compute "
                      "nodes without the guard: 'hostB'.", check['details'])

    def test_an_unreachable_database(self):
        result = self.services(conf='[database]\nconnection = mysql+pymysql'
                               '://nova:secret@127.0.0.1:1/nova\n')
        self.assertEqual(3, result.returncode)
        self.assertIn('cannot read the database', result.stderr)
        self.assertNotIn('secret', result.stderr)


class UpgradeCheckTest(base.CommandTestCase):

    scenarios = base.SERVER_BACKENDS

    def check(self, conf_extra=''):
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', '--json',
            conf='[database]\nconnection = %s\n%s' % (
                self.db.url, conf_extra))
        checks = {c['check']: c for c in json.loads(result.stdout)['checks']}
        return result.returncode, checks

    def test_passes_when_all_is_in_place(self):
        self.create('hostA', 'hv1')
        migration.upgrade(self.db.engine)
        code, checks = self.check(GUARD)
        self.assertEqual(0, code, checks)
        self.assertEqual({0}, {c['result'] for c in checks.values()})

    def test_warns_without_the_constraint_or_the_guard(self):
        code, checks = self.check()
        self.assertEqual(1, code)
        constraint = checks['Unique hypervisor constraint in every cell']
        self.assertEqual(1, constraint['result'])
        self.assertIn('nova-hostguard-manage db sync --all-cells',
                      constraint['details'])
        self.assertEqual(1, checks['Guard switched on']['result'])
        self.assertEqual(
            0, checks['No hypervisor with more than one live owner']
            ['result'])

    def test_warns_in_warn_mode(self):
        migration.upgrade(self.db.engine)
        code, checks = self.check(GUARD + 'mode = warn\n')
        self.assertEqual(1, code)
        self.assertIn('mode = warn', checks['Guard switched on']['details'])

    def test_fails_with_a_split_hypervisor(self):
        self.create('hostA', 'hv1')
        self.create('hostB', 'hv1')
        code, checks = self.check(GUARD)
        self.assertEqual(2, code)
        split = checks['No hypervisor with more than one live owner']
        self.assertEqual(2, split['result'])
        self.assertIn("'hv1'", split['details'])

    def test_a_dropped_index_is_not_taken_for_the_constraint(self):
        migration.upgrade(self.db.engine)
        with self.db.engine.begin() as conn:
            if self.backend == 'mysql':
                conn.execute(sa.text('ALTER TABLE compute_nodes DROP INDEX '
                                     '%s' % migration.INDEX))
            else:
                conn.execute(sa.text('DROP INDEX %s' % migration.INDEX))
        code, checks = self.check(GUARD)
        self.assertEqual(1, code)

    def test_an_index_not_recorded_is_not_taken_for_the_constraint(self):
        # "Recorded and really there": the version table is read too.
        migration.upgrade(self.db.engine)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text('DELETE FROM %s' % migration.VERSION_TABLE))
        code, checks = self.check(GUARD)
        self.assertEqual(1, code)
        self.assertIn('not applied (head is %s)' % migration.head_revision(),
                      checks['Unique hypervisor constraint in every cell']
                      ['details'])

    def test_warns_when_no_cell_is_mapped(self):
        # It checked nothing: that is no success.
        api = self.useFixture(databases.NovaApiDatabase(self.backend))
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', '--json',
            conf='[api_database]\nconnection = %s\n%s' % (api.url, GUARD))
        self.assertEqual(1, result.returncode, result.stdout)
        checks = {c['check']: c for c in json.loads(result.stdout)['checks']}
        for name in ('Unique hypervisor constraint in every cell',
                     'No hypervisor with more than one live owner'):
            self.assertEqual(1, checks[name]['result'])
            self.assertIn('No cell is mapped in the API database',
                          checks[name]['details'])

    def test_every_cell_of_the_api_database(self):
        cell0, api, _uuid0, _uuid1 = self.two_cells()
        migration.upgrade(self.db.engine)
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', '--json',
            conf='[api_database]\nconnection = %s\n%s' % (api.url, GUARD))
        self.assertEqual(1, result.returncode, result.stdout)
        checks = {c['check']: c for c in json.loads(result.stdout)['checks']}
        self.assertIn('The unique constraint is missing in cell0 (',
                      checks['Unique hypervisor constraint in every cell']
                      ['details'])
        self.assertNotIn('cell1', checks[
            'Unique hypervisor constraint in every cell']['details'])
        migration.upgrade(cell0.engine)
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check',
            conf='[api_database]\nconnection = %s\n%s' % (api.url, GUARD))
        self.assertEqual(0, result.returncode, result.stdout)
        self.assertEqual(4, result.stdout.count('Result: Success'))

    def test_fails_when_no_database_is_configured(self):
        result = self.command('nova-hostguard-status', 'upgrade', 'check',
                              '--json', conf=GUARD)
        self.assertEqual(2, result.returncode)
        self.assertIn('[database] connection is not set',
                      result.stdout)

    def test_fails_when_a_cell_cannot_be_read(self):
        result = self.command(
            'nova-hostguard-status', 'upgrade', 'check', '--json',
            conf='[database]\nconnection = postgresql+psycopg2://x:y@'
                 '127.0.0.1:1/nova\n' + GUARD)
        self.assertEqual(2, result.returncode)


class InvalidIndexUpgradeCheckTest(base.CommandTestCase):
    """PostgreSQL: an INVALID index is not the constraint."""

    scenarios = [('postgresql', {'backend': 'postgresql'})]
    check = UpgradeCheckTest.check

    def test_an_interrupted_build_is_not_taken_for_the_constraint(self):
        migration.upgrade(self.db.engine)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text('DROP INDEX %s' % migration.INDEX))
        # Recorded, and an index by the right name, unique, on the right
        # columns: but its build never finished.
        self.interrupted_build(migration.INDEX)
        code, checks = self.check(GUARD)
        self.assertEqual(1, code, checks)
        details = checks['Unique hypervisor constraint in every cell'][
            'details']
        self.assertIn('%s (head), but the constraint is not really there: '
                      'its index %s is INVALID' % (
                          migration.head_revision(), migration.INDEX),
                      details)
