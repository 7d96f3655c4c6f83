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

"""Undo a split hypervisor: one owner again, its instances home.

For a hypervisor and the host that really manages it (the owner): every
live instance on that hypervisor under another host moves to the owner
(``host`` and ``compute_id``), and every live compute node record of the
hypervisor held by another host is retired (soft-deleted, as nova does).
Both in one transaction of the cell database.

It refuses, changing nothing, when that is not safe: the owner has no
record of the hypervisor or no live nova-compute service; the
nova-compute service of another host involved is up (its next periodic
run would revive the retired record: nova undeletes it by uuid); an
instance to move is busy (a task in progress) or part of a migration or
evacuation that has not finished; a retired record's placement resource
provider holds allocations other than those of the instances moved (or
placement cannot be asked). The plan is built again, with the rows
locked, inside the transaction that applies it; and just before that
transaction commits, it rolls back if another transaction waits to change
the instances it locked (nova accepting an action: nova's conditional
update would succeed after the commit, on an instance that moved under
it).
"""

import collections

from oslo_utils import timeutils
import sqlalchemy as sa

from nova_hostguard import cells
from nova_hostguard.db import schema
from nova_hostguard.db import splits
from nova_hostguard import display
from nova_hostguard import exception
from nova_hostguard import ownership

#: Migration statuses after which nothing is in flight.
FINISHED_MIGRATIONS = ('confirmed', 'reverted', 'error', 'failed',
                       'completed', 'done', 'cancelled')

Move = collections.namedtuple('Move', ['uuid', 'host', 'compute_id',
                                       'task_state', 'id'])


class Plan:
    """What a repair changes, and how to undo it."""

    def __init__(self, hypervisor, owner, stale, moves):
        self.hypervisor = hypervisor
        self.owner = owner
        self.stale = stale
        self.moves = moves

    @property
    def empty(self):
        return not (self.stale or self.moves)

    def changes(self):
        lines = ['move instance %s from host %s to %s (compute_id %s -> %s)'
                 % (m.uuid, display.quoted(m.host),
                    display.quoted(self.owner.host), m.compute_id,
                    self.owner.id) for m in self.moves]
        lines.extend('retire compute node record %s of host %s '
                     '(soft-delete)' % (n.uuid, display.quoted(n.host))
                     for n in self.stale)
        return lines

    def undo(self, dialect):
        """SQL statements that put every changed row back."""
        def literal(statement):
            return str(statement.compile(
                dialect=dialect, compile_kwargs={'literal_binds': True}))
        i, cn = schema.instances, schema.compute_nodes
        statements = [literal(sa.update(i).where(i.c.uuid == m.uuid).values(
            host=display.sql_text(m.host, dialect),
            compute_id=m.compute_id)) for m in self.moves]
        statements.extend(literal(sa.update(cn).where(cn.c.id == n.id).values(
            deleted=0, deleted_at=None)) for n in self.stale)
        return [s + ';' for s in statements]


def plan(connection, hypervisor, owner, service_down_time, allocations,
         lock=False, now=None):
    """Work out the repair; raise :class:`Unsafe` if it is not safe.

    :param allocations: ``callable(rp_uuid)`` returning the consumer uuids
        of a resource provider's allocations (empty if it has none or does
        not exist); raises if placement cannot be asked.
    :param lock: lock the rows read (``SELECT ... FOR UPDATE``).
    """
    now = now or timeutils.utcnow()

    def select(*columns):
        query = sa.select(*columns)
        return query.with_for_update() if lock else query

    cn = schema.compute_nodes
    nodes = [splits.Node(*r) for r in connection.execute(select(
        cn.c.hypervisor_hostname, cn.c.host, cn.c.uuid, cn.c.id).where(
            cn.c.deleted == 0, cn.c.hypervisor_hostname == hypervisor))
        if ownership.same_name(r[0], hypervisor)]
    owners = [n for n in nodes if n.host == owner]
    if not owners:
        raise exception.NotOwner([
            'host %s has no live compute node record for hypervisor %s '
            '(its records: %s)' % (
                display.quoted(owner), display.quoted(hypervisor),
                ', '.join(display.quoted(n.host) for n in nodes) or 'none')])
    stale = sorted((n for n in nodes if n.host != owner),
                   key=lambda n: (n.id, n.host, n.uuid))

    i = schema.instances
    moves = sorted(Move(*r[:5]) for r in connection.execute(select(
        i.c.uuid, i.c.host, i.c.compute_id, i.c.task_state, i.c.id,
        i.c.node).where(i.c.deleted == 0, i.c.node == hypervisor))
        if r[5] == hypervisor and r[1] != owner)

    reasons = _owner_not_live(connection, owner, service_down_time, now)
    reasons.extend(_others_up(
        connection, sorted({n.host for n in stale} | {m.host for m in moves}),
        service_down_time, now, lock))
    reasons.extend('instance %s is busy (task_state %s)' % (m.uuid,
                                                            m.task_state)
                   for m in moves if m.task_state)
    reasons.extend(_migrations_in_flight(connection, moves, stale))
    reasons.extend(_unaccounted_allocations(allocations, stale, moves))
    if reasons:
        raise exception.Unsafe(reasons)
    return Plan(hypervisor, owners[0], stale, moves)


def _compute_services(connection, hosts, lock=False):
    """The live nova-compute service rows of ``hosts``, by host."""
    s = schema.services
    query = sa.select(
        s.c.host, s.c.forced_down, s.c.last_seen_up, s.c.created_at).where(
            s.c.deleted == 0, s.c.binary == 'nova-compute',
            s.c.host.in_(hosts))
    if lock:
        query = query.with_for_update()
    return {r.host: r for r in connection.execute(query) if r.host in hosts}


def _owner_not_live(connection, owner, service_down_time, now):
    service = _compute_services(connection, [owner]).get(owner)
    if service is None:
        return ['the owner %s has no nova-compute service'
                % display.quoted(owner)]
    if service.forced_down:
        return ['the nova-compute service of the owner %s is forced down'
                % display.quoted(owner)]
    if not ownership.is_up(service, service_down_time, now):
        return ['the nova-compute service of the owner %s is down (last '
                'heartbeat %s); start it first' % (
                    display.quoted(owner), ownership.last_heartbeat(service))]
    return []


def _others_up(connection, hosts, service_down_time, now, lock):
    """Hosts to retire whose nova-compute is up: they would revive it.

    Their service rows stay locked until the repair commits, so that a
    forced-down flag cannot be lifted in between.
    """
    services = _compute_services(connection, hosts, lock) if hosts else {}
    return ['the nova-compute service of host %s is up (last heartbeat '
            '%s): its next periodic run would revive the record retired '
            'here (nova undeletes it by uuid). Stop it and wait until it '
            'is reported down ([DEFAULT] service_down_time, %d s), or '
            'force it down ("openstack compute service set --down HOST '
            'nova-compute")' % (
                display.quoted(host),
                ownership.last_heartbeat(services[host]), service_down_time)
            for host in hosts if host in services and
            ownership.is_up(services[host], service_down_time, now)]


def _migrations_in_flight(connection, moves, stale):
    m = schema.migrations
    instances = [move.uuid for move in moves]
    hosts = sorted({move.host for move in moves} | {n.host for n in stale})
    if not (instances or hosts):
        return []
    involved = sa.or_(m.c.instance_uuid.in_(instances),
                      m.c.source_compute.in_(hosts),
                      m.c.dest_compute.in_(hosts))
    return ['%s %s of instance %s (%s -> %s) is %s' % (
        r.migration_type or 'migration', r.id, r.instance_uuid,
        display.quoted(r.source_compute), display.quoted(r.dest_compute),
        r.status)
        for r in connection.execute(sa.select(
            m.c.id, m.c.instance_uuid, m.c.status, m.c.migration_type,
            m.c.source_compute, m.c.dest_compute).where(
                m.c.deleted == 0, involved,
                m.c.status.notin_(FINISHED_MIGRATIONS)).order_by(m.c.id))]


def _unaccounted_allocations(allocations, stale, moves):
    moved = {move.uuid for move in moves}
    reasons = []
    for node in stale:
        try:
            consumers = set(allocations(node.uuid))
        except Exception as e:
            reasons.append('cannot read the allocations of resource '
                           'provider %s from placement: %s' % (node.uuid, e))
            continue
        for consumer in sorted(consumers - moved):
            reasons.append('resource provider %s (host %s) has allocations '
                           'of consumer %s, which this repair does not move'
                           % (node.uuid, display.quoted(node.host), consumer))
    return reasons


def apply(connection, hypervisor, owner, service_down_time, allocations):
    """Plan again with the rows locked, and apply; one transaction.

    :returns: the :class:`Plan` applied.
    """
    with connection.begin():
        the_plan = plan(connection, hypervisor, owner, service_down_time,
                        allocations, lock=True)
        now = timeutils.utcnow()
        i, cn = schema.instances, schema.compute_nodes
        if the_plan.moves:
            # By primary key, whose rows this transaction holds: through
            # the uuid index, MySQL/MariaDB would also wait for a
            # conditional update by uuid (nova's) waiting for those rows,
            # a deadlock that nova retries after the commit.
            result = connection.execute(sa.update(i).where(
                i.c.id.in_([m.id for m in the_plan.moves]),
                i.c.deleted == 0).values(
                    host=owner, compute_id=the_plan.owner.id,
                    updated_at=now))
            _expect(result.rowcount, len(the_plan.moves), 'instances')
        if the_plan.stale:
            result = connection.execute(sa.update(cn).where(
                cn.c.id.in_([n.id for n in the_plan.stale]),
                cn.c.deleted == 0).values(deleted=cn.c.id, deleted_at=now))
            _expect(result.rowcount, len(the_plan.stale), 'compute nodes')
        if the_plan.moves:
            _refuse_if_waited_for(connection)
    return the_plan


#: Sessions blocked by this one's locks on ``instances``, by server
#: flavour (:func:`_flavour`). MariaDB (and MySQL 5.7) show lock waits in
#: ``information_schema.INNODB_LOCK_WAITS``; MySQL 8.0 removed it for
#: ``performance_schema.data_lock_waits``.
WAITERS = {
    'mariadb': sa.text(
        "SELECT r.trx_mysql_thread_id "
        "FROM information_schema.INNODB_LOCK_WAITS w "
        "JOIN information_schema.INNODB_TRX b "
        "ON b.trx_id = w.blocking_trx_id "
        "JOIN information_schema.INNODB_TRX r "
        "ON r.trx_id = w.requesting_trx_id "
        "JOIN information_schema.INNODB_LOCKS l "
        "ON l.lock_id = w.requested_lock_id "
        "WHERE b.trx_mysql_thread_id = CONNECTION_ID() "
        "AND l.lock_table LIKE '%.`instances`'"),
    'mysql': sa.text(
        "SELECT w.REQUESTING_ENGINE_TRANSACTION_ID "
        "FROM performance_schema.data_lock_waits w "
        "JOIN information_schema.INNODB_TRX b "
        "ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID "
        "JOIN performance_schema.data_locks l "
        "ON l.ENGINE_LOCK_ID = w.REQUESTING_ENGINE_LOCK_ID "
        "WHERE b.trx_mysql_thread_id = CONNECTION_ID() "
        "AND l.OBJECT_SCHEMA = DATABASE() "
        "AND l.OBJECT_NAME = 'instances'"),
    'postgresql': sa.text(
        "SELECT a.pid FROM pg_stat_activity a "
        "WHERE pg_backend_pid() = ANY(pg_blocking_pids(a.pid)) "
        "AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid "
        "AND l.relation = 'instances'::regclass)"),
}


def _flavour(dialect):
    """The server's flavour for :data:`WAITERS`, from a connected dialect.

    ``mariadb`` for MariaDB and MySQL before 8.0, ``mysql`` for MySQL 8.0
    and newer, else the dialect's name.
    """
    if dialect.name == 'mariadb' or getattr(dialect, 'is_mariadb', False):
        return 'mariadb'   # a mariadb:// URL's dialect, or the server's
    if dialect.name != 'mysql':
        return dialect.name
    version = dialect.server_version_info or ()
    return 'mysql' if tuple(version[:1]) >= (8,) else 'mariadb'


def _refuse_if_waited_for(connection):
    """Roll back if another transaction waits to change locked instances.

    nova accepts an action with a conditional update (``task_state IS
    NULL``) of an instance it read before: if that update waits for this
    repair's locks, it succeeds right after the commit, and nova sends the
    action to the host it read, which no longer holds the instance.
    SQLite has no row locks and is not checked. On MySQL/MariaDB reading
    ``information_schema.INNODB_TRX`` needs the PROCESS privilege (and on
    MySQL 8.0 reading ``performance_schema``, its SELECT); without it the
    query fails and the repair is rolled back. On a Galera cluster only
    sessions of the node the repair runs on wait for its locks: a write
    through another node meets it at commit instead.
    """
    query = WAITERS.get(_flavour(connection.dialect))
    if query is not None and connection.execute(query).first():
        raise exception.Unsafe([
            'another database session waits to change an instance on the '
            'hypervisor (nova accepting an action on it while the repair '
            'held it): the action would go to the host nova read, not to '
            'the owner. Run the repair again once no instance to move is '
            'busy'])


def _expect(changed, planned, what):
    if changed != planned:
        raise RuntimeError('changed %d %s, planned %d; rolled back'
                           % (changed, what, planned))


def choose_cell(targets, hypervisor, owner, service_down_time, allocations,
                all_cells):
    """The one cell to repair in: ``(cell, plan)``.

    The owner's record of the hypervisor decides. With ``--all-cells`` a
    cell where the owner has no record is passed over; without it there is
    one cell, and that is a refusal.

    :raises nova_hostguard.exception.Unsafe: not safe in a cell (``cell``
        says which); nothing was changed.
    :raises nova_hostguard.exception.NotOneCell: the owner's record is in
        no cell, or in more than one.
    :raises nova_hostguard.exception.CellDatabaseError: a cell's database
        could not be read.
    """
    def plan_in(engine):
        with engine.connect() as conn:
            return plan(conn, hypervisor, owner, service_down_time,
                        allocations)
    found, not_owner = [], None
    for cell in targets:
        try:
            found.append((cell, cells.read(cell, plan_in)))
        except exception.NotOwner as e:
            e.cell, not_owner = cells.describe(cell), e  # maybe another's
        except exception.Unsafe as e:
            e.cell = cells.describe(cell)
            raise
    if not found and not_owner and not all_cells:
        raise not_owner
    if len(found) != 1:
        raise exception.NotOneCell(hypervisor, owner, [
            cells.describe(cell) for cell, _plan in found])
    return found[0]


class PlacementAllocations:
    """The consumers of a resource provider's allocations, from placement.

    Through nova's own placement client and ``[placement]`` options; the
    client is made on first use, so that a repair that retires nothing
    needs no placement. Raises if placement cannot be asked.
    """

    def __init__(self):
        self._client = None

    def __call__(self, rp_uuid):
        if self._client is None:
            from nova.scheduler.client import report
            self._client = report.SchedulerReportClient()
        response = self._client.get('/resource_providers/%s/allocations'
                                    % rp_uuid, version='1.0')
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise RuntimeError('placement answered %s' % response.status_code)
        return list(response.json()['allocations'])
