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

"""What the guard asks the database, counted statement by statement.

Every SQL statement nova's engine sends is recorded (a SQLAlchemy
``before_cursor_execute`` listener on the engine), on SQLite, MariaDB and
PostgreSQL. A "lookup" is a ``SELECT`` on ``compute_nodes`` filtering on
``hypervisor_hostname``: the guard's own, nova's ``get_by_nodename``
(``=``) or nova's ``get_by_hypervisor`` (``LIKE``).

With database access (nova-conductor) and the unique constraint in place,
a guarded create sends exactly nova's own statements; without the
constraint (the control), one lookup more. From nova-compute, the lookups
cross a real RPC connection (RabbitMQ) to a real nova conductor endpoint
in this process.
"""

import functools
import re
import threading
from unittest import mock
import uuid

import fixtures
from nova.conductor import manager as conductor_manager
from nova.conductor import rpcapi as conductor_rpcapi
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.objects import base as objects_base
from nova.objects import compute_node
from nova import rpc
import oslo_messaging as messaging
from oslo_messaging import conffixture as messaging_conffixture
import sqlalchemy as sa

from nova_hostguard import constraint
from nova_hostguard.db import migration
from nova_hostguard import objects as hostguard_objects
from tests.db import base
from tests.harness import backends
from tests.harness import databases

CONF = nova_conf.CONF

_LOOKUP = re.compile(
    r'^\s*SELECT\b.*\bFROM compute_nodes\b.*\bWHERE\b.*'
    r'hypervisor_hostname\s*(=|LIKE)', re.I | re.S)


def lookups(statements):
    """The lookups among ``statements``: ``=`` or ``LIKE``, in order."""
    return [m.group(1).upper() for m in map(_LOOKUP.match, statements) if m]


class Statements(fixtures.Fixture):
    """Every statement ``engine`` sends to the database, while recording."""

    def __init__(self, engine):
        super().__init__()
        self.engine = engine
        self.statements = None

    def _setUp(self):
        sa.event.listen(self.engine, 'before_cursor_execute', self._record)
        self.addCleanup(sa.event.remove, self.engine,
                        'before_cursor_execute', self._record)

    def _record(self, conn, cursor, statement, parameters, context,
                executemany):
        if self.statements is not None:
            self.statements.append(statement)

    def of(self, function, *args, **kwargs):
        """The statements sent while ``function`` runs, and its outcome.

        :returns: ``(statements, result or exception)``.
        """
        self.statements = []
        try:
            outcome = function(*args, **kwargs)
        except Exception as e:
            outcome = e
        statements, self.statements = self.statements, None
        return statements, outcome


class Clock(fixtures.Fixture):
    """The guard's clock for remembered constraint states, moved by hand."""

    def _setUp(self):
        self.now = 1000.0
        self.useFixture(fixtures.MockPatchObject(
            constraint, '_clock', lambda: self.now))
        constraint.forget()
        self.addCleanup(constraint.forget)

    def advance(self, seconds):
        self.now += seconds


class LookupTestCase(base.BackendTestCase):

    def setUp(self):
        super().setUp()
        # The refusals and the RPC clients' closing words: in the test's
        # details, not on the runner's terminal.
        self.useFixture(fixtures.FakeLogger())
        self.clock = self.useFixture(Clock())
        from nova.db.main import api as main_db_api
        self.recorder = self.useFixture(Statements(
            main_db_api.get_engine(context=self.ctxt)))

    def nova_create(self, host, name):
        """nova's own create, without the guard: the yardstick."""
        values = self.new_compute_node(host, name).obj_get_changes()
        node = compute_node.ComputeNode(context=self.ctxt, **values)
        return self.recorder.of(compute_node.ComputeNode.create, node)[0]

    def guarded_create(self, host, name, context=None):
        node = self.new_compute_node(host, name)
        if context is not None:
            node._context = context
        return self.recorder.of(node.create)

    def live_hosts(self, name):
        """Hosts of the live records named exactly ``name``."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.text(
                'SELECT host, hypervisor_hostname FROM compute_nodes '
                'WHERE deleted = 0 AND hypervisor_hostname = :name'),
                {'name': name}).all()
        # MariaDB's collation (without the constraint) equates more.
        return sorted(host for host, stored in rows if stored == name)

    def assert_refused(self, outcome, name, owner, host):
        self.assertIsInstance(outcome, exception.InvalidConfiguration,
                              repr(outcome))
        self.assertIn('hypervisor %r is already managed by host %r '
                      '(compute node' % (name, owner), str(outcome))
        self.assertIn('on host %r' % host, str(outcome))
        self.assertEqual([owner], self.live_hosts(name))


class ConductorTest(LookupTestCase):
    """The guard next to the database, as in nova-conductor."""

    def setUp(self):
        super().setUp()
        self.enable_guard()

    def test_with_the_constraint_a_create_sends_only_novas_statements(self):
        migration.upgrade(self.db.engine)
        self.guarded_create('warm', 'hv-warm')   # reads the cell's state
        for i in range(3):
            nova_alone = self.nova_create('nova%d' % i, 'hv-nova%d' % i)
            guarded, outcome = self.guarded_create('host%d' % i, 'hv%d' % i)
            self.assertIsNone(outcome)
            self.assertEqual([], lookups(guarded))
            self.assertEqual(nova_alone, guarded)
        self.assertEqual(['host0'], self.live_hosts('hv0'))

    def test_without_the_constraint_a_create_looks_up_first(self):
        # The control: the same creates, one lookup more each.
        self.guarded_create('warm', 'hv-warm')
        for i in range(3):
            nova_alone = self.nova_create('nova%d' % i, 'hv-nova%d' % i)
            guarded, outcome = self.guarded_create('host%d' % i, 'hv%d' % i)
            self.assertIsNone(outcome)
            # nova's statements, after the lookup (and, on SQLite, the
            # BEGIN of its transaction).
            first_of_nova = len(guarded) - len(nova_alone)
            self.assertEqual(nova_alone, guarded[first_of_nova:])
            self.assertEqual(['='], lookups(guarded[:first_of_nova]))
            self.assertEqual(['='], lookups(guarded))

    def test_with_the_constraint_a_second_owner_is_refused_by_the_insert(
            self):
        migration.upgrade(self.db.engine)
        log = self.useFixture(fixtures.FakeLogger(
            name='nova_hostguard.guard'))
        self.add_service('hostB')
        self.guarded_create('hostA', 'hv1')
        before = self.db.rows('compute_nodes')

        statements, outcome = self.guarded_create('hostB', 'hv1')

        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertEqual(before, self.db.rows('compute_nodes'))
        # The insert came first; only the explanation looked.
        insert = [i for i, s in enumerate(statements) if s.lstrip().upper()
                  .startswith('INSERT INTO COMPUTE_NODES')]
        self.assertEqual(1, len(insert), statements)
        self.assertEqual([], lookups(statements[:insert[0]]))
        self.assertEqual(['='], lookups(statements[insert[0]:]))
        self.assertIn('its unique constraint holds one live record per '
                      'hypervisor', log.output)
        service = objects.Service.get_by_compute_host(self.ctxt, 'hostB')
        self.assertTrue(service.disabled)
        self.assertIn("'hostA'", service.disabled_reason)

    def revive_after_a_takeover(self, last_host='hostB'):
        """``last_host``'s soft-deleted hv1 record, to be saved live again.

        ``last_host`` created hv1's record, which was deleted; hostA then
        took hv1 over. The record is returned undeleted, not yet saved.
        """
        old = self.create(last_host, 'hv1')
        old.destroy()
        self.guarded_create('hostA', 'hv1')
        context = self.db.context()
        context.read_deleted = 'yes'
        node = objects.ComputeNode.get_by_uuid(context, old.uuid)
        node.deleted = False
        node.deleted_at = None
        return node

    def test_with_the_constraint_a_revive_is_refused_without_a_lookup(self):
        migration.upgrade(self.db.engine)
        node = self.revive_after_a_takeover()

        statements, outcome = self.recorder.of(node.save)

        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        update = [i for i, s in enumerate(statements)
                  if s.lstrip().upper().startswith('UPDATE COMPUTE_NODES')]
        self.assertTrue(update, statements)
        self.assertEqual([], lookups(statements[:update[0]]))

    def revive_by_another_host(self):
        """hostX's deleted hv1 record, revived by hostB's resource tracker.

        hostX, a healthy host of its own, last had the record; hostA owns
        hv1 now. nova's resource tracker saves the revive while the record
        still names hostX (it moves it to its own host afterwards).
        """
        for host in ('hostA', 'hostB', 'hostX'):
            self.add_service(host)
        node = self.revive_after_a_takeover(last_host='hostX')

        def init_compute_node(tracker):
            node.save()
        tracker = mock.Mock(host='hostB')
        return functools.partial(
            hostguard_objects.tracking_host(init_compute_node), tracker)

    def disabled_hosts(self):
        return sorted(
            s.host for s in objects.ServiceList.get_by_binary(
                self.ctxt, 'nova-compute', include_disabled=True)
            if s.disabled)

    def assert_the_reviving_host_refused_and_disabled(self):
        revive = self.revive_by_another_host()

        statements, outcome = self.recorder.of(revive)

        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertNotIn("'hostX'", str(outcome))
        # hostB, the host reviving, is disabled, never hostX, the
        # record's previous host.
        self.assertEqual(['hostB'], self.disabled_hosts())
        service = objects.Service.get_by_compute_host(self.ctxt, 'hostB')
        self.assertIn("'hostA'", service.disabled_reason)
        return statements

    def test_without_the_constraint_a_revive_refuses_the_reviving_host(self):
        statements = self.assert_the_reviving_host_refused_and_disabled()
        self.assertFalse([s for s in statements if s.lstrip().upper()
                          .startswith('UPDATE COMPUTE_NODES')])

    def test_with_the_constraint_a_revive_refuses_the_reviving_host(self):
        # The database refuses the update; explain_duplicate names and
        # disables the host reviving.
        migration.upgrade(self.db.engine)
        statements = self.assert_the_reviving_host_refused_and_disabled()
        self.assertTrue([s for s in statements if s.lstrip().upper()
                         .startswith('UPDATE COMPUTE_NODES')])

    def test_a_revive_not_by_a_resource_tracker_disables_nobody(self):
        # nova-conductor saving a revive it received over RPC cannot tell
        # which host revives: it refuses, as the record's host, and leaves
        # every service as it is.
        migration.upgrade(self.db.engine)
        self.add_service('hostA')
        self.add_service('hostB')
        node = self.revive_after_a_takeover()

        statements, outcome = self.recorder.of(node.save)

        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertEqual([], self.disabled_hosts())

    def test_without_the_constraint_a_revive_looks_up_first(self):
        # The control of the revive: refused by the lookup, before any
        # update.
        node = self.revive_after_a_takeover()

        statements, outcome = self.recorder.of(node.save)

        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertEqual(['='], lookups(statements))
        self.assertFalse([s for s in statements if s.lstrip().upper()
                          .startswith('UPDATE COMPUTE_NODES')])

    def test_warn_mode_looks_up_with_the_constraint(self):
        self.enable_guard(mode='warn')
        migration.upgrade(self.db.engine)
        self.guarded_create('hostA', 'hv1')
        statements, outcome = self.guarded_create('hostB', 'hv1')
        # It warned after its lookup; the database refused all the same.
        self.assertEqual(['=', '='], lookups(statements))
        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')

    def test_the_state_is_read_once_per_interval(self):
        migration.upgrade(self.db.engine)
        first, _ = self.guarded_create('host0', 'hv0')
        second, _ = self.guarded_create('host1', 'hv1')
        self.clock.advance(constraint.RECHECK_INTERVAL - 1)
        third, _ = self.guarded_create('host2', 'hv2')
        self.clock.advance(1)
        fourth, _ = self.guarded_create('host3', 'hv3')
        self.assertEqual(len(second), len(third))
        # The first and the fourth read the state: more statements.
        self.assertGreater(len(first), len(second))
        self.assertGreater(len(fourth), len(third))
        self.assertIn(migration.VERSION_TABLE, ' '.join(first))
        self.assertNotIn(migration.VERSION_TABLE, ' '.join(second))
        self.assertIn(migration.VERSION_TABLE, ' '.join(fourth))
        self.assertNotIn(migration.VERSION_TABLE, ' '.join(third))

    def test_db_remove_brings_the_lookup_back_within_the_interval(self):
        migration.upgrade(self.db.engine)
        self.guarded_create('hostA', 'hv1')
        migration.remove(self.db.engine)

        # Inside the documented window: the remembered state holds.
        self.clock.advance(constraint.RECHECK_INTERVAL - 1)
        statements, outcome = self.guarded_create('hostC', 'hv3')
        self.assertIsNone(outcome)
        self.assertEqual([], lookups(statements))

        # Past it: the state is read again, the lookup is back and
        # refuses without the database's help.
        self.clock.advance(1)
        statements, outcome = self.guarded_create('hostB', 'hv1')
        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertEqual(['='], lookups(statements))
        self.assertFalse([s for s in statements if s.lstrip().upper()
                          .startswith('INSERT INTO COMPUTE_NODES')])

    def test_db_sync_drops_the_lookup_within_the_interval(self):
        self.guarded_create('hostA', 'hv1')
        migration.upgrade(self.db.engine)
        statements, _ = self.guarded_create('hostB', 'hv2')
        self.assertEqual(['='], lookups(statements))
        self.clock.advance(constraint.RECHECK_INTERVAL)
        self.guarded_create('hostC', 'hv3')
        statements, _ = self.guarded_create('hostD', 'hv4')
        self.assertEqual([], lookups(statements))

    def test_a_dropped_index_keeps_the_lookup(self):
        # "In place" is db version's: recorded at head, and really there.
        migration.upgrade(self.db.engine)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text('DROP INDEX %s%s' % (
                migration.INDEX,
                ' ON compute_nodes' if self.backend == 'mysql' else '')))
        self.guarded_create('hostA', 'hv1')
        statements, outcome = self.guarded_create('hostB', 'hv1')
        self.assertEqual(['='], lookups(statements))
        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')

    def test_the_state_is_per_cell(self):
        # cell1 (this test's database) has the constraint, cell0 not: one
        # process, two cells, each decided by its own database.
        migration.upgrade(self.db.engine)
        cell0 = self.useFixture(databases.NovaCellDatabase(
            self.backend, bind_nova=False))
        mapping = objects.CellMapping(
            uuid=str(uuid.uuid4()), name='cell0', transport_url='none:///',
            database_connection=cell0.url)
        self.guarded_create('hostA', 'hv1')
        self.assertEqual([], lookups(self.guarded_create('hostB', 'hv2')[0]))
        with nova_context.target_cell(self.ctxt, mapping) as cctxt:
            from nova.db.main import api as main_db_api
            in_cell0 = self.useFixture(Statements(
                main_db_api.get_engine(context=cctxt)))
            node = self.new_compute_node('hostA', 'hv1')
            node._context = cctxt
            statements, outcome = in_cell0.of(node.create)
            self.assertIsNone(outcome)
            self.assertEqual(['='], lookups(statements))
            node = self.new_compute_node('hostB', 'hv1')
            node._context = cctxt
            statements, outcome = in_cell0.of(node.create)
            self.assertIsInstance(outcome, exception.InvalidConfiguration)
            self.assertEqual(['='], lookups(statements))
        self.assertEqual(['hostA'], self.live_hosts('hv1'))


class ComputeSide(object):
    """nova-compute's indirection API, for the thread that plays it.

    A real ``nova.conductor.rpcapi.ConductorAPI``; falsy in every other
    thread, so that the conductor's RPC threads of this process run nova's
    objects next to the database, as a nova-conductor process does. Every
    remotable method nova-compute called is recorded.
    """

    def __init__(self):
        self.api = conductor_rpcapi.ConductorAPI()
        self.thread = threading.current_thread()
        self.calls = []

    def __bool__(self):
        return threading.current_thread() is self.thread

    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        self.calls.append(objmethod)
        return self.api.object_class_action_versions(
            context, objname, objmethod, object_versions, args, kwargs)

    def object_action(self, context, objinst, objmethod, args, kwargs):
        self.calls.append(objmethod)
        return self.api.object_action(context, objinst, objmethod, args,
                                      kwargs)

    def __getattr__(self, name):
        return getattr(self.api, name)


class ObjectConductor(conductor_manager.ConductorManager):
    """nova's conductor endpoint, its object calls as nova serves them.

    Without its compute task half (builds, migrations), which needs
    placement and serves nothing the guard asks.
    """

    def __init__(self):
        super(conductor_manager.ConductorManager, self).__init__(
            service_name='conductor')


class ConductorOverRabbit(fixtures.Fixture):
    """nova's conductor endpoint served over RabbitMQ in this process."""

    def _setUp(self):
        vhost = 'hostguard-' + uuid.uuid4().hex[:12]
        backends.create_vhost(vhost, self.addCleanup)
        messaging_conf = self.useFixture(
            messaging_conffixture.ConfFixture(CONF))
        messaging_conf.transport_url = backends.rabbit_url(vhost)
        rpc.init(CONF)
        self.addCleanup(rpc.cleanup)
        server = rpc.get_server(
            messaging.Target(topic=conductor_rpcapi.RPC_TOPIC,
                             server='conductor-%s' % vhost),
            [ObjectConductor()],
            serializer=objects_base.NovaObjectSerializer())
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)
        self.compute = ComputeSide()
        self.useFixture(fixtures.MockPatchObject(
            objects_base.NovaObject, 'indirection_api', self.compute))


UNICODE = 'hÿpervisor-ü-日本'
LONG = 'h' * 255
ODD = ['hv%1', 'hv_1', 'hv\\1', '%', '_', '\\', UNICODE, LONG, '', ' hv1 ']


class ComputeTest(LookupTestCase):
    """The guard in nova-compute: nova's exact lookup, over RabbitMQ."""

    def setUp(self):
        super().setUp()
        backends.require(self, 'rabbitmq')
        self.enable_guard()
        self.conductor = self.useFixture(ConductorOverRabbit())

    def from_compute(self, host, name, context=None):
        """A guarded create in nova-compute.

        The conductor has the guard too ("both"); its own lookup (none
        with the constraint) is an equality one, never a LIKE.

        :returns: ``(remotable methods called, statements, outcome)``,
            the methods without the service reads of a refusal.
        """
        del self.conductor.compute.calls[:]
        statements, outcome = self.guarded_create(host, name, context)
        calls = [c for c in self.conductor.compute.calls
                 if c != 'get_by_compute_host']
        return calls, statements, outcome

    def seed(self, host, name, deleted=False):
        """A record written by nova alone, next to the database.

        In a thread of its own, where the indirection API is off: nova's
        unguarded ``ComputeNode.create``, whatever the guard would say.
        """
        values = self.new_compute_node(host, name).obj_get_changes()

        def create():
            node = compute_node.ComputeNode(context=self.ctxt, **values)
            node.create()
            if deleted:
                node.destroy()
        thread, result = self.in_thread(create)
        thread.join(60)
        self.assertNotIn('error', result)

    def test_no_owner_is_one_exact_lookup(self):
        migration.upgrade(self.db.engine)
        for name in ['hv1'] + ODD:
            calls, statements, outcome = self.from_compute('hostA', name)
            self.assertIsNone(outcome, name)
            self.assertEqual(['get_by_nodename', 'create'], calls, name)
            # nova's get_by_nodename, in conductor; the conductor's guard
            # leaves the check to the constraint.
            self.assertEqual(['='], lookups(statements), name)

    def test_an_owner_found_exactly_is_refused_without_a_scan(self):
        for name in ['hv1'] + ODD:
            self.seed('hostA', name)
            before = self.db.rows('compute_nodes')
            calls, statements, outcome = self.from_compute('hostB', name)
            self.assert_refused(outcome, name, 'hostA', 'hostB')
            self.assertEqual(before, self.db.rows('compute_nodes'))
            self.assertEqual(['get_by_nodename'], calls, name)
            self.assertNotIn('LIKE', lookups(statements), name)

    def test_the_hosts_own_record_first_falls_back_to_the_scan(self):
        # hostB's own live record for hv1 is the oldest; hostA's follows.
        # nova returns hostB's: not conclusive, the LIKE scan finds hostA.
        self.seed('hostB', 'hv1')
        self.seed('hostA', 'hv1')
        calls, statements, outcome = self.from_compute('hostB', 'hv1')
        self.assertEqual(['get_by_nodename', 'get_by_hypervisor'], calls)
        self.assertEqual(['=', 'LIKE'], lookups(statements))
        self.assertIsInstance(outcome, exception.InvalidConfiguration)
        self.assertIn("already managed by host 'hostA'", str(outcome))
        self.assertEqual(['hostA', 'hostB'], self.live_hosts('hv1'))

    def test_a_name_that_differs_exactly_falls_back_only_on_mariadb(self):
        # Without the constraint MariaDB's collation equates these with
        # hv1: nova returns hostA's hv1, which is not the name, and the
        # scan decides (no exact owner). PostgreSQL and SQLite compare
        # exactly: nova finds nothing, which is the answer.
        self.seed('hostA', 'hv1')
        self.seed('hostA', 'he')
        for i, name in enumerate(('HV1', 'Hv1', 'hv1 ', 'hé', 'HE')):
            calls, statements, outcome = self.from_compute(
                'host%d' % i, name)
            self.assertIsNone(outcome, name)
            if self.backend == 'mysql':
                self.assertEqual(
                    ['get_by_nodename', 'get_by_hypervisor', 'create'],
                    calls, name)
            else:
                self.assertEqual(['get_by_nodename', 'create'], calls, name)
                self.assertNotIn('LIKE', lookups(statements), name)

    def test_with_the_constraint_case_variants_are_conclusive(self):
        # The constraint's exact collation on MariaDB: nova's equality is
        # exact everywhere, and never falls back.
        migration.upgrade(self.db.engine)
        self.seed('hostA', 'hv1')
        for i, name in enumerate(('HV1', 'hv1 ', 'hé')):
            calls, statements, outcome = self.from_compute(
                'host%d' % i, name)
            self.assertIsNone(outcome, name)
            self.assertEqual(['get_by_nodename', 'create'], calls, name)
            self.assertNotIn('LIKE', lookups(statements), name)
        calls, statements, outcome = self.from_compute('hostB', 'hv1')
        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        self.assertEqual(['get_by_nodename'], calls)

    def test_an_exact_owner_behind_a_case_variant_is_found_on_mariadb(self):
        # MariaDB without the constraint: the oldest row nova returns is
        # HV1 (hostX); hv1's owner (hostA) is behind it. The scan finds it.
        self.seed('hostX', 'HV1')
        self.seed('hostA', 'hv1')
        calls, statements, outcome = self.from_compute('hostB', 'hv1')
        self.assert_refused(outcome, 'hv1', 'hostA', 'hostB')
        if self.backend == 'mysql':
            self.assertEqual(['get_by_nodename', 'get_by_hypervisor'], calls)
        else:
            self.assertEqual(['get_by_nodename'], calls)

    def test_deleted_records_are_no_owners(self):
        # A soft-deleted record of another host is no owner.
        self.seed('hostA', 'hv1', deleted=True)
        calls, statements, outcome = self.from_compute('hostB', 'hv1')
        self.assertIsNone(outcome)
        self.assertEqual(['get_by_nodename', 'create'], calls)
        self.assertEqual(['hostB'], self.live_hosts('hv1'))

    def test_a_context_reading_deleted_rows_still_asks_for_live_ones(self):
        # nova's resource tracker revives with a context that reads
        # deleted rows; nova's lookup would then return hostA's deleted
        # record first (the oldest), which decides nothing. The guard asks
        # for live rows: hostB's, conclusive, no scan.
        self.seed('hostA', 'hv1', deleted=True)
        self.seed('hostB', 'hv1')
        context = self.db.context()
        context.read_deleted = 'yes'
        calls, statements, outcome = self.from_compute('hostC', 'hv1',
                                                       context)
        self.assert_refused(outcome, 'hv1', 'hostB', 'hostC')
        self.assertEqual(['get_by_nodename'], calls)
