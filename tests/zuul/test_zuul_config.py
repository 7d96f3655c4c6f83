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

"""tools/zuul_check.py passes this .zuul.yaml and rejects broken copies.

The broken copies are this repository's own .zuul.yaml with one mistake
each; Zuul's own message must come out, and the file checked must be left
as it was (the check only reads). Checkouts of the repositories the jobs
build on are small git repositories made here, defining by name what
openstack-zuul-jobs and devstack define.
"""

import contextlib
import importlib.util
import io
import os
import shutil
import subprocess

import fixtures
import testtools
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'zuul_check', os.path.join(REPO, 'tools', 'zuul_check.py'))
zuul_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zuul_check)

ELSEWHERE = {
    'openstack-zuul-jobs': (
        '- job:\n    name: openstack-tox\n'
        '- project-template:\n    name: openstack-python3-jobs\n'
        '- job:\n    name: build-openstack-releasenotes\n'
        '- project-template:\n    name: build-openstack-docs-pti\n'),
    'devstack': '- job:\n    name: devstack\n',
}


class ZuulCheckTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.repo = os.path.join(self.tmp, 'nova-hostguard')
        os.mkdir(self.repo)
        shutil.copy(os.path.join(REPO, '.zuul.yaml'), self.repo)
        shutil.copytree(os.path.join(REPO, 'playbooks'),
                        os.path.join(self.repo, 'playbooks'))

    def run_check(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = zuul_check.main(['--repo', self.repo] + list(args))
        return status, out.getvalue(), err.getvalue()

    @staticmethod
    def elsewhere(out):
        """The names the check says it took on trust."""
        said = 'defined elsewhere, not checked (give the checkouts that ' \
               'define them): '
        line = [line for line in out.splitlines() if said in line]
        return line[0].split(said)[1].split(', ') if line else []

    def break_config(self, old, new):
        """Replace old (found once) with new in the copy's .zuul.yaml."""
        path = os.path.join(self.repo, '.zuul.yaml')
        with open(path) as f:
            text = f.read()
        self.assertEqual(1, text.count(old))
        with open(path, 'w') as f:
            f.write(text.replace(old, new))
        return text.replace(old, new)

    def assertRejected(self, broken, message, *args):
        status, out, err = self.run_check(*args)
        self.assertEqual(1, status, out + err)
        self.assertIn(message, err)
        self.assertIn('Zuul 14.3.0 rejects its configuration', err)
        # Nothing lost: the configuration checked is as it was.
        with open(os.path.join(self.repo, '.zuul.yaml')) as f:
            self.assertEqual(broken, f.read())

    def checkout(self, name):
        """A git repository whose HEAD defines what ELSEWHERE says."""
        path = os.path.join(self.tmp, name)
        os.mkdir(path)
        with open(os.path.join(path, '.zuul.yaml'), 'w') as f:
            f.write(ELSEWHERE[name])
        git = ['git', '-C', path, '-c', 'user.name=test',
               '-c', 'user.email=test@example.com']
        subprocess.run(git + ['init', '-q'], check=True)
        subprocess.run(git + ['add', '.zuul.yaml'], check=True)
        subprocess.run(git + ['commit', '-qm', 'jobs'], check=True)
        return path

    def test_this_configuration_loads(self):
        status, out, err = self.run_check()
        self.assertEqual(0, status, out + err)
        self.assertIn('Zuul 14.3.0 loads its configuration without error',
                      out)
        self.assertEqual(
            ['build-openstack-docs-pti', 'build-openstack-releasenotes',
             'devstack', 'openstack-python3-jobs', 'openstack-tox'],
            self.elsewhere(out))
        self.assertIn('taken to exist on https://opendev.org: '
                      'openstack/devstack, openstack/nova', out)

    def test_this_configuration_loads_with_checkouts(self):
        checkouts = [self.checkout(name) for name in sorted(ELSEWHERE)]
        status, out, err = self.run_check(*checkouts)
        self.assertEqual(0, status, out + err)
        self.assertIn('checked against openstack/devstack at ', out)
        self.assertIn('checked against openstack/openstack-zuul-jobs at ',
                      out)
        self.assertNotIn('defined elsewhere', out)

    def test_unknown_attribute(self):
        broken = self.break_config('    timeout: 3600\n',
                                   '    timeout: 3600\n    votin: false\n')
        self.assertRejected(broken, "extra keys not allowed @ data['votin']")

    def test_wrong_type(self):
        broken = self.break_config('timeout: 3600', 'timeout: an hour')
        self.assertRejected(
            broken, "expected int for dictionary value @ data['timeout']")

    def test_duplicate_key_yaml_accepts(self):
        broken = self.break_config(
            '    timeout: 3600\n', '    timeout: 3600\n    timeout: 7200\n')
        # Plain YAML takes the last value without a word...
        e2e = [e['job'] for e in yaml.safe_load(broken)
               if e.get('job', {}).get('name') == 'nova-hostguard-tox-e2e']
        self.assertEqual(7200, e2e[0]['timeout'])
        # ... Zuul's loader refuses the file.
        self.assertRejected(broken, 'appears more than once')

    def test_project_names_an_undefined_job(self):
        broken = self.break_config(
            '    gate:\n      jobs:\n        - build-openstack-releasenotes\n'
            '        - nova-hostguard-devstack-plugin\n',
            '    gate:\n      jobs:\n        - build-openstack-releasenotes\n'
            '        - nova-hostguard-devstack-plugn\n')
        self.assertRejected(broken,
                            'Job nova-hostguard-devstack-plugn not defined')

    def test_missing_playbook(self):
        broken = self.break_config('run: playbooks/reproduce-bug-1419785/',
                                   'run: playbooks/reproduce-bug-141978/')
        self.assertRejected(
            broken, 'job nova-hostguard-bug-1419785: playbook '
                    'playbooks/reproduce-bug-141978/run.yaml does not exist')

    def test_parent_typo_with_checkouts(self):
        broken = self.break_config('parent: devstack\n',
                                   'parent: devstak\n')
        checkouts = [self.checkout(name) for name in sorted(ELSEWHERE)]
        self.assertRejected(broken, 'Job devstak not defined', *checkouts)

    def test_template_typo_with_checkouts(self):
        broken = self.break_config('- openstack-python3-jobs\n',
                                   '- openstack-python3-job\n')
        checkouts = [self.checkout(name) for name in sorted(ELSEWHERE)]
        self.assertRejected(
            broken,
            'The project template "openstack-python3-job" was not found.',
            *checkouts)

    def test_second_configuration_root(self):
        os.mkdir(os.path.join(self.repo, 'zuul.d'))
        with open(os.path.join(self.repo, 'zuul.d', 'jobs.yaml'), 'w') as f:
            f.write('- job:\n    name: nova-hostguard-other\n')
        with open(os.path.join(self.repo, '.zuul.yaml')) as f:
            unchanged = f.read()
        self.assertRejected(unchanged, 'Configuration in .zuul.yaml ignored')

    def test_checkout_that_is_not_a_directory(self):
        missing = os.path.join(self.tmp, 'devstack')
        status, out, err = self.run_check(missing)
        self.assertEqual(2, status)
        self.assertEqual('zuul-check: %s: no such directory\n' % missing, err)
        self.assertEqual('', out)

    def test_checkout_without_a_commit(self):
        path = os.path.join(self.tmp, 'devstack')
        subprocess.run(['git', 'init', '-q', path], check=True)
        status, out, err = self.run_check(path)
        self.assertEqual(2, status)
        self.assertTrue(err.startswith(
            'zuul-check: %s: not a git repository with a HEAD' % path), err)
        self.assertEqual(1, err.count('\n'))

    def test_job_from_elsewhere_is_checked_only_with_checkouts(self):
        broken = self.break_config(
            'check:\n      jobs:\n',
            'check:\n      jobs:\n        - openstack-tox-py3\n')
        # Without checkouts the name is taken on trust, and said so...
        status, out, err = self.run_check()
        self.assertEqual(0, status, out + err)
        self.assertIn('openstack-tox-py3', self.elsewhere(out))
        # ... with them, Zuul finds nobody defines it.
        checkouts = [self.checkout(name) for name in sorted(ELSEWHERE)]
        self.assertRejected(broken, 'Job openstack-tox-py3 not defined',
                            *checkouts)
