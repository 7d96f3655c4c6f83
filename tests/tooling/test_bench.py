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

"""The benchmark tool runs and reports (its numbers are not judged here).

What is checked is that each row measures what it is labelled with: the
SQL statements and conductor calls of one create of each kind, and which
of the first start's checks looked anything up. Timings are not.
"""

import os
import re
import subprocess
import sys

import testtools

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'tools', 'bench.py')


def run(*args):
    return subprocess.run([sys.executable, BENCH] + list(args),
                          capture_output=True, text=True, timeout=600)


def table(output, title):
    """The rows of the table whose title starts with ``title``: cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(title))
    rows = []
    for line in lines[start + 4:]:
        if not line.strip():
            break
        rows.append(re.split(r'\s{2,}', line.strip()))
    return rows


class BenchToolTest(testtools.TestCase):

    def test_a_tiny_create_run_reports_every_mode_and_the_plan(self):
        result = run('--sections', 'create', '--backends', 'sqlite',
                     '--sizes', '0,50', '--creates', '3')
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        self.assertIn('Machine: ', result.stdout)
        with_constraint = table(result.stdout, 'ComputeNode.create, ms per '
                                'create: median (p25-p75), with the')
        without = table(result.stdout, 'ComputeNode.create, ms per '
                        'create: median (p25-p75), without the')
        modes = [['sqlite', rows, mode] for rows in ('0', '50')
                 for mode in ('conductor', 'compute only', 'both')]
        self.assertEqual(modes, [r[:3] for r in with_constraint])
        self.assertEqual(modes, [r[:3] for r in without])
        self.assertIn('target: guarded within 1.1x of nova alone',
                      result.stdout)
        for rows in (with_constraint, without):
            for row in rows:
                self.assertEqual(8, len(row), row)
        # (SQL statements nova / guarded, conductor calls nova / guarded)
        costs = {(r[1], r[2], state): (
            [int(n) for n in r[6].split(' / ')],
            [int(n) for n in r[7].split(' / ')])
            for state, rows in (('constraint', with_constraint),
                                ('none', without)) for r in rows}
        for size in ('0', '50'):
            # In conductor, where the constraint is in place, the guarded
            # create is nova's create and nothing more; without it, one
            # lookup more.
            statements, calls = costs[size, 'conductor', 'constraint']
            self.assertEqual(statements[0], statements[1])
            self.assertEqual([0, 0], calls)
            statements, calls = costs[size, 'conductor', 'none']
            self.assertLess(statements[0], statements[1])
            self.assertEqual([0, 0], calls)
            # From nova-compute: nova's create is one call to conductor;
            # guarded, get_by_nodename first, in every mode and state.
            for mode in ('compute only', 'both'):
                for state in ('constraint', 'none'):
                    self.assertEqual([1, 2], costs[size, mode, state][1])
            # A guarded conductor adds a lookup of its own only where the
            # constraint is not in place.
            self.assertEqual(costs[size, 'compute only', 'constraint'][0],
                             costs[size, 'both', 'constraint'][0])
            self.assertLess(costs[size, 'compute only', 'none'][0][1],
                            costs[size, 'both', 'none'][0][1])
        plans = table(result.stdout, "Query plan of the guard's lookup")
        self.assertEqual(['0', '50'], [p[1] for p in plans])
        for plan in plans:
            # With the constraint the lookup searches our index; without
            # it, it scans.
            self.assertIn('USING INDEX uniq_compute_nodes0hypervisor_'
                          'hostname0deleted', plan[2])
            self.assertIn('SCAN compute_nodes', plan[3])

    def test_a_tiny_start_run_reports_every_mode(self):
        result = run('--sections', 'start', '--nodes', '3', '--repeats', '1')
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        self.assertIn("nova's get_by_nodename calls from nova-compute in a "
                      "compute-only start: 3", result.stdout)
        rows = table(result.stdout, 'First start of nova-compute with 3 '
                     'nodes')
        # compute only is compared with nova over conductor, its baseline.
        self.assertEqual([['nova alone', 'no'], ['conductor', 'no'],
                          ['conductor', 'yes'], ['nova over conductor', 'no'],
                          ['compute only', 'no'], ['compute only', 'yes']],
                         [r[:2] for r in rows])
        guarded = [r for r in rows if r[0] in ('conductor', 'compute only')]
        # (checks, checks that looked up, move checks): the guard checked
        # each node; in conductor with the constraint in place it looked
        # nothing up; a start whose nodes are new moves none.
        checks = [(re.search(r'\((\d+)\)', r[4]).group(1), r[5], r[-1])
                  for r in guarded]
        self.assertEqual([('3', '3', '0'), ('3', '0', '0'), ('3', '3', '0'),
                          ('3', '3', '0')], checks)

    def test_a_tiny_lock_run_reports_every_backend(self):
        from tests.harness import backends

        backends.require(self, *backends.COORDINATION_BACKENDS)
        result = run('--sections', 'lock', '--lock-repeats', '2',
                     '--lock-hold', '0.5')
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        rows = table(result.stdout, 'Lock mode ([hostguard] backend_url)')
        self.assertEqual(list(backends.COORDINATION_BACKENDS),
                         [r[0] for r in rows])
        for row in rows:
            self.assertEqual(9, len(row), row)
            # A start sends something and connects; a keeper's check is
            # one request, once a second.
            for cell in (row[2], row[4]):
                requests, connections = (float(n.split()[0])
                                         for n in cell.split(' / '))
                self.assertGreater(requests, 0, row)
                self.assertGreater(connections, 0, row)
            self.assertEqual(['1', '1'], row[6:8])
        watch = table(result.stdout, 'Without a lock service')
        self.assertEqual(['0 s (no watch)', '17.0 s (watch 15.0 s + '
                          'settle 2.0 s)'], [r[1] for r in watch])
