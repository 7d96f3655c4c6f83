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

"""The benchmark tool runs and reports (its numbers are not judged here)."""

import os
import subprocess
import sys

import testtools

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'tools', 'bench.py')


class BenchToolTest(testtools.TestCase):

    def test_a_tiny_create_run_reports_every_size_and_the_plan(self):
        result = subprocess.run(
            [sys.executable, BENCH, '--sections', 'create', '--backends',
             'sqlite', '--sizes', '0,50', '--creates', '3'],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        self.assertIn('Machine: ', result.stdout)
        self.assertIn('ComputeNode.create, ms per create', result.stdout)
        rows = [line.split() for line in result.stdout.splitlines()
                if line.startswith('sqlite ')]
        self.assertEqual(['0', '50', '0', '50'], [r[1] for r in rows])
        plans = [line for line in result.stdout.splitlines()
                 if line.startswith('sqlite ') and 'SEARCH' in line]
        for plan in plans:
            # With the constraint the lookup searches our index; without
            # it, it scans.
            self.assertIn('USING INDEX uniq_compute_nodes0hypervisor_'
                          'hostname0deleted', plan)
            self.assertIn('SCAN compute_nodes', plan)
        self.assertEqual(2, len(plans))
