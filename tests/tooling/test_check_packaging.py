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

"""The packaging check fails on the mistakes it is there to catch.

``tools/check_packaging.py`` checks the HEAD of the repository it lives
in, so each test clones this repository, commits one packaging mistake
(with this tree's copy of the check) and runs the clone's check. A clean
HEAD passing is ``tox -e packaging`` itself.

The offline check (``--python``, the packager's path) runs here against
this test environment's own nova, with the network made unusable, and
against a Python without nova.
"""

from importlib import metadata
import os
import shutil
import subprocess
import sys

import fixtures
import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CHECK = os.path.join('tools', 'check_packaging.py')


def git(*args):
    subprocess.run(['git'] + list(args), check=True, capture_output=True,
                   stdin=subprocess.DEVNULL)


class CheckPackagingTest(testtools.TestCase):

    def _clone_with(self, mistake):
        """A clone of HEAD with ``mistake(clone)`` and the check committed."""
        clone = os.path.join(self.useFixture(fixtures.TempDir()).path, 'src')
        git('clone', '--quiet', REPO, clone)
        shutil.copy(os.path.join(REPO, CHECK), os.path.join(clone, CHECK))
        mistake(clone)
        git('-C', clone, 'add', '--all', '--force', '.')
        git('-C', clone, '-c', 'user.name=test', '-c',
            'user.email=test@example.invalid', 'commit', '--quiet', '-m',
            'a packaging mistake')
        return clone

    def _check(self, clone):
        return subprocess.run(
            [sys.executable, os.path.join(clone, CHECK)], cwd=clone,
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=600)

    def test_a_tracked_file_that_gitignore_ignores_fails(self):
        def track_venv_file(clone):
            # What the repository once had: a file named .venv, which
            # .gitignore ignores, committed anyway.
            with open(os.path.join(clone, '.venv'), 'w') as f:
                f.write('/tmp/somewhere\n')

        result = self._check(self._clone_with(track_venv_file))
        self.assertEqual(1, result.returncode, result.stdout)
        self.assertIn('packaging: FAILED: tracked files that .gitignore '
                      'ignores (they would be in the sdist): .venv',
                      result.stderr)
        self.assertNotIn('built ', result.stdout)

    def test_migrations_shipped_as_data_fail_the_build(self):
        def migrations_without_init(clone):
            for package in ('', 'versions'):
                os.remove(os.path.join(clone, 'nova_hostguard', 'db',
                                       'migrations', package, '__init__.py'))

        result = self._check(self._clone_with(migrations_without_init))
        self.assertEqual(1, result.returncode, result.stdout)
        self.assertIn('packaging: FAILED: the build printed warnings:',
                      result.stderr)
        self.assertIn("Package 'nova_hostguard.db.migrations' is absent "
                      "from the `packages` configuration", result.stderr)
        self.assertIn('checked out', result.stdout)
        self.assertNotIn('twine check', result.stdout)


#: What ``--python`` must not need: an index, links, any HTTP(S). Port 9
#: (discard) refuses connections, so any download fails.
NO_NETWORK = {'PIP_NO_INDEX': '1', 'PIP_CONFIG_FILE': os.devnull,
              'http_proxy': 'http://127.0.0.1:9',
              'https_proxy': 'http://127.0.0.1:9',
              'HTTP_PROXY': 'http://127.0.0.1:9',
              'HTTPS_PROXY': 'http://127.0.0.1:9',
              'ALL_PROXY': 'http://127.0.0.1:9'}


class OfflineCheckTest(testtools.TestCase):
    """``check_packaging.py --python``, about 10 s."""

    def _offline(self, python):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('PIP_') and k.lower() != 'no_proxy'}
        env.update(NO_NETWORK)
        return subprocess.run(
            [sys.executable, os.path.join(REPO, CHECK), '--python', python],
            cwd=self.useFixture(fixtures.TempDir()).path, env=env,
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=300)

    def test_passes_against_the_installed_nova_without_network(self):
        # This environment's Python has nova (tox installs it).
        result = self._offline(sys.executable)
        self.assertEqual(0, result.returncode,
                         result.stdout + result.stderr)
        self.assertIn('%s has nova %s' % (sys.executable,
                                          metadata.version('nova')),
                      result.stdout)
        for line in ('entry points load: console_scripts='
                     'nova-hostguard-manage, console_scripts='
                     'nova-hostguard-status, oslo.config.driver=hostguard, '
                     'oslo.config.opts=nova_hostguard',
                     'oslo-config-generator list [hostguard] ',
                     'config_source = hostguard installs the guard into '
                     'nova',
                     'nova-hostguard-manage, nova-hostguard-status --help '
                     'start',
                     'packaging: passed in'):
            self.assertIn(line, result.stdout)
        self.assertEqual('', result.stderr)

    def test_a_python_without_nova_fails_in_one_line(self):
        # A bare virtual environment of the same Python: no nova in it.
        venv = os.path.join(self.useFixture(fixtures.TempDir()).path, 'v')
        subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                        venv], check=True, capture_output=True)
        python = os.path.join(venv, 'bin', 'python')
        result = self._offline(python)
        self.assertEqual(3, result.returncode, result.stdout)
        self.assertEqual(
            ['packaging: FAILED: %s cannot import nova (ModuleNotFoundError:'
             " No module named 'nova'); the offline check uses the nova "
             'installed for that Python' % python],
            result.stderr.splitlines())
        self.assertNotIn('built', result.stdout)
