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

Usage: ``tox -e bench`` (everything, about 20 minutes on 2 cores), or
``python tools/bench.py --sections create,sync --backends mysql``.

Sections, each run in a process of its own and reported as a table:

``create``
    ``ComputeNode.create`` through nova's object layer, with 0, 10,000 and
    100,000 rows already in ``compute_nodes``: nova's own class and the
    guarded one, interleaved, with the constraint applied; the guarded one
    again without it; and the query plan of the guard's lookup.
``start``
    an ironic-like first start of one nova-compute with 1,000 nodes, in
    nova's functional framework (API, conductor, scheduler, placement
    in-process, SQLite): wall time of the start (the resource tracker's
    startup pass over every node), without and with the guard.
``audit``
    ``nova-hostguard-manage audit`` over 100,000 compute nodes and
    1,000,000 instances on MariaDB.
``sync``
    ``db sync`` adding the constraint to 100,000 rows on MariaDB and
    PostgreSQL, while another connection inserts compute nodes: how long
    the sync takes and how long those inserts waited.

Times are medians with the 25th-75th percentile spread. Nothing here is
asserted; the targets of the project are printed next to the numbers.
"""

import argparse
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

SECTIONS = ('create', 'start', 'audit', 'sync')


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


def bench_create(backends_, sizes, creates):
    import fixtures
    from nova import objects
    from nova.objects import compute_node

    from nova_hostguard.db import migration
    from nova_hostguard import objects as hostguard_objects
    from tests.harness import databases

    objects.register_all()
    results = []
    for backend in backends_:
        with fixtures.TempDir() as tmp:
            db = databases.NovaCellDatabase(backend)
            db.workdir = tmp.path
            with db:
                context = db.context()
                migration.upgrade(db.engine)
                filled = 0
                for size in sizes:
                    databases.insert(db.engine, 'compute_nodes',
                                     compute_node_rows(size - filled, filled))
                    filled = size
                    counter = [0]

                    def timed(cls):
                        counter[0] += 1
                        node = cls(context=context,
                                   **databases.compute_node_values(
                                       'new-%d' % counter[0],
                                       'new-hv-%d-%d' % (size, counter[0]),
                                       memory_mb=1, local_gb=1))
                        start = time.perf_counter()
                        node.create()
                        return time.perf_counter() - start

                    nova_alone, guarded = [], []
                    for _ in range(creates):
                        nova_alone.append(timed(compute_node.ComputeNode))
                        guarded.append(timed(
                            hostguard_objects.GuardedComputeNode))
                    plan = query_plan(db.engine, size)
                    migration.remove(db.engine)
                    no_index = [timed(hostguard_objects.GuardedComputeNode)
                                for _ in range(creates)]
                    plan_no_index = query_plan(db.engine, size)
                    migration.upgrade(db.engine)
                    results.append({
                        'backend': backend, 'rows': size,
                        'nova': spread(nova_alone),
                        'guard': spread(guarded),
                        'guard_no_index': spread(no_index),
                        'plan': plan, 'plan_no_index': plan_no_index})
    return results


def report_create(results):
    rows = [[r['backend'], '{:,}'.format(r['rows']), fmt(r['nova']),
             fmt(r['guard']), '%.2f' % (r['guard'][0] / r['nova'][0]),
             fmt(r['guard_no_index'])] for r in results]
    text = table(
        'ComputeNode.create, ms per create: median (p25-p75); target: '
        'ratio <= 1.5 at 100,000 rows, not growing',
        ['backend', 'rows', 'nova alone', 'guarded', 'ratio',
         'guarded, no constraint'], rows)
    plans = [[r['backend'], '{:,}'.format(r['rows']), r['plan'],
              r['plan_no_index']] for r in results]
    return text + table("Query plan of the guard's lookup",
                        ['backend', 'rows', 'with the constraint',
                         'without'], plans)


# start

def bench_start(nodes, repeats):
    """In a process of its own: nova's functional framework."""
    import fixtures

    from nova_hostguard import guard as hostguard
    from tests.harness import fixtures as hostguard_fixtures
    from tests.harness import framework

    names = ['node-%05d' % i for i in range(nodes)]
    in_guard = []
    check = hostguard.check_new_owner

    def timed_check(compute_node):
        begin = time.perf_counter()
        try:
            return check(compute_node)
        finally:
            in_guard.append(time.perf_counter() - begin)

    class Start(framework.SharedHypervisorTestCase):
        """One first start; the guard's check timed, for this run only."""

        hypervisors = {'ironic1': names}
        guard = False
        seconds = None

        def runTest(self):
            if self.guard:
                self.enable_guard()
                self.useFixture(fixtures.MonkeyPatch(
                    'nova_hostguard.guard.check_new_owner', timed_check))
            begin = time.perf_counter()
            self._start_compute('ironic1')
            self.seconds.append(time.perf_counter() - begin)
            self.assertEqual(nodes, len(self.live_compute_nodes()))

    timings = {False: [], True: []}
    for _ in range(repeats):
        for guard in (False, True):
            case = Start()
            case.guard, case.seconds = guard, timings[guard]
            errors = hostguard_fixtures.run_case(case)
            if errors:
                raise RuntimeError(errors[0])
            if hostguard.check_new_owner is not check:
                raise RuntimeError('the timed check outlived its run')
    return {'nodes': nodes, 'nova': spread(timings[False]),
            'guard': spread(timings[True]),
            'checks': len(in_guard) // repeats,
            'in_guard': sum(in_guard) / repeats}


def report_start(r):
    nova, guard = r['nova'][0] / 1000, r['guard'][0] / 1000
    return table(
        'First start of nova-compute with {:,} nodes (nova in-process, '
        'SQLite), s: median (p25-p75); target: within 5%'.format(r['nodes']),
        ['nova alone', 'guarded', 'difference', 'in the guard (checks)',
         'share of the start'],
        [['%.1f (%.1f-%.1f)' % tuple(x / 1000 for x in r['nova']),
          '%.1f (%.1f-%.1f)' % tuple(x / 1000 for x in r['guard']),
          '%+.1f%%' % ((guard - nova) / nova * 100),
          '%.2f (%d)' % (r['in_guard'], r['checks']),
          '%.1f%%' % (r['in_guard'] / guard * 100)]])


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
    else:
        data = bench_sync([b for b in args.backends if b != 'sqlite'],
                          args.sync_rows)
    sys.stdout.write('\nBENCH-RESULT ' + json.dumps(data) + '\n')


REPORTS = {'create': report_create, 'start': report_start,
           'audit': report_audit, 'sync': report_sync}


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
