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

"""repair, run as a command on MariaDB and PostgreSQL with nova's real
schema, against a placement service running as a process of its own.

"Nothing changed" means: every row of ``base.TABLES`` is as it was
before the command.
"""

import datetime
import json
import threading
import uuid

import fixtures
from oslo_db import api as oslo_db_api
from oslo_db.sqlalchemy import engines
from oslo_utils import timeutils
import requests
import sqlalchemy as sa

from nova_hostguard.db import migration
from tests.db import base
from tests.harness import backends
from tests.harness.processes import cloud


class RepairCase(base.CommandTestCase):
    """hv1 is split: hostA (the owner, running) and hostB (stale, down)."""

    scenarios = base.SERVER_BACKENDS

    def setUp(self):
        super().setUp()
        backends.require(self, 'mysql')   # placement's own database
        self.placement = self.useFixture(cloud.Processes(
            self.useFixture(fixtures.TempDir()).path))
        self.placement_url = self.placement.start_placement()
        self.providers = set()
        self.owner = self.create('hostA', 'hv1')
        self.stale = self.create('hostB', 'hv1')
        self.add_service('hostA')
        self.add_service('hostB', heartbeat_age=3600)
        self.on_b = sorted([self.add_instance('hostB', 'hv1', self.stale.id),
                            self.add_instance('hostB', 'hv1', self.stale.id)])
        self.on_a = self.add_instance('hostA', 'hv1', self.owner.id)
        bystander = self.create('hostC', 'hv2')
        self.add_service('hostC')
        self.bystander = self.add_instance('hostC', 'hv2', bystander.id)

    def conf(self, placement=None):
        return ('[database]\nconnection = %s\n[placement]\n'
                'auth_type = admin_token\nendpoint = %s\ntoken = admin\n'
                % (self.db.url, placement or self.placement_url))

    def repair(self, *args, placement=None):
        return self.command('nova-hostguard-manage', 'repair',
                            '--hypervisor', 'hv1', '--owner', 'hostA',
                            *args, conf=self.conf(placement))

    def placement_api(self, method, path, body=None):
        response = requests.request(
            method, self.placement_url + path, json=body,
            headers={'X-Auth-Token': 'admin',
                     'OpenStack-API-Version': 'placement 1.36'})
        self.assertLess(response.status_code, 300, response.text)

    def allocate(self, consumer, provider):
        """An allocation of one VCPU, creating the provider if need be."""
        if provider not in self.providers:
            self.providers.add(provider)
            self.placement_api('POST', '/resource_providers', {
                'name': 'rp-%s' % provider, 'uuid': provider})
            self.placement_api('PUT', '/resource_providers/%s/inventories'
                               % provider, {'resource_provider_generation': 0,
                                            'inventories': {'VCPU': {
                                                'total': 8}}})
        self.placement_api('PUT', '/allocations/%s' % consumer, {
            'allocations': {provider: {'resources': {'VCPU': 1}}},
            'project_id': 'p', 'user_id': 'u', 'consumer_generation': None})

    def assert_refused(self, result, reason, before):
        self.assertEqual(1, result.returncode, result.stdout)
        self.assertIn('refusing to repair; nothing was changed', result.stderr)
        self.assertIn(reason, result.stderr)
        self.assertEqual(before, self.tables(*base.TABLES))


class RepairTest(RepairCase):

    def test_the_dry_run_changes_nothing(self):
        before = self.tables(*base.TABLES)
        result = self.repair()
        self.assertEqual(0, result.returncode, result.stderr)
        for instance in self.on_b:
            self.assertIn("move instance %s from host 'hostB' to 'hostA' "
                          "(compute_id %s -> %s)"
                          % (instance, self.stale.id, self.owner.id),
                          result.stdout)
        self.assertIn("retire compute node record %s of host 'hostB'"
                      % self.stale.uuid, result.stdout)
        self.assertNotIn(self.on_a, result.stdout)
        self.assertIn('Dry run: nothing was changed.', result.stdout)
        self.assertEqual(before, self.tables(*base.TABLES))

    def test_apply_leaves_one_owner_and_changes_nothing_else(self):
        for instance in self.on_b:
            self.allocate(instance, self.stale.uuid)
        before = self.tables(*base.TABLES)

        result = self.repair('--apply')

        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('Applied, in one transaction.', result.stdout)
        after = self.tables(*base.TABLES)
        self.assertEqual(before['services'], after['services'])
        self.assertEqual(before['migrations'], after['migrations'])
        with self.db.engine.connect() as conn:
            owners = conn.execute(sa.text(
                "SELECT host FROM compute_nodes WHERE deleted = 0 AND "
                "hypervisor_hostname = 'hv1'")).scalars().all()
            homes = dict(conn.execute(sa.text(
                'SELECT uuid, host FROM instances WHERE node = :n'),
                {'n': 'hv1'}).all())
            compute_ids = set(conn.execute(sa.text(
                "SELECT compute_id FROM instances WHERE node = 'hv1'"))
                .scalars())
        self.assertEqual(['hostA'], owners)
        self.assertEqual({'hostA'}, set(homes.values()))
        self.assertEqual({self.owner.id}, compute_ids)
        # Only the planned rows changed: the two instances, the record.
        changed = [r for r in after['instances']
                   if r not in before['instances']]
        self.assertEqual(2, len(changed))
        changed = [r for r in after['compute_nodes']
                   if r not in before['compute_nodes']]
        self.assertEqual(1, len(changed))
        audit = self.command('nova-hostguard-manage', 'audit', '--format',
                             'json', conf=self.conf())
        found = json.loads(audit.stdout)
        self.assertEqual([], found['split_hypervisors'])
        self.assertEqual([], found['partitioned_instances'])
        # What placement needs, and how to undo.
        for instance in self.on_b:
            self.assertIn('nova-manage placement heal_allocations --instance '
                          '%s --force' % instance, result.stdout)
        self.assertIn('openstack resource provider delete %s'
                      % self.stale.uuid, result.stdout)
        migration.remove(self.db.engine)   # a no-op here, as documented
        self.assert_undone(result, before)

    def assert_undone(self, result, before):
        """The printed undo statements put every changed row back."""
        undo = result.stdout.split('To undo')[1].splitlines()[1:]
        with self.db.engine.begin() as conn:
            for statement in undo:
                conn.execute(sa.text(statement.strip().rstrip(';')))

        def without_updated_at(rows, table):
            index = sa.inspect(self.db.engine).get_columns(table)
            position = [c['name'] for c in index].index('updated_at')
            return sorted((r[:position] + r[position + 1:] for r in rows),
                          key=repr)
        undone = self.tables(*base.TABLES)
        for table in ('instances', 'compute_nodes'):
            self.assertEqual(without_updated_at(before[table], table),
                             without_updated_at(undone[table], table))

    def test_refuses_a_busy_instance(self):
        self.add_instance('hostB', 'hv1', self.stale.id,
                          task_state='rebuilding')
        before = self.tables(*base.TABLES)
        self.assert_refused(self.repair('--apply'),
                            'is busy (task_state rebuilding)', before)

    def test_refuses_an_evacuation_in_progress(self):
        self.add_migration(self.on_b[0], 'hostB', 'hostA', 'accepted')
        before = self.tables(*base.TABLES)
        self.assert_refused(self.repair('--apply'), 'evacuation', before)
        self.assertIn('is accepted', self.repair().stderr)

    def test_refuses_when_the_owner_is_not_live(self):
        with self.db.engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE services SET updated_at = :t, last_seen_up = :t "
                "WHERE host = 'hostA'"),
                {'t': datetime.datetime(2020, 1, 1)})
        before = self.tables(*base.TABLES)
        self.assert_refused(self.repair('--apply'),
                            "nova-compute service of the owner 'hostA' is "
                            "down", before)

    def test_refuses_when_the_owner_is_forced_down(self):
        with self.db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE services SET forced_down = :t "
                                 "WHERE host = 'hostA'"), {'t': True})
        before = self.tables(*base.TABLES)
        self.assert_refused(self.repair('--apply'), 'is forced down', before)

    def test_refuses_an_owner_that_does_not_own_it(self):
        before = self.tables(*base.TABLES)
        result = self.command('nova-hostguard-manage', 'repair',
                              '--hypervisor', 'hv1', '--owner', 'hostC',
                              '--apply', conf=self.conf())
        self.assert_refused(result, "host 'hostC' has no live compute node "
                            "record for hypervisor 'hv1'", before)

    def test_refuses_allocations_it_cannot_account_for(self):
        self.allocate(self.bystander, self.stale.uuid)
        before = self.tables(*base.TABLES)
        self.assert_refused(
            self.repair('--apply'),
            'has allocations of consumer %s, which this repair does not '
            'move' % self.bystander, before)

    def test_refuses_when_placement_cannot_be_asked(self):
        before = self.tables(*base.TABLES)
        self.assert_refused(
            self.repair('--apply', placement='http://127.0.0.1:9'),
            'cannot read the allocations of resource provider %s'
            % self.stale.uuid, before)

    def set_service(self, host, **values):
        with self.db.engine.begin() as conn:
            conn.execute(sa.update(sa.table(
                'services', sa.column('host'),
                *map(sa.column, values))).where(
                    sa.column('host') == host).values(**values))

    def test_refuses_while_a_retired_host_is_up(self):
        # Its next periodic run would revive the retired record.
        self.set_service('hostB', last_seen_up=timeutils.utcnow())
        before = self.tables(*base.TABLES)
        result = self.repair('--apply')
        self.assert_refused(result, "the nova-compute service of host "
                            "'hostB' is up", before)
        self.assertIn('openstack compute service set --down', result.stderr)
        self.assertNotIn("'hostA' is up", result.stderr)

    def test_a_retired_host_forced_down_is_down(self):
        self.set_service('hostB', last_seen_up=timeutils.utcnow(),
                         forced_down=True)
        result = self.repair('--apply')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('Applied, in one transaction.', result.stdout)

    def test_a_changed_row_is_no_heartbeat(self):
        # nova's rule: last_seen_up, else created_at (an hour ago here). A
        # change of the row (an operator disabling the service) sets
        # updated_at, which is no heartbeat.
        self.set_service('hostB', last_seen_up=None,
                         updated_at=timeutils.utcnow())
        result = self.repair('--apply')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('Applied, in one transaction.', result.stdout)

    def hold(self, conn, table, column, value):
        """Lock one row in ``conn``'s transaction: a repair waits there."""
        conn.execute(sa.select(sa.column(column)).select_from(
            sa.table(table)).where(sa.column(column) == value)
            .with_for_update())

    def test_two_repairs_at_once_say_what_each_did(self):
        for instance in self.on_b:
            self.allocate(instance, self.stale.uuid)
        with self.db.engine.connect() as conn:
            with conn.begin():
                # Both repairs read their plan, then queue for the owner's
                # record: the first one applies, the second finds nothing.
                self.hold(conn, 'compute_nodes', 'id', self.owner.id)
                first = self.start_command(
                    'nova-hostguard-manage', 'repair', '--hypervisor', 'hv1',
                    '--owner', 'hostA', '--apply', conf=self.conf())
                self.wait_for_lock_waits(1)
                second = self.start_command(
                    'nova-hostguard-manage', 'repair', '--hypervisor', 'hv1',
                    '--owner', 'hostA', '--apply', conf=self.conf())
                self.wait_for_lock_waits(2)
        first, second = map(self.finish_command, (first, second))

        self.assertEqual((0, 0), (first.returncode, second.returncode),
                         first.stderr + second.stderr)
        self.assertIn('Applied, in one transaction.', first.stdout)
        self.assertIn('heal_allocations', first.stdout)
        self.assertIn("compute service of 'hostB'", first.stdout)
        self.assertNotIn('Applied', second.stdout)
        self.assertIn('Nothing was changed: when the repair locked the rows, '
                      'no other host held a live record', second.stdout)
        self.assertNotIn('heal_allocations', second.stdout)
        self.assertNotIn('compute service of', second.stdout)
        self.assertNotIn('To undo', second.stdout)

    def nova_accepts_an_action(self, instance_uuid, accepted):
        """nova-api's instance.save(expected_task_state=None), its UPDATE.

        Retried on a deadlock as nova retries it
        (``instance_update_and_get_original``), through oslo.db.
        """
        engine = engines.create_engine(self.db.url)
        self.addCleanup(engine.dispose)

        @oslo_db_api.wrap_db_retry(max_retries=5, retry_on_deadlock=True)
        def update():
            with engine.begin() as conn:
                return conn.execute(sa.text(
                    "UPDATE instances SET task_state = 'rebooting_hard', "
                    "updated_at = :now WHERE uuid = :uuid AND deleted = 0 "
                    "AND task_state IS NULL"),
                    {'now': timeutils.utcnow(),
                     'uuid': instance_uuid}).rowcount
        accepted.append(update())

    def test_an_action_accepted_while_the_repair_holds_the_instance(self):
        before = self.tables(*base.TABLES)
        accepted = []
        with self.db.engine.connect() as conn:
            with conn.begin():
                # The repair has locked the instances and waits for the
                # stale host's service row; nova's conditional update of an
                # instance to move then waits for the repair.
                self.hold(conn, 'services', 'host', 'hostB')
                repair = self.start_command(
                    'nova-hostguard-manage', 'repair', '--hypervisor', 'hv1',
                    '--owner', 'hostA', '--apply', conf=self.conf())
                self.wait_for_lock_waits(1)
                action = threading.Thread(target=self.nova_accepts_an_action,
                                          args=(self.on_b[0], accepted))
                action.start()
                self.wait_for_lock_waits(2)
        result = self.finish_command(repair)
        action.join()

        # nova accepted the action for the host it read, and that is still
        # where the instance is: the repair was rolled back.
        self.assertEqual([1], accepted)
        self.assertEqual(1, result.returncode, result.stdout)
        self.assertIn('refusing to repair; nothing was changed',
                      result.stderr)
        self.assertIn('another database session waits to change an '
                      'instance', result.stderr)
        after = self.tables(*base.TABLES)
        for table in ('compute_nodes', 'services', 'migrations'):
            self.assertEqual(before[table], after[table])
        with self.db.engine.connect() as conn:
            homes = dict(conn.execute(sa.text(
                "SELECT uuid, host FROM instances WHERE node = 'hv1'")).all())
        self.assertEqual({self.on_a: 'hostA', self.on_b[0]: 'hostB',
                          self.on_b[1]: 'hostB'}, homes)

    def nova_like_user(self):
        """The URL of a new user with every privilege on this database.

        And none beyond it, as nova's own is usually granted.
        """
        name = 'hgt_' + uuid.uuid4().hex[:10]
        admin = sa.create_engine(self.db.url, isolation_level='AUTOCOMMIT')
        self.addCleanup(admin.dispose)
        if self.backend == 'mysql':
            # Any host ('%', doubled for PyMySQL's parameter format).
            create = ["CREATE USER '%s'@'%%%%' IDENTIFIED BY 'pw'" % name,
                      "GRANT ALL ON %s.* TO '%s'@'%%%%'"
                      % (self.db.name, name)]
            drop = ["DROP USER '%s'@'%%%%'" % name]
        else:
            create = ["CREATE ROLE %s LOGIN PASSWORD 'pw'" % name,
                      'GRANT ALL ON ALL TABLES IN SCHEMA public TO %s' % name,
                      'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO %s'
                      % name]
            drop = ['DROP OWNED BY %s' % name, 'DROP ROLE %s' % name]

        def run(statements):
            with admin.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        run(create)
        self.addCleanup(run, drop)
        return sa.engine.make_url(self.db.url).set(
            username=name, password='pw').render_as_string(
                hide_password=False)

    def test_a_database_user_with_only_nova_s_privileges(self):
        before = self.tables(*base.TABLES)
        result = self.command(
            'nova-hostguard-manage', 'repair', '--hypervisor', 'hv1',
            '--owner', 'hostA', '--apply',
            conf=self.conf().replace(self.db.url, self.nova_like_user()))
        if self.backend == 'mysql':
            # Who waits for the repair's locks is in INNODB_TRX, which
            # needs the PROCESS privilege: rolled back, as documented.
            self.assertEqual(3, result.returncode, result.stdout)
            self.assertIn('the repair failed and was rolled back',
                          result.stderr)
            self.assertIn('PROCESS privilege', result.stderr)
            self.assertEqual(before, self.tables(*base.TABLES))
        else:
            self.assertEqual(0, result.returncode, result.stderr)
            self.assertIn('Applied, in one transaction.', result.stdout)

    def test_names_in_the_output_and_the_undo_are_terminal_safe(self):
        odd = 'b\x1b[2J\u202e'
        owner = self.create('hostA', 'hv9')
        stale = self.create(odd, 'hv9')
        moved = self.add_instance(odd, 'hv9', stale.id)
        before = self.tables(*base.TABLES)
        result = self.command('nova-hostguard-manage', 'repair',
                              '--hypervisor', 'hv9', '--owner', 'hostA',
                              '--apply', conf=self.conf())
        self.assertEqual(0, result.returncode, result.stderr)
        for text in (result.stdout, result.stderr):
            self.assertNotIn('\x1b', text)
            self.assertNotIn('\u202e', text)
        self.assertIn(r"move instance %s from host 'b\x1b[2J\u202e' to "
                      r"'hostA' (compute_id %s -> %s)"
                      % (moved, stale.id, owner.id), result.stdout)
        self.assertIn(r"compute service of 'b\x1b[2J\u202e'", result.stdout)
        # The undo still restores the exact name.
        self.assert_undone(result, before)


class GaleraRepairTest(RepairCase):
    """The split on a Galera cluster, written through its first node.

    The repair runs through the second node, the audit after it through
    the third; every node must hold the repaired rows.
    """

    scenarios = [('galera', {'backend': 'galera'})]

    def conf(self, placement=None, node=1):
        return super().conf(placement).replace(self.db.url,
                                               self.db.urls[node])

    def test_apply_through_another_node_than_nova_wrote_through(self):
        for instance in self.on_b:
            self.allocate(instance, self.stale.uuid)

        result = self.repair('--apply')

        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('Applied, in one transaction.', result.stdout)
        rows = []
        for url in self.db.urls:
            engine = sa.create_engine(url, connect_args={
                'init_command': 'SET SESSION wsrep_sync_wait = 1'})
            self.addCleanup(engine.dispose)
            with engine.connect() as conn:
                rows.append((
                    conn.execute(sa.text(
                        "SELECT host FROM compute_nodes WHERE deleted = 0 "
                        "AND hypervisor_hostname = 'hv1'")).scalars().all(),
                    sorted(conn.execute(sa.text(
                        "SELECT uuid, host, compute_id FROM instances "
                        "WHERE node = 'hv1'")).all())))
        self.assertEqual(
            (['hostA'], sorted((i, 'hostA', self.owner.id)
                               for i in self.on_b + [self.on_a])),
            rows[0])
        self.assertEqual([rows[0]] * len(self.db.urls), rows)
        audit = self.command('nova-hostguard-manage', 'audit', '--format',
                             'json', conf=self.conf(node=2))
        self.assertEqual(0, audit.returncode, audit.stdout + audit.stderr)
