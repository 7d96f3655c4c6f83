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

from tests.reproduction import scenario

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
        self.assertEqual(
            'https://opendev.org/openstack/nova-hostguard',
            guarded['vars']['devstack_plugins']['nova-hostguard'])
        self.assertIn('openstack/nova-hostguard',
                      guarded['required-projects'])
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
        self.assertIn('-m tests.reproduction.run', task['shell'])
        self.assertIn('--cloud devstack', task['shell'])
        self.assertIn('--expect {{ hostguard_expect }}', task['shell'])
        self.assertTrue(task['args']['chdir'].endswith('/nova-hostguard'))

    def test_the_project_checks_and_gates_every_job(self):
        for pipeline in ('check', 'gate'):
            self.assertEqual(sorted(self.jobs),
                             sorted(self.project[pipeline]['jobs']))

    def test_tox_jobs_name_real_envs(self):
        import configparser
        tox = configparser.ConfigParser(interpolation=None)
        tox.read(os.path.join(REPO, 'tox.ini'))
        for name in ('nova-hostguard-tox-functional',
                     'nova-hostguard-tox-e2e'):
            env = self.jobs[name]['vars']['tox_envlist']
            self.assertIn('testenv:%s' % env, tox.sections())
