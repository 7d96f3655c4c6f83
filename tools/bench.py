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

"""What the guard costs, side by side with nova alone, in one run.

Usage: ``tox -e bench`` (everything, about 27 minutes on 2 cores), or
``python tools/bench.py --sections create,sync --backends mysql``.

Sections, each run in a process of its own and reported as a table:

``create``
    ``ComputeNode.create`` through nova's object layer, with 0, 10,000 and
    100,000 rows already in ``compute_nodes``, with the constraint applied
    (``db sync``) and without it (``db remove``): nova's own class and the
    guarded one, interleaved, with the guard in nova-conductor (a process
    with database access), in nova-compute only (its conductor without
    the guard) and in both. nova-compute is this process with an
    indirection API that runs the conductor's side in process
    (``tests/harness/conductor.py``: no serialisation, no RabbitMQ). Each
    kind's SQL statements and conductor calls of one create are counted
    too; and the query plan of the guard's lookup is shown.
``start``
    an ironic-like first start of one nova-compute with 1,000 nodes, in
    nova's functional framework (API, conductor, scheduler, placement
    in-process, SQLite): wall time of the start (the resource tracker's
    startup pass over every node), nova alone, and the guard in
    nova-conductor or in nova-compute only, each without and with the
    constraint; "compute only" sends every object through an in-process
    conductor (the indirection API), so it is compared with nova alone
    run that way ("nova over conductor"); then the next
    periodic run of the same nova-compute (every record already its own:
    the count of move checks it made, expected 0, and its wall time).
``audit``
    ``nova-hostguard-manage audit`` over 100,000 compute nodes and
    1,000,000 instances on MariaDB.
``sync``
    ``db sync`` adding the constraint to 100,000 rows on MariaDB and
    PostgreSQL, while another connection inserts compute nodes: how long
    the sync takes and how long those inserts waited.
``lock``
    the lock mode (``[hostguard] backend_url``) in etcd, Redis, MariaDB
    and PostgreSQL: the time and backend requests of a start's
    ``HostLock.acquire`` for a free lock and right after another process
    released it, of one check of the keeper, and of the backend driver's
    own session heartbeat while a lock is held; next to the start-up cost
    of the heartbeat watch (no backend), computed from its design.

Times are medians with the 25th-75th percentile spread. Nothing here is
asserted; the targets of the project are printed next to the numbers.
"""

import argparse
import collections
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SECTIONS = ('create', 'start', 'audit', 'sync', 'lock')


def spread(samples):
    """``median (p25-p75)`` in milliseconds."""
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=4) if len(ms) > 1 else [ms[0]] * 3
    return statistics.median(ms), q[0], q[2]


def fmt(stats):
    median, low, high = stats
    return '%.2f (%.2f-%.2f)' % (median, low, high)


def table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    lines = ['', title, '']
    for i, row in enumerate([header] + rows):
        lines.append('  '.join(str(c).ljust(w)
                               for c, w in zip(row, widths)).rstrip())
        if i == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


# Filling tables fast: the tests' rows, in plain multi-row INSERTs
# (tests.harness.databases.insert).

def compute_node_rows(count, start=0, prefix='bench'):
    from tests.harness import databases

    now = datetime.datetime.utcnow()
    for i in range(start, start + count):
        yield databases.compute_node_values(
            '%s-host-%d' % (prefix, i // 10), '%s-hv-%07d' % (prefix, i),
            created_at=now, uuid=str(uuid.uuid4()), deleted=0)


# create

LOOKUP = ('SELECT host, uuid, hypervisor_hostname, deleted FROM '
          'compute_nodes WHERE hypervisor_hostname = %s AND deleted = 0')


def query_plan(engine, rows):
    import sqlalchemy as sa

    # A name that is there (MariaDB answers "impossible WHERE" for one
    # that is not); on SQLite a new statement text each time, as it keeps
    # the plan of a cached statement across a DROP INDEX.
    name = "'bench-hv-%07d'" % (rows // 2) if rows else "'new-hv-0-1'"
    if engine.dialect.name == 'sqlite':
        name = "'plan-%s'" % uuid.uuid4().hex
    with engine.connect() as conn:
        if engine.dialect.name == 'sqlite':
            rows = conn.execute(sa.text('EXPLAIN QUERY PLAN ' +
                                        LOOKUP % name)).all()
            return '; '.join(r[-1] for r in rows)
        if engine.dialect.name == 'mysql':
            row = conn.execute(sa.text('EXPLAIN ' + LOOKUP % name))
            row = row.mappings().one()
            return 'type=%s key=%s rows=%s' % (
                row['type'], row['key'], row['rows'])
        conn.execute(sa.text('ANALYZE compute_nodes'))
        rows = conn.execute(sa.text('EXPLAIN ' + LOOKUP % name)).all()
        return rows[0][0].strip()


#: Where the guard runs, as in the table: (mode, what is timed, guarded
#: class, indirection API). "conductor": a process with database access
#: (no indirection API). "compute only": a nova-compute whose conductor
#: has no guard. "both": a nova-compute whose conductor has the guard.
#: nova alone is timed with database access and through the unguarded
#: conductor; "both" is compared with the latter.
KINDS = (('conductor', 'nova', False, None),
         ('conductor', 'guard', True, None),
         ('compute only', 'nova', False, 'unguarded'),
         ('compute only', 'guard', True, 'unguarded'),
         ('both', 'guard', True, 'guarded'))
MODES = ('conductor', 'compute only', 'both')
STATES = ('constraint', 'none')


def baseline(mode):
    """The nova alone kind a mode's guarded creates are compared with."""
    return ('conductor' if mode == 'conductor' else 'compute only', 'nova')


class Creates(object):
    """Creates of compute node records, one kind at a time (``KINDS``)."""

    def __init__(self, context, engine, label):
        from nova.objects import compute_node
        import sqlalchemy as sa

        from nova_hostguard import objects as hostguard_objects
        from tests.harness import conductor

        self.context, self.label = context, label
        self.classes = {False: compute_node.ComputeNode,
                        True: hostguard_objects.GuardedComputeNode}
        self.conductors = {None: None,
                           'unguarded': conductor.Conductor(),
                           'guarded': conductor.Conductor(guarded=True)}
        self.count = 0
        self.statements, self.counting = [], False
        sa.event.listen(engine, 'before_cursor_execute', self._statement)

    def _statement(self, *args):
        if self.counting:
            self.statements.append(args[2])

    def create(self, kind):
        """One create of ``kind``: its duration, in seconds."""
        from nova.objects import base as objects_base
        from tests.harness import databases

        _mode, _what, guarded, indirection = kind
        self.count += 1
        node = self.classes[guarded](
            context=self.context, **databases.compute_node_values(
                'new-%d' % self.count,
                'new-hv-%s-%d' % (self.label, self.count),
                memory_mb=1, local_gb=1))
        objects_base.NovaObject.indirection_api = self.conductors[
            indirection]
        try:
            start = time.perf_counter()
            node.create()
            return time.perf_counter() - start
        finally:
            objects_base.NovaObject.indirection_api = None

    def cost(self, kind):
        """(SQL statements, conductor round trips) of one create."""
        conductor = self.conductors[kind[3]]
        calls = len(conductor.calls) if conductor else 0
        self.statements[:] = []
        self.counting = True
        try:
            self.create(kind)
        finally:
            self.counting = False
        return (len(self.statements),
                len(conductor.calls) - calls if conductor else 0)


def measure_creates(creates, count):
    """Every kind, interleaved, ``count`` times: samples and costs.

    The constraint's state is read again first (``constraint.forget``),
    then each kind is created once untimed (the guarded one in conductor
    reads the state there).
    """
    from nova_hostguard import constraint

    constraint.forget()
    for kind in KINDS:
        creates.create(kind)
    samples = {kind: [] for kind in KINDS}
    for _ in range(count):
        for kind in KINDS:
            samples[kind].append(creates.create(kind))
    return ({'%s/%s' % kind[:2]: spread(s) for kind, s in samples.items()},
            {'%s/%s' % kind[:2]: creates.cost(kind) for kind in KINDS})


def bench_create(backends_, sizes, creates):
    import fixtures
    from nova.db.main import api as main_db_api
    from nova import objects

    from nova_hostguard.db import migration
    from tests.harness import databases

    objects.register_all()
    results = []
    for backend in backends_:
        with fixtures.TempDir() as tmp:
            db = databases.NovaCellDatabase(backend)
            db.workdir = tmp.path
            with db:
                filled = 0
                for size in sizes:
                    databases.insert(db.engine, 'compute_nodes',
                                     compute_node_rows(size - filled, filled))
                    filled = size
                    kinds = Creates(db.context(), main_db_api.get_engine(),
                                    size)
                    result = {'backend': backend, 'rows': size}
                    migration.upgrade(db.engine)
                    result['constraint'] = measure_creates(kinds, creates)
                    result['plan'] = query_plan(db.engine, size)
                    migration.remove(db.engine)
                    result['none'] = measure_creates(kinds, creates)
                    result['plan_no_index'] = query_plan(db.engine, size)
                    migration.upgrade(db.engine)
                    results.append(result)
    return results


def report_create(results):
    text = ''
    for state, title in (
            ('constraint', 'with the constraint (db sync); target: guarded '
             'within 1.1x of nova alone'),
            ('none', 'without the constraint (db remove)')):
        rows = []
        for r in results:
            times, costs = r[state]
            for mode in MODES:
                nova = '%s/%s' % baseline(mode)
                guard = '%s/guard' % mode
                rows.append([
                    r['backend'], '{:,}'.format(r['rows']), mode,
                    fmt(times[nova]), fmt(times[guard]),
                    '%.2f' % (times[guard][0] / times[nova][0]),
                    '%d / %d' % (costs[nova][0], costs[guard][0]),
                    '%d / %d' % (costs[nova][1], costs[guard][1])])
        text += table(
            'ComputeNode.create, ms per create: median (p25-p75), '
            + title,
            ['backend', 'rows', 'guard in', 'nova alone', 'guarded',
             'ratio', 'SQL statements', 'conductor calls'], rows) + '\n'
    plans = [[r['backend'], '{:,}'.format(r['rows']), r['plan'],
              r['plan_no_index']] for r in results]
    return text + table(
        "Query plan of the guard's lookup in conductor (nova-compute's, "
        "nova's get_by_nodename, is the same equality)",
        ['backend', 'rows', 'with the constraint', 'without'], plans)


# start

class KeptOpen(object):
    """An SQLite connection that a close leaves open (delegates the rest).

    nova's framework keeps its database in memory, in one connection
    (SQLAlchemy's StaticPool): closing it would drop the database.
    """

    def __init__(self, connection):
        object.__setattr__(self, '_connection', connection)

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __setattr__(self, name, value):
        setattr(self._connection, name, value)

    def close(self):
        pass


def upgrade_in_memory(engine):
    """``db sync`` on the framework's in-memory SQLite database.

    :func:`nova_hostguard.db.migration.upgrade` closes its connection
    for good (``invalidate``), as it should on a real database; here it is
    given an engine of its own on the same connection, kept open.
    """
    import sqlalchemy as sa

    from nova_hostguard.db import migration

    with engine.connect() as conn:
        shared = conn.connection.driver_connection
    own = sa.create_engine('sqlite://', poolclass=sa.pool.StaticPool,
                           creator=lambda: KeptOpen(shared))
    try:
        return migration.upgrade(own)
    finally:
        own.dispose()


OVER_CONDUCTOR = 'nova over conductor'
#: The start's runs: (where the guard runs, constraint applied). "nova
#: alone": no guard, nova's objects in the process; "nova over
#: conductor": no guard, every object through the in-process conductor,
#: the baseline of "compute only": the guard in nova-compute, its
#: conductor without it.
START_MODES = ((None, False), ('conductor', False), ('conductor', True),
               (OVER_CONDUCTOR, False), ('compute only', False),
               ('compute only', True))


def start_key(mode):
    return '%s/%s' % (mode[0] or 'nova alone',
                      'constraint' if mode[1] else 'none')


def bench_start(nodes, repeats):
    """In a process of its own: nova's functional framework."""
    import fixtures
    from nova.db.main import api as main_db_api
    from nova.objects import base as objects_base

    from nova_hostguard import constraint
    from nova_hostguard import guard as hostguard
    from nova_hostguard import moves
    from tests.harness import conductor
    from tests.harness import fixtures as hostguard_fixtures
    from tests.harness import framework

    names = ['node-%05d' % i for i in range(nodes)]
    keys = [start_key(mode) for mode in START_MODES]
    in_guard = {key: [] for key in keys}
    looked = {key: [] for key in keys}
    moves_checked = collections.Counter()
    check = hostguard.check_new_owner
    check_move = moves.check_move

    class Start(framework.SharedHypervisorTestCase):
        """One first start; the guard's check timed, for this run only.

        "compute only": nova-compute's objects go to nova's own
        conductor methods (tests.harness.conductor), as from a
        nova-compute to an unguarded nova-conductor; the other services
        of the framework run in this process too, and their objects take
        the same way, to the same methods. The conductor's side runs with
        the indirection off for the whole process (green threads
        included) while it runs: the count of ``get_by_nodename`` calls
        shows that every check took nova-compute's way.
        """

        hypervisors = {'ironic1': names}
        mode = (None, False)
        seconds = None
        periodic = None
        lookups = None

        def runTest(self):
            guard_in, applied = self.mode
            constraint.forget()
            self.addCleanup(constraint.forget)
            if applied:
                upgrade_in_memory(main_db_api.get_engine())
            if guard_in and guard_in != OVER_CONDUCTOR:
                self.enable_guard()
                self.useFixture(fixtures.MonkeyPatch(
                    'nova_hostguard.guard.check_new_owner', self.timed_check))
                self.useFixture(fixtures.MonkeyPatch(
                    'nova_hostguard.moves.check_move', self.counted_move))
            if guard_in in ('compute only', OVER_CONDUCTOR):
                api = conductor.Conductor()
                self.useFixture(fixtures.MockPatchObject(
                    objects_base.NovaObject, 'indirection_api', api))
            begin = time.perf_counter()
            self._start_compute('ironic1')
            self.seconds.append(time.perf_counter() - begin)
            self.assertEqual(nodes, len(self.live_compute_nodes()))
            # A steady periodic run: every node's record is found by uuid
            # and is this host's (the move check's wrapper compares the
            # host and goes on).
            begin = time.perf_counter()
            self.computes['ironic1'].manager.update_available_resource(
                self.ctxt)
            self.periodic.append(time.perf_counter() - begin)
            if guard_in == 'compute only':
                # Each check asked nova-compute's way: nova's
                # get_by_nodename, in "conductor".
                self.lookups.append(api.calls.count(
                    ('ComputeNode', 'get_by_nodename')))

        def counted_move(self, *args, **kwargs):
            moves_checked[start_key(self.mode)] += 1
            return check_move(*args, **kwargs)

        def timed_check(self, compute_node):
            begin = time.perf_counter()
            try:
                result = check(compute_node)
                looked[start_key(self.mode)].append(result)
                return result
            finally:
                in_guard[start_key(self.mode)].append(
                    time.perf_counter() - begin)

    timings = {key: [] for key in keys}
    periodic = {key: [] for key in keys}
    lookups = []
    for _ in range(repeats):
        for mode in START_MODES:
            case = Start()
            case.mode, case.seconds = mode, timings[start_key(mode)]
            case.periodic = periodic[start_key(mode)]
            case.lookups = lookups
            errors = hostguard_fixtures.run_case(case)
            if errors:
                raise RuntimeError(errors[0])
            if (hostguard.check_new_owner is not check or
                    moves.check_move is not check_move):
                raise RuntimeError('the timed check outlived its run')
            if objects_base.NovaObject.indirection_api is not None:
                raise RuntimeError('the indirection API outlived its run')
    return {'nodes': nodes,
            'modes': [[key, {
                'seconds': spread(timings[key]),
                'periodic': spread(periodic[key]),
                'moves_checked': moves_checked[key] // repeats,
                'checks': len(in_guard[key]) // repeats,
                'looked': looked[key].count(True) // repeats,
                'in_guard': sum(in_guard[key]) / repeats}]
                for key in keys],
            'get_by_nodename': min(lookups) if lookups else 0}


def report_start(r):
    modes = dict(r['modes'])
    rows = []
    for key, m in r['modes']:
        guard_in, state = key.split('/')
        # Each guarded start beside nova's own in the same setting.
        baseline = modes[start_key(
            (OVER_CONDUCTOR if guard_in == 'compute only' else None, False))]
        nova = baseline['seconds'][0]
        nova_periodic = baseline['periodic'][0]
        unguarded = guard_in in ('nova alone', OVER_CONDUCTOR)
        seconds = m['seconds'][0]
        periodic = m['periodic'][0]
        rows.append([
            guard_in, 'yes' if state == 'constraint' else 'no',
            '%.1f (%.1f-%.1f)' % tuple(x / 1000 for x in m['seconds'])] + (
            ['-'] * 4 if unguarded else [
                '%+.1f%%' % ((seconds - nova) / nova * 100),
                '%.2f (%d)' % (m['in_guard'], m['checks']),
                m['looked'],
                '%.1f%%' % (m['in_guard'] * 1000 / seconds * 100)]) + [
            '%.1f (%.1f-%.1f)' % tuple(x / 1000 for x in m['periodic'])] + (
            ['-'] * 2 if unguarded else [
                '%+.1f%%' % ((periodic - nova_periodic) / nova_periodic
                             * 100),
                m['moves_checked']]))
    return table(
        'First start of nova-compute with {:,} nodes (nova in-process, '
        'SQLite), s: median (p25-p75), then its next periodic run; '
        'differences from nova alone (\'compute only\': from nova over '
        'conductor); target: within 2%; nova\'s '
        'get_by_nodename calls from nova-compute in a compute-only '
        'start: {:,}'.format(r['nodes'], r['get_by_nodename']),
        ['guard in', 'constraint', 'start', 'difference',
         'in the guard, s (checks)', 'checks that looked up',
         'share of the start', 'next periodic run', 'difference',
         'move checks'], rows)


# audit

def bench_audit(nodes, instances, repeats):
    from tests.harness import databases

    with databases.NovaCellDatabase('mysql', bind_nova=False) as db:
        databases.insert(db.engine, 'compute_nodes',
                         compute_node_rows(nodes))
        # Some trouble to find: 100 hypervisors split, their instances.
        databases.insert(db.engine, 'compute_nodes', (
            dict(r, host='standby-%d' % i)
            for i, r in enumerate(compute_node_rows(100))))
        now = datetime.datetime.utcnow()
        databases.insert(db.engine, 'instances', (
            databases.instance_values(
                'bench-host-%d' % ((i % nodes) // 10),
                'bench-hv-%07d' % (i % nodes), created_at=now)
            for i in range(instances)))
        databases.insert(db.engine, 'services', (
            databases.service_values('bench-host-%d' % h, created_at=now,
                                     updated_at=now)
            for h in range(nodes // 10)))
        conf = os.path.join(db.workdir or '/tmp', 'bench-audit-%s.conf'
                            % uuid.uuid4().hex)
        with open(conf, 'w') as f:
            f.write('[database]\nconnection = %s\n' % db.url)
        manage = os.path.join(os.path.dirname(sys.executable),
                              'nova-hostguard-manage')
        timings, found = [], None
        for _ in range(repeats):
            begin = time.perf_counter()
            result = subprocess.run(
                [manage, '--config-file', conf, 'audit', '--format', 'json'],
                capture_output=True, text=True)
            timings.append(time.perf_counter() - begin)
            found = json.loads(result.stdout)
        os.unlink(conf)
    return {'nodes': nodes, 'instances': instances,
            'seconds': spread(timings), 'problems': found['problems'],
            'splits': len(found['split_hypervisors']),
            'partitioned': len(found['partitioned_instances'])}


def report_audit(r):
    return table(
        'nova-hostguard-manage audit on MariaDB (the whole command), s: '
        'median (p25-p75); target: under 5 s',
        ['compute nodes', 'instances', 'time', 'found'],
        [['{:,}'.format(r['nodes'] + 100), '{:,}'.format(r['instances']),
          '%.2f (%.2f-%.2f)' % tuple(x / 1000 for x in r['seconds']),
          '%d split hypervisors, %d partitioned instances' % (
              r['splits'], r['partitioned'])]])


# sync

def bench_sync(backends_, rows):
    import sqlalchemy as sa

    from nova_hostguard.db import migration
    from tests.harness import databases

    results = []
    for backend in backends_:
        with databases.NovaCellDatabase(backend, bind_nova=False) as db:
            databases.insert(db.engine, 'compute_nodes',
                             compute_node_rows(rows))
            writer = sa.create_engine(db.url)
            table = sa.Table('compute_nodes', sa.MetaData(),
                             autoload_with=writer)
            latencies, stop = [], threading.Event()

            def write(count=[rows]):
                while not stop.is_set():
                    row = next(compute_node_rows(1, count[0], 'during'))
                    count[0] += 1
                    begin = time.perf_counter()
                    with writer.begin() as conn:
                        conn.execute(table.insert(), [row])
                    latencies.append((begin, time.perf_counter() - begin))
                    time.sleep(0.01)
            thread = threading.Thread(target=write)
            thread.start()
            time.sleep(1)
            begin = time.perf_counter()
            migration.upgrade(db.engine)
            end = time.perf_counter()
            time.sleep(1)
            stop.set()
            thread.join()
            writer.dispose()
            before = [s for t, s in latencies if t < begin]
            during = [s for t, s in latencies if begin <= t < end]
            results.append({
                'backend': backend, 'rows': rows, 'sync': end - begin,
                'before': spread(before), 'during_count': len(during),
                'during_max': max(during) * 1000 if during else None})
    return results


def report_sync(results):
    return table(
        'db sync adding the constraint while inserts go on (one insert '
        'every 10 ms from another connection)',
        ['backend', 'rows', 'sync, s', 'inserts during it',
         'their longest wait, ms', 'inserts before: ms'],
        [[r['backend'], '{:,}'.format(r['rows']), '%.2f' % r['sync'],
          r['during_count'],
          '%.1f' % r['during_max'] if r['during_max'] is not None else '-',
          fmt(r['before'])] for r in results])


# lock

class BackendRequests(object):
    """Requests and connections to each lock service, counted as sent.

    Where each driver sends them: etcd's HTTP requests (etcd3gw, through
    requests), Redis's commands (a pipeline or a script is one), the SQL
    statements and protocol commands of MariaDB (PyMySQL) and PostgreSQL
    (psycopg2), by backend; TCP connections opened, by port. Every thread
    counts: the driver's heartbeat thread too.
    """

    def __init__(self, ports):
        self.ports = ports
        self.requests = collections.Counter()
        self.connections = collections.Counter()
        self._lock = threading.Lock()
        self._undo = []

    def count(self, counter, backend):
        with self._lock:
            counter[backend] += 1

    def snapshot(self, backend):
        with self._lock:
            return self.requests[backend], self.connections[backend]

    def _wrap(self, owner, name, backend, counter=None):
        original = getattr(owner, name)
        counter = self.requests if counter is None else counter

        def counted(*args, **kwargs):
            self.count(counter, backend)
            return original(*args, **kwargs)
        setattr(owner, name, counted)
        self._undo.append((owner, name, original))

    def __enter__(self):
        import socket

        import psycopg2
        import psycopg2.extensions
        import pymysql.connections
        import redis.connection
        import requests

        requests_ = self

        class CountedCursor(psycopg2.extensions.cursor):
            def execute(self, *args, **kwargs):
                requests_.count(requests_.requests, 'postgresql')
                return super().execute(*args, **kwargs)

        connect = psycopg2.connect

        def pg_connect(*args, **kwargs):
            self.count(self.connections, 'postgresql')
            kwargs.setdefault('cursor_factory', CountedCursor)
            return connect(*args, **kwargs)
        psycopg2.connect = pg_connect
        self._undo.append((psycopg2, 'connect', connect))
        self._wrap(requests.Session, 'request', 'etcd')
        self._wrap(redis.connection.AbstractConnection,
                   'send_packed_command', 'redis')
        self._wrap(pymysql.connections.Connection, '_execute_command',
                   'mysql')
        socket_connect = socket.socket.connect

        def connect_socket(sock, address, *args):
            port = address[1] if isinstance(address, tuple) else None
            if port in self.ports:
                self.count(self.connections, self.ports[port])
            return socket_connect(sock, address, *args)
        socket.socket.connect = connect_socket
        self._undo.append((socket.socket, 'connect', socket_connect))
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        del self._undo[:]


def measured(counts, backend, call):
    """(seconds, requests, connections) of ``call()`` to ``backend``."""
    requests_, connections = counts.snapshot(backend)
    begin = time.perf_counter()
    call()
    seconds = time.perf_counter() - begin
    after = counts.snapshot(backend)
    return seconds, after[0] - requests_, after[1] - connections


def bench_lock(backends_, repeats, hold):
    """In a process of its own: real lock services, one host each time.

    Each repeat takes, in every backend in turn, a free lock (a host
    name used once), then the same lock again from another ``HostLock``
    right after the first released it (a clean stop), and times one
    ``Keeper.check_once`` of the second. Each backend is used once
    untimed first (a driver's first connection and lazy imports). Then a
    lock is held in every backend at once, for ``hold`` seconds, with no
    keeper: what the driver's own session heartbeat sends meanwhile.
    """
    from nova.conf import service as nova_service_conf

    from nova_hostguard import hostlock
    from nova_hostguard import startup
    from nova_hostguard import takeover
    from tests.harness import backends

    run = uuid.uuid4().hex[:8]
    urls = {b: backends.coordination_url(b) for b in backends_}
    ports = {backends.SERVICES[b][1]: b for b in backends_}

    def fenced(holders):
        raise RuntimeError('fenced in the benchmark: %s' % (holders,))

    def take(host_lock):
        host_lock.acquire(wait=5)
        if host_lock.still_held() is not True:
            raise RuntimeError('%s: acquire returned without the lock'
                               % host_lock.url)

    samples = {b: collections.defaultdict(list) for b in backends_}
    with BackendRequests(ports) as counts:
        for backend in backends_:
            host_lock = hostlock.HostLock(urls[backend],
                                          'bench-%s-warm' % run)
            take(host_lock)
            host_lock.stop()
        for i in range(repeats):
            for backend in backends_:
                found = samples[backend]
                host = 'bench-%s-%d' % (run, i)
                first = hostlock.HostLock(urls[backend], host)
                for key, value in zip(('free', 'free_requests',
                                       'free_connections'),
                                      measured(counts, backend,
                                               lambda: take(first))):
                    found[key].append(value)
                second = hostlock.HostLock(urls[backend], host)
                first.stop()
                for key, value in zip(('released', 'released_requests',
                                       'released_connections'),
                                      measured(counts, backend,
                                               lambda: take(second))):
                    found[key].append(value)
                keeper = hostlock.Keeper(second, fenced)
                outcome = []
                for key, value in zip(('check', 'check_requests',
                                       'check_connections'),
                                      measured(counts, backend, lambda:
                                               outcome.append(
                                                   keeper.check_once()))):
                    found[key].append(value)
                if outcome != [True]:
                    raise RuntimeError('%s: the keeper lost the lock'
                                       % backend)
                second.stop()
        held = {b: hostlock.HostLock(urls[b], 'bench-%s-held' % run)
                for b in backends_}
        for host_lock in held.values():
            take(host_lock)
        before = {b: counts.snapshot(b) for b in backends_}
        time.sleep(hold)
        after = {b: counts.snapshot(b) for b in backends_}
        for host_lock in held.values():
            host_lock.stop()
    report_interval = next(o.default for o in nova_service_conf.service_opts
                           if o.name == 'report_interval')
    return {
        'repeats': repeats, 'hold': hold,
        'check_interval': hostlock.CHECK_INTERVAL,
        'report_interval': report_interval,
        'window': takeover.window(report_interval),
        'settle': startup.SETTLE,
        'backends': [[b, {
            key: (spread(values) + (min(values) * 1000, max(values) * 1000)
                  if not key.endswith(('requests', 'connections'))
                  else sorted(values))
            for key, values in samples[b].items()},
            {'heartbeat_requests': after[b][0] - before[b][0],
             'heartbeat_connections': after[b][1] - before[b][1]}]
            for b in backends_]}


def ms_range(stats):
    """``median (min-max)``, ms, of a spread with min and max appended."""
    return '%.1f (%.1f-%.1f)' % (stats[0], stats[3], stats[4])


def number_range(values):
    """A count, or its median and range where the repeats differed."""
    if values[0] == values[-1]:
        return '%d' % values[0]
    return '%g (%d-%d)' % (statistics.median(values), values[0],
                           values[-1])


def report_lock(r):
    rows = []
    for backend, m, held in r['backends']:
        rows.append([
            backend,
            ms_range(m['free']), '%s / %s' % (
                number_range(m['free_requests']),
                number_range(m['free_connections'])),
            ms_range(m['released']), '%s / %s' % (
                number_range(m['released_requests']),
                number_range(m['released_connections'])),
            ms_range(m['check']), number_range(m['check_requests']),
            '%g' % (1 / r['check_interval']),
            '%.2f' % (held['heartbeat_requests'] / r['hold'])])
    text = table(
        'Lock mode ([hostguard] backend_url), per nova-compute, {} '
        'repeats: ms, median (min-max); requests / TCP connections to the '
        'lock service'.format(r['repeats']),
        ['backend', 'start, free lock', 'requests / conn.',
         'start after a clean stop', 'requests / conn.', 'keeper check',
         'requests', 'checks/s',
         'driver heartbeat req/s ({:g} s)'.format(r['hold'])], rows)
    restart = r['window'] + r['settle']
    return text + '\n' + table(
        'Without a lock service (heartbeat watch), computed from the '
        'design, not measured: report_interval = {:g} s (nova\'s default)'
        .format(r['report_interval']),
        ['start', 'added to the start', 'requests per second'],
        [['first (no service record)', '0 s (no watch)', '0'],
         ['restart (a service record)', '%.1f s (watch %.1f s + settle '
          '%.1f s)' % (restart, r['window'], r['settle']),
          '0 after the start (reads of the row: 1/s during the watch)']])


def machine():
    import nova.version
    import sqlalchemy as sa

    from tests.harness import backends

    import sqlite3

    versions = []
    for name, url, query in (
            ('MariaDB', backends.mysql_url(), 'SELECT VERSION()'),
            ('PostgreSQL', backends.pg_url(), 'SHOW server_version')):
        with contextlib.suppress(Exception):
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                versions.append('%s %s' % (name, conn.execute(
                    sa.text(query)).scalar()))
            engine.dispose()
    versions.append('SQLite ' + sqlite3.sqlite_version)
    cpu = platform.processor()
    with contextlib.suppress(OSError), open('/proc/cpuinfo') as f:
        cpu = next(line.split(':', 1)[1].strip() for line in f
                   if line.startswith('model name'))
    with contextlib.suppress(OSError), open('/proc/meminfo') as f:
        memory = int(f.readline().split()[1]) // (1024 * 1024)
    return ('Machine: %s, %d cores, %s GiB; Python %s; nova %s; %s. '
            'Databases as installed (Debian defaults), on the same '
            'machine.' % (cpu, os.cpu_count(), memory,
                          platform.python_version(),
                          nova.version.version_string(),
                          ', '.join(versions)))


def run_section(args):
    """One section, in this process; JSON on stdout."""
    if args.only == 'create':
        data = bench_create(args.backends, args.sizes, args.creates)
    elif args.only == 'start':
        data = bench_start(args.nodes, args.repeats)
    elif args.only == 'audit':
        data = bench_audit(args.audit_nodes, args.audit_instances,
                           args.repeats)
    elif args.only == 'lock':
        data = bench_lock(args.lock_backends.split(','), args.lock_repeats,
                          args.lock_hold)
    else:
        data = bench_sync([b for b in args.backends if b != 'sqlite'],
                          args.sync_rows)
    sys.stdout.write('\nBENCH-RESULT ' + json.dumps(data) + '\n')


REPORTS = {'create': report_create, 'start': report_start,
           'audit': report_audit, 'sync': report_sync, 'lock': report_lock}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sections', default=','.join(SECTIONS))
    parser.add_argument('--backends', default='sqlite,mysql,postgresql')
    parser.add_argument('--sizes', default='0,10000,100000')
    parser.add_argument('--creates', type=int, default=200,
                        help='creates per kind and table size')
    parser.add_argument('--nodes', type=int, default=1000)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--audit-nodes', type=int, default=100000)
    parser.add_argument('--audit-instances', type=int, default=1000000)
    parser.add_argument('--sync-rows', type=int, default=100000)
    parser.add_argument('--lock-backends',
                        default='etcd,redis,mysql,postgresql',
                        help='lock services (tests/harness/backends.py)')
    parser.add_argument('--lock-repeats', type=int, default=20)
    parser.add_argument('--lock-hold', type=float, default=40,
                        help='seconds a lock is held to count the '
                        "driver's heartbeat (tooz beats every 15 s at "
                        'its default 30 s session)')
    parser.add_argument('--only', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.backends = args.backends.split(',')
    args.sizes = [int(s) for s in args.sizes.split(',')]
    if args.only:
        return run_section(args)

    print(machine())
    status = 0
    for section in args.sections.split(','):
        argv_ = [sys.executable, os.path.abspath(__file__), '--only',
                 section] + [a for a in (argv or sys.argv[1:])]
        result = subprocess.run(argv_, capture_output=True, text=True,
                                cwd=REPO)
        marker = [line for line in result.stdout.splitlines()
                  if line.startswith('BENCH-RESULT ')]
        if result.returncode or not marker:
            status = 1
            print('\n%s: failed\n%s' % (section, (result.stdout +
                                                  result.stderr)[-3000:]))
            continue
        print(REPORTS[section](json.loads(marker[0][len('BENCH-RESULT '):])))
        sys.stdout.flush()
    return status


if __name__ == '__main__':
    sys.exit(main())
