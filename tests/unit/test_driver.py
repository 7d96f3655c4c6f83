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

"""The switch: nova.conf, oslo.config and the ``hostguard`` driver.

The first tests run a fresh Python process per case, as every nova binary
is one: it applies ``nova.monkey_patch`` (which reads nova.conf into a bare
``ConfigOpts`` before anything else may be imported), then nova's own
``config.parse_args`` and ``objects.register_all()``, and reports which
``ComputeNode`` class nova will use.
"""

import json
import os
import subprocess
import sys
import textwrap

import fixtures
from oslo_config import cfg
from oslo_config import sources
import testtools

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import driver
from nova_hostguard import install
from tests.harness import fixtures as hostguard_fixtures

GUARD_LINES = hostguard_fixtures.GUARD_LINES

#: How the nova process below marks nova's own log records on stderr
#: (nova 32 and 33 log their concurrency mode before logging is set up).
NOVA_LOG = 'nova log record: '

NOVA_PROCESS = textwrap.dedent("""
    import json, logging, sys
    logging.basicConfig(format=%r + '%%(name)s: %%(message)s')
    from nova_hostguard.cmd import common
    common.start_native_threading()
    nova_after_probe = sorted(m for m in sys.modules
                              if m == 'nova.objects' or
                              m.startswith('nova.objects.'))
    from nova import config, objects
    config.parse_args(sys.argv, init_rpc=False, configure_db=False)
    objects.register_all()
    cls = objects.ComputeNode
    print(json.dumps({
        'class': cls.__module__ + '.' + cls.__name__,
        'version': cls.VERSION,
        'nova_objects_after_probe': nova_after_probe,
    }))
""") % NOVA_LOG


def without_nova_log(stderr):
    """A nova process's stderr without nova's own log records."""
    return ''.join(line for line in stderr.splitlines(True)
                   if not line.startswith(NOVA_LOG + 'nova.'))


class NovaConfSwitchTest(testtools.TestCase):

    def _nova_process(self, conf_text):
        tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(tmp, 'nova.conf')
        with open(self.path, 'w') as f:
            f.write(conf_text)
        return subprocess.run(
            [sys.executable, '-c', NOVA_PROCESS, '--config-file', self.path],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING=''))

    def test_the_two_lines_switch_the_guard_on(self):
        result = self._nova_process(GUARD_LINES)
        self.assertEqual(0, result.returncode, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual('nova_hostguard.objects.GuardedComputeNode',
                         report['class'])
        from nova.objects import compute_node
        self.assertEqual(compute_node.ComputeNode.VERSION, report['version'])
        # The early probe got nothing of nova's from us (it must not: the
        # process may not have chosen its concurrency mode yet).
        self.assertEqual([], report['nova_objects_after_probe'])

    def test_without_them_nova_is_untouched(self):
        result = self._nova_process('[DEFAULT]\ndebug = true\n')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('nova.objects.compute_node.ComputeNode',
                         json.loads(result.stdout)['class'])

    def test_warn_mode_switches_it_on_too(self):
        result = self._nova_process(GUARD_LINES + 'mode = warn\n')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertEqual('nova_hostguard.objects.GuardedComputeNode',
                         json.loads(result.stdout)['class'])

    def test_a_bad_mode_stops_the_process_with_a_clear_error(self):
        result = self._nova_process(GUARD_LINES + 'mode = enforcing\n')
        self.assertEqual(1, result.returncode)
        self.assertEqual('', result.stdout)
        self.assertEqual(
            'nova-hostguard: invalid configuration: [hostguard] mode in '
            '%s: Valid values are [enforce, warn], but found '
            "'enforcing'\n" % self.path, without_nova_log(result.stderr))

    def test_a_real_nova_binary_refuses_a_bad_mode(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, 'nova.conf')
        with open(path, 'w') as f:
            f.write(GUARD_LINES + 'mode = 1\n')
        manage = os.path.join(os.path.dirname(sys.executable), 'nova-manage')
        result = subprocess.run([manage, '--config-file', path, 'version'],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(1, result.returncode)
        self.assertIn('nova-hostguard: invalid configuration: [hostguard] '
                      'mode in %s: Valid values are' % path, result.stderr)


class DriverTest(testtools.TestCase):
    """The driver's contract with oslo.config, in this process."""

    def _conf_file(self, text):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, 'nova.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def test_another_configopts_is_validated_not_guarded(self):
        self.useFixture(hostguard_fixtures.ComputeNodeRegistryFixture())
        installs = []
        self.useFixture(fixtures.MockPatchObject(
            install, 'install', side_effect=lambda *a: installs.append(a)))
        conf = cfg.ConfigOpts()
        conf(['--config-file', self._conf_file(GUARD_LINES)])
        self.assertEqual('enforce', conf.hostguard.mode)
        self.assertEqual([], installs)

    def test_bad_mode_leaves_as_systemexit_which_oslo_config_passes(self):
        # oslo.config would log and swallow an Exception from a driver.
        conf = cfg.ConfigOpts()
        exc = self.assertRaises(SystemExit, conf, [
            '--config-file', self._conf_file(GUARD_LINES + 'mode = off\n')])
        self.assertIn('invalid configuration: [hostguard] mode in', str(exc))
        self.assertIn("but found 'off'", str(exc))

    def test_bad_one_process_per_host_stops_the_process(self):
        conf = cfg.ConfigOpts()
        exc = self.assertRaises(SystemExit, conf, [
            '--config-file', self._conf_file(
                GUARD_LINES + 'one_process_per_host = maybe\n')])
        self.assertIn('invalid configuration: [hostguard] '
                      'one_process_per_host in', str(exc))

    def test_an_install_that_fails_stops_the_process(self):
        self.useFixture(hostguard_fixtures.ComputeNodeRegistryFixture())
        self.useFixture(fixtures.MockPatchObject(
            install, 'install', side_effect=ImportError('no nova here')))
        exc = self.assertRaises(
            SystemExit, driver.HostGuardDriver().open_source_from_opt_group,
            cfg.CONF, hostguard_conf.GROUP)
        self.assertIn('could not switch the guard on (ImportError: no nova '
                      'here); refusing to run without it', str(exc))

    def test_installs_once_however_often_opened(self):
        self.useFixture(hostguard_fixtures.ComputeNodeRegistryFixture())
        from nova import objects
        from nova.objects import base as objects_base

        from nova_hostguard import objects as hostguard_objects

        # nova parses its configuration two to four times per process.
        results = []
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.install.install',
            lambda *a, real=install.install: results.append(real(*a))))
        for _ in range(4):
            driver.HostGuardDriver().open_source_from_opt_group(
                cfg.CONF, hostguard_conf.GROUP)
        self.assertEqual([True, False, False, False], results)
        self.assertEqual(
            [hostguard_objects.GuardedComputeNode],
            objects_base.NovaObjectRegistry.obj_classes()['ComputeNode'])
        self.assertIs(hostguard_objects.GuardedComputeNode,
                      objects.ComputeNode)

    def test_the_source_supplies_no_values(self):
        source = driver.EmptySource()
        for group, name in (('DEFAULT', 'host'), ('hostguard', 'mode')):
            self.assertIs(sources._NoValue, source.get(group, name, None)[0])

    def test_options_are_discoverable(self):
        self.assertEqual(
            ['mode', 'one_process_per_host', 'backend_url', 'lock_wait'],
            [o.name for o in driver.HostGuardDriver()
             .list_options_for_discovery()])
