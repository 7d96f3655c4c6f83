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

"""The devstack plugin's branches, run by bash with stand-ins for devstack.

devstack sources ``devstack/settings``, then ``devstack/plugin.sh <mode>
[phase]`` at each point of stack.sh, unstack.sh and clean.sh. Here the
same files are sourced the same way, with stand-ins for the devstack
functions they call: ``iniset`` really writes the ini files (so the
nova.conf options are checked as written), the others record their calls,
and ``nova-hostguard-manage`` is a script that records its arguments.

Stand-ins cannot show what devstack itself does (its background writers,
its paths): ``tools/devstack_check.py`` runs the plugin inside a real
devstack checkout (``tox -e devstack-plugin -- DEVSTACK_DIR``). These
tests keep the plugin's branches covered where no devstack checkout is.
"""

import configparser
import os
import subprocess
import textwrap

import fixtures
import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

INISET = textwrap.dedent('''
    import configparser, sys
    args = sys.argv[1:]
    if args[0] == '-sudo':
        args = args[1:]
    path, section, option, value = args
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    if section != 'DEFAULT' and not parser.has_section(section):
        parser.add_section(section)
    parser.set(section, option, value)
    with open(path, 'w') as f:
        parser.write(f)
''')

STAND_INS = textwrap.dedent('''
    set -o errexit
    record() { echo "$*" >> "$CALLS"; }
    is_service_enabled() {
        local s
        for s in "$@"; do
            [[ " $ENABLED " == *" $s "* ]] && return 0
        done
        return 1
    }
    trueorfalse() {
        case "${!2:-}" in
            1|yes|Yes|YES|true|True|TRUE) echo True ;;
            0|no|No|NO|false|False|FALSE) echo False ;;
            *) echo "$1" ;;
        esac
    }
    enable_service() { record "enable_service $*"; }
    define_plugin() { record "define_plugin $*"; }
    async_wait() { record "async_wait $*"; }
    echo_summary() { :; }
    setup_develop() { record "setup_develop $*"; }
    iniset() { python3 "$WORK/iniset.py" "$@"; }
    conductor_conf() { echo "$NOVA_CONF_DIR/nova_cell$1.conf"; }
    write_user_unit_file() {
        record "write_user_unit_file $1 user=$4"
        printf 'ExecStart=%s\\nEnvironment=%s\\n' "$2" "$5" \\
            > "$SYSTEMD_DIR/$1"
    }
    systemctl() { record "systemctl $*"; }
    sudo() { record "sudo $*"; "$@"; }
''')


class DevstackPluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.work = self.useFixture(fixtures.TempDir()).path
        self.env = {
            'WORK': self.work,
            'CALLS': os.path.join(self.work, 'calls'),
            'DEST': os.path.join(self.work, 'opt-stack'),
            'DATA_DIR': os.path.join(self.work, 'data'),
            'NOVA_CONF_DIR': os.path.join(self.work, 'etc-nova'),
            'NOVA_BIN_DIR': os.path.join(self.work, 'bin'),
            'SYSTEMD_DIR': os.path.join(self.work, 'systemd'),
            'HOSTGUARD_DIR': REPO,
            'NOVA_NUM_CELLS': '1',
            'CELLSV2_SETUP': 'superconductor',
            'STACK_USER': 'stack',
            'SYSTEMCTL': 'sudo systemctl',
            'GLOBAL_VENV': 'True',
            'USE_VENV': 'False',
            'DEVSTACK_VENV': os.path.join(self.work, 'venv'),
            'ENABLED': 'nova-hostguard n-api n-cpu n-cond',
            'PATH': os.environ['PATH'],
        }
        conf_dir = self.env['NOVA_CONF_DIR']
        self.env['NOVA_CONF'] = os.path.join(conf_dir, 'nova.conf')
        self.env['NOVA_CPU_CONF'] = os.path.join(conf_dir, 'nova-cpu.conf')
        for d in ('NOVA_CONF_DIR', 'NOVA_BIN_DIR', 'SYSTEMD_DIR', 'DEST'):
            os.makedirs(self.env[d])
        with open(os.path.join(self.work, 'iniset.py'), 'w') as f:
            f.write(INISET)
        manage = os.path.join(self.env['NOVA_BIN_DIR'],
                              'nova-hostguard-manage')
        with open(manage, 'w') as f:
            f.write('#!/bin/bash\necho "nova-hostguard-manage $*" '
                    '>> "$CALLS"\n')
        os.chmod(manage, 0o755)
        for conf in ('nova.conf', 'nova_cell1.conf'):
            self.write_ini(os.path.join(conf_dir, conf), '[DEFAULT]\n')

    def write_ini(self, path, text):
        with open(path, 'w') as f:
            f.write(text)

    def ini(self, name):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read(os.path.join(self.env['NOVA_CONF_DIR'], name))
        return parser

    def stack(self, *phases, **settings):
        """Source settings, then plugin.sh for each (mode, phase)."""
        script = [STAND_INS, 'source "$HOSTGUARD_DIR/devstack/settings"']
        for phase in phases:
            script.append('source "$HOSTGUARD_DIR/devstack/plugin.sh" '
                          '%s' % phase)
        result = subprocess.run(
            ['bash', '-c', '\n'.join(script)], capture_output=True,
            text=True, env=dict(self.env, **settings), timeout=60)
        self.assertEqual(0, result.returncode, result.stderr)
        if not os.path.exists(self.env['CALLS']):
            return []
        with open(self.env['CALLS']) as f:
            return f.read().splitlines()

    def test_install_develops_the_package(self):
        calls = self.stack('stack install')
        self.assertIn('setup_develop %s' % REPO, calls)
        self.assertIn('define_plugin nova-hostguard', calls)
        self.assertIn('enable_service nova-hostguard', calls)

    def test_post_config_switches_the_guard_on_and_syncs_every_cell(self):
        calls = self.stack('stack post-config')
        for conf in ('nova.conf', 'nova_cell1.conf'):
            ini = self.ini(conf)
            self.assertEqual('hostguard', ini.get('DEFAULT', 'config_source'))
            self.assertEqual('hostguard', ini.get('hostguard', 'driver'))
        self.assertIn('nova-hostguard-manage --config-file %s db sync '
                      '--all-cells' % self.env['NOVA_CONF'], calls)
        self.assertFalse(self.ini('nova.conf').has_section('scheduler'))
        # stack.sh's configure_neutron_nova writes the same files in the
        # background: waited for before the first line is written.
        self.assertEqual(['define_plugin nova-hostguard',
                          'enable_service nova-hostguard',
                          'async_wait configure_neutron_nova'], calls[:3])

    def test_no_cell_conductor_here_no_cell_conductor_conf(self):
        # A compute-only subnode: nova_cellN.conf belongs to the
        # conductors on the controller and must not be written here.
        self.stack('stack post-config', ENABLED='nova-hostguard n-cpu')
        self.assertEqual('hostguard',
                         self.ini('nova.conf').get('DEFAULT', 'config_source'))
        self.assertEqual({}, dict(self.ini('nova_cell1.conf')['DEFAULT']))
        self.assertEqual(['DEFAULT'], list(self.ini('nova_cell1.conf')))

    def test_guard_off_leaves_nova_untouched(self):
        calls = self.stack('stack install', 'stack post-config',
                           'stack extra', HOSTGUARD_GUARD='False')
        self.assertIn('setup_develop %s' % REPO, calls)
        for conf in ('nova.conf', 'nova_cell1.conf'):
            self.assertEqual(['DEFAULT'], list(self.ini(conf).keys()))
            self.assertEqual({}, dict(self.ini(conf)['DEFAULT']))
        self.assertFalse([c for c in calls if 'nova-hostguard-manage' in c])

    def test_constraint_can_be_left_off_with_the_guard_on(self):
        calls = self.stack('stack post-config', HOSTGUARD_DB_SYNC='False')
        self.assertEqual('hostguard',
                         self.ini('nova.conf').get('DEFAULT', 'config_source'))
        self.assertFalse([c for c in calls if 'nova-hostguard-manage' in c])

    def test_single_conductor_and_no_api(self):
        calls = self.stack('stack post-config',
                           CELLSV2_SETUP='singleconductor',
                           ENABLED='nova-hostguard n-cpu')
        self.assertEqual('hostguard',
                         self.ini('nova.conf').get('DEFAULT', 'config_source'))
        self.assertEqual({}, dict(self.ini('nova_cell1.conf')['DEFAULT']))
        self.assertFalse([c for c in calls if 'nova-hostguard-manage' in c])

    def test_plugin_disabled_does_nothing(self):
        calls = self.stack('stack install', 'stack post-config',
                           ENABLED='n-api n-cpu')
        self.assertEqual(['define_plugin nova-hostguard',
                          'enable_service nova-hostguard'], calls)

    def test_reproduction_machines_are_prepared_stopped_and_removed(self):
        conf_dir = self.env['NOVA_CONF_DIR']
        self.write_ini(self.env['NOVA_CPU_CONF'],
                       '[DEFAULT]\ntransport_url = rabbit://x\n')
        calls = self.stack('stack post-config', 'stack extra',
                           HOSTGUARD_REPRODUCTION='True')
        self.assertEqual('2', self.ini('nova.conf').get(
            'scheduler', 'discover_hosts_in_cells_interval'))
        data = os.path.join(self.env['DATA_DIR'], 'nova-hostguard')
        for machine in ('primary', 'standby'):
            ini = self.ini('hostguard-%s.conf' % machine)
            self.assertEqual('rabbit://x', ini.get('DEFAULT',
                                                   'transport_url'))
            self.assertEqual(os.path.join(data, machine),
                             ini.get('DEFAULT', 'state_path'))
            self.assertEqual('fake.FakeDriverWithoutFakeNodes',
                             ini.get('DEFAULT', 'compute_driver'))
            self.assertTrue(os.path.isdir(os.path.join(data, machine)))
            unit = 'devstack@hostguard-%s.service' % machine
            self.assertIn('write_user_unit_file %s user=stack' % unit, calls)
            with open(os.path.join(self.env['SYSTEMD_DIR'], unit)) as f:
                text = f.read()
            self.assertIn('ExecStart=%s/bin/python3 %s/tests/harness/'
                          'processes/compute_launcher.py --config-file '
                          '%s/hostguard-%s.conf --config-file '
                          '%s/hostguard-%s-host.conf'
                          % (self.env['DEVSTACK_VENV'], REPO, conf_dir,
                             machine, conf_dir, machine), text)
            self.assertIn('Environment=HOSTGUARD_TEST_HYPERVISOR=hostguard-'
                          'hv1 HOSTGUARD_TEST_GUESTS=%s/guests.json' % data,
                          text)
        self.assertFalse([c for c in calls if c.startswith('systemctl')],
                         'the machines must not be started by devstack')

        calls = self.stack('unstack', 'clean')
        self.assertIn('sudo systemctl stop devstack@hostguard-primary.service',
                      calls)
        self.assertIn('sudo systemctl stop devstack@hostguard-standby.service',
                      calls)
        self.assertFalse(os.path.exists(data))
        self.assertEqual([], [f for f in os.listdir(self.env['SYSTEMD_DIR'])])
        self.assertFalse([f for f in os.listdir(conf_dir)
                          if f.startswith('hostguard-')])

    def test_no_reproduction_by_default(self):
        calls = self.stack('stack extra')
        self.assertFalse([c for c in calls if 'write_user_unit_file' in c])
        self.assertFalse(os.path.exists(
            os.path.join(self.env['DATA_DIR'], 'nova-hostguard')))
