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

"""The gate: .zuul.yaml and its playbooks parse and say what they must."""

import os

import testtools
import yaml

from tests.harness.reproduction import scenario

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def load(path):
    with open(os.path.join(REPO, path)) as f:
        return yaml.safe_load(f)


class ZuulTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        entries = load('.zuul.yaml')
        self.jobs = {e['job']['name']: e['job'] for e in entries
                     if 'job' in e}
        self.project = [e['project'] for e in entries if 'project' in e][0]

    def test_two_devstack_jobs_one_per_outcome(self):
        guarded = self.jobs['nova-hostguard-bug-1419785']
        unguarded = self.jobs['nova-hostguard-bug-1419785-unguarded']
        self.assertEqual('devstack', guarded['parent'])
        self.assertEqual(guarded['name'], unguarded['parent'])
        # The plugin is the change's own repository, wherever it lives.
        self.assertEqual(
            'https://opendev.org/{{ zuul.project.name }}',
            guarded['vars']['devstack_plugins']['nova-hostguard'])
        self.assertEqual(['openstack/nova'], guarded['required-projects'])
        localrc = guarded['vars']['devstack_localrc']
        self.assertIs(True, localrc['HOSTGUARD_REPRODUCTION'])
        self.assertIs(True, localrc['HOSTGUARD_GUARD'])
        self.assertEqual('fake', localrc['VIRT_DRIVER'])
        self.assertIs(False,
                      unguarded['vars']['devstack_localrc']['HOSTGUARD_GUARD'])
        self.assertEqual('refusal', guarded['vars']['hostguard_expect'])
        self.assertEqual('bug', unguarded['vars']['hostguard_expect'])
        for expect in ('refusal', 'bug'):
            self.assertIn(expect, scenario.EXPECTATIONS)

    def test_the_playbook_runs_the_reproduction(self):
        playbook = load(self.jobs['nova-hostguard-bug-1419785']['run'])
        self.assertEqual(['orchestrate-devstack'], playbook[0]['roles'])
        task = playbook[1]['tasks'][0]
        self.assertEqual('stack', task['become_user'])
        self.assertIn('devstack/reproduce.sh --expect {{ hostguard_expect }}',
                      task['shell'])
        self.assertTrue(os.path.exists(
            os.path.join(REPO, 'devstack', 'reproduce.sh')))
        self.assertTrue(task['args']['chdir'].endswith('/nova-hostguard'))
        self.assertTrue(task['environment']['TOP_DIR'].endswith('/devstack'))
        # Nothing of devstack's layout is assumed but its base directory.
        self.assertNotIn('/etc/nova', task['shell'])
        self.assertNotIn('venv', task['shell'])

    @staticmethod
    def names(jobs):
        return sorted(j if isinstance(j, str) else list(j)[0] for j in jobs)

    def test_the_project_checks_every_job_and_gates_the_voting_ones(self):
        check = self.project['check']['jobs']
        self.assertEqual(sorted(list(self.jobs) +
                                ['build-openstack-releasenotes']),
                         self.names(check))
        control = 'nova-hostguard-bug-1419785-unguarded'
        self.assertIn({control: {'voting': False}}, check)
        self.assertEqual(sorted(set(self.names(check)) - {control}),
                         self.names(self.project['gate']['jobs']))

    def test_docs_and_notes_are_built_not_published(self):
        # Not an official deliverable: nothing to publish to.
        templates = self.project['templates']
        self.assertIn('build-openstack-docs-pti', templates)
        self.assertFalse([t for t in templates if 'publish' in t or
                          t == 'release-notes-jobs-python3'])

    def test_tox_jobs_name_real_envs(self):
        import configparser
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(os.path.join(REPO, 'tox.ini'))
        for name in ('nova-hostguard-tox-functional',
                     'nova-hostguard-tox-e2e',
                     'nova-hostguard-devstack-plugin',
                     'nova-hostguard-tox-zuul'):
            env = self.jobs[name]['vars']['tox_envlist']
            self.assertIn('testenv:%s' % env, tox.sections())

    def test_the_devstack_check_gets_a_real_devstack(self):
        job = self.jobs['nova-hostguard-devstack-plugin']
        self.assertEqual(['openstack/devstack'], job['required-projects'])
        self.assertIn("zuul.projects['opendev.org/openstack/devstack']"
                      ".src_dir", job['vars']['tox_extra_args'])
        self.assertIn('^devstack/.*$', job['files'])
