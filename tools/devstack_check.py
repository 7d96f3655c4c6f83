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

"""Check the devstack plugin against a real devstack checkout.

A stand-in for devstack written by this project cannot show what devstack
really does to the plugin: here a copy of a real devstack tree runs the
plugin's phases with its own functions, in stack.sh's order
(``tools/devstack-check.sh`` says which steps and which stand-ins). For
each variant it runs the configuration steps once serially (the
reference) and ROUNDS times with stack.sh's background
``configure_neutron_nova``, and fails if any round's nova.conf,
nova_cellN.conf or nova-cpu.conf differs from the reference (a line lost
to the race) or the reference lacks what the variant must configure.

Usage::

    tox -e devstack-plugin -- /path/to/devstack [--rounds N]
        [--variant NAME ...] [--control]

``--control`` runs the same rounds with a copy of the plugin whose
``async_wait configure_neutron_nova`` is removed, and fails unless some
round loses a line: it shows the check can fail. Exit status: 0 all
checks held, 1 a check failed, 2 bad usage.
"""

import argparse
import configparser
import getpass
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(REPO, 'tools', 'devstack-check.sh')
WAIT_LINE = 'async_wait configure_neutron_nova'

LOCALRC = '''[[local|localrc]]
DEST={dest}
DATA_DIR={dest}/data
LOGDIR={dest}/logs
STACK_USER={user}
HOST_IP=127.0.0.1
SERVICE_HOST=127.0.0.1
ADMIN_PASSWORD=secretadmin
DATABASE_PASSWORD=secretdatabase
RABBIT_PASSWORD=secretrabbit
SERVICE_PASSWORD=secretservice
USER_UNITS=True
VIRT_DRIVER=fake
DEVSTACK_PARALLEL={parallel}
disable_service tempest
enable_plugin nova-hostguard {plugin}
{settings}
'''

VARIANTS = {
    'guarded': '',
    'unguarded': 'HOSTGUARD_GUARD=False',
    'singleconductor': 'CELLSV2_SETUP=singleconductor',
    # A multinode job's subnode: nova-compute only, the database and the
    # message bus on the controller.
    'subnode': ('disable_all_services\n'
                'enable_service n-cpu placement-client ovn-controller '
                'q-ovn-agent\n'
                'DATABASE_TYPE=mysql\nSERVICE_HOST=127.0.0.2'),
    'reproduction': 'HOSTGUARD_REPRODUCTION=True',
}

CONFS = ('nova.conf', 'nova_cell1.conf', 'nova-cpu.conf')


class CheckFailed(Exception):
    pass


def read_ini(path):
    """Options by section; the DEFAULT section kept apart, as written."""
    if not os.path.exists(path):
        return None
    parser = configparser.RawConfigParser(strict=False,
                                          default_section='\0none')
    parser.optionxform = str
    parser.read(path)
    return {section: dict(parser.items(section))
            for section in parser.sections()}


def read_confs(directory):
    return {name: read_ini(os.path.join(directory, name)) for name in CONFS}


def lost_lines(reference, actual):
    """(file, section, option) of the reference missing or changed."""
    lost = []
    for name, sections in reference.items():
        for section, options in (sections or {}).items():
            for option, value in options.items():
                got = ((actual.get(name) or {}).get(section) or {}).get(
                    option)
                if got != value:
                    lost.append('%s [%s] %s' % (name, section, option))
    return lost


class Run:
    """One variant: a devstack copy, a local.conf and the driver's output."""

    def __init__(self, devstack, workdir, variant, plugin, parallel,
                 rounds):
        self.variant = variant
        self.top = os.path.join(workdir, 'devstack')
        self.out = os.path.join(workdir, 'out')
        self.dest = os.path.join(self.out, 'opt-stack')
        self.rounds = rounds
        shutil.copytree(devstack, self.top, symlinks=True,
                        ignore=shutil.ignore_patterns('.git'))
        self._move_etc_nova()
        os.makedirs(self.dest)
        os.symlink(plugin, os.path.join(self.dest, 'nova-hostguard'))
        with open(os.path.join(self.top, 'local.conf'), 'w') as f:
            f.write(LOCALRC.format(
                dest=self.dest, user=getpass.getuser(), parallel=parallel,
                plugin='file://' + plugin, settings=VARIANTS[variant]))
        venv = os.path.join(self.dest, 'data', 'venv', 'bin')
        self._stand_in_command(venv, 'nova-hostguard-manage')
        self._stand_in_command(venv, 'python3', where=True)

    def _move_etc_nova(self):
        """lib/nova hard-codes /etc/nova: the copy's only edit."""
        lib = os.path.join(self.top, 'lib', 'nova')
        with open(lib) as f:
            text = f.read()
        line = 'NOVA_CONF_DIR=/etc/nova\n'
        if text.count(line) != 1:
            raise CheckFailed('%s: no %r line to move under the work '
                              'directory' % (lib, line.strip()))
        with open(lib, 'w') as f:
            f.write(text.replace(line, 'NOVA_CONF_DIR=%s\n' % os.path.join(
                self.out, 'etc', 'nova')))

    def _stand_in_command(self, directory, name, where=False):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name)
        with open(path, 'w') as f:
            f.write('#!/bin/bash\necho "%s $*%s" >> %s\n'
                    % (name, ' (in $PWD)' if where else '',
                       os.path.join(self.out, 'calls')))
        os.chmod(path, 0o755)

    def run(self):
        env = dict(os.environ, HOME=os.path.join(self.out, 'home'))
        os.makedirs(env['HOME'])
        result = subprocess.run(
            ['bash', DRIVER, self.top, self.out, str(self.rounds)],
            capture_output=True, text=True, env=env, timeout=3600)
        if result.returncode:
            raise CheckFailed('%s: devstack-check.sh exited %s:\n%s' % (
                self.variant, result.returncode, result.stderr[-4000:]))
        return self

    def confs(self, name, relative=False):
        """The round's files; relative: this run's paths as $OUT."""
        confs = read_confs(os.path.join(self.out, name))
        if relative:
            for sections in filter(None, confs.values()):
                for options in sections.values():
                    for key, value in options.items():
                        options[key] = value.replace(self.out, '$OUT')
        return confs

    def calls(self):
        path = os.path.join(self.out, 'calls')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def path(self, *parts):
        return os.path.join(self.out, *parts)


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def option(confs, name, section, key):
    return ((confs.get(name) or {}).get(section) or {}).get(key)


def check_reference(run):
    """What each variant must leave, read from the serial run."""
    confs = run.confs('started')
    variant = run.variant
    guarded = variant != 'unguarded'
    expect(any('pip_install' in c and '-e' in c and
               c.endswith('/nova-hostguard') for c in run.calls()),
           '%s: the stack install phase did not pip install -e the plugin '
           'through setup_develop' % variant)
    switched = ['nova.conf', 'nova-cpu.conf']
    if variant in ('guarded', 'reproduction', 'unguarded'):
        switched.append('nova_cell1.conf')
    for name in switched:
        for section, key in (('DEFAULT', 'config_source'),
                             ('hostguard', 'driver')):
            value = option(confs, name, section, key)
            expect(value == ('hostguard' if guarded else None),
                   '%s: %s [%s] %s is %r' % (variant, name, section, key,
                                             value))
    expect(option(confs, 'nova.conf', 'neutron', 'region_name'),
           '%s: configure_neutron_nova wrote nothing to nova.conf' % variant)
    syncs = [c for c in run.calls() if c.startswith('nova-hostguard-manage')]
    if variant in ('singleconductor', 'subnode'):
        # No cell conductor reads nova_cell1.conf here (devstack's own
        # configure_neutron_nova still writes one on a subnode).
        expect(option(confs, 'nova_cell1.conf', 'hostguard', 'driver') is
               None, '%s: nova_cell1.conf, which no service reads here, was '
               'switched on' % variant)
    if variant == 'subnode':
        expect(not syncs, 'subnode: db sync ran where n-api does not run')
    elif guarded:
        expect(syncs == ['nova-hostguard-manage --config-file %s db sync '
                         '--all-cells' % run.path('etc', 'nova',
                                                  'nova.conf')],
               '%s: db sync calls %r' % (variant, syncs))
    else:
        expect(not syncs, 'unguarded: db sync ran')
    if variant == 'reproduction':
        check_reproduction(run, confs)


def check_reproduction(run, confs):
    expect(option(confs, 'nova.conf', 'scheduler',
                  'discover_hosts_in_cells_interval') == '2',
           'reproduction: hosts are not discovered')
    story = ('python3 -m tests.harness.reproduction.run --cloud devstack '
             '--conf-dir %s --data-dir %s --systemctl systemctl --user '
             '--expect refusal (in %s)' % (
                 run.path('etc', 'nova'),
                 os.path.join(run.dest, 'data', 'nova-hostguard'),
                 os.path.join(run.dest, 'nova-hostguard')))
    expect(story in run.calls(),
           'reproduction: devstack/reproduce.sh did not run the story with '
           "devstack's settings; calls: %s" % [
               c for c in run.calls() if c.startswith('python3')])
    units = os.path.join(run.out, 'home', '.local', 'share', 'systemd',
                         'user')
    python = os.path.join(run.dest, 'data', 'venv', 'bin', 'python3')
    calls = run.calls()
    for machine in ('primary', 'standby'):
        unit = 'devstack@hostguard-%s.service' % machine
        written = read_ini(os.path.join(run.out, 'after-extra-units', unit))
        expect(written, 'reproduction: %s was not written' % unit)
        expect(written['Service']['ExecStart'].startswith(python + ' '),
               'reproduction: %s runs %s, not the global venv python'
               % (unit, written['Service']['ExecStart']))
        conf = read_ini(run.path('after-extra', 'hostguard-%s.conf'
                                 % machine))
        expect(conf['DEFAULT']['compute_driver'] ==
               'fake.FakeDriverWithoutFakeNodes' and
               conf['hostguard']['driver'] == 'hostguard',
               'reproduction: hostguard-%s.conf is not a guarded copy of '
               'nova-cpu.conf' % machine)
        expect('systemctl --user stop %s' % unit in calls,
               'reproduction: unstack did not stop %s with $SYSTEMCTL'
               % unit)
        expect(not os.path.exists(os.path.join(units, unit)),
               'reproduction: clean left %s' % unit)
        expect(not os.path.exists(run.path('etc', 'nova', 'hostguard-%s.conf'
                                           % machine)),
               'reproduction: clean left hostguard-%s.conf' % machine)


def check_variant(devstack, variant, rounds, plugin, say, keep=None):
    if keep:
        work = tempfile.mkdtemp(prefix=variant + '-', dir=keep)
        say('%s: work directory kept: %s' % (variant, work))
        return _check_variant(devstack, variant, rounds, plugin, say, work)
    with tempfile.TemporaryDirectory(prefix='hostguard-devstack-') as work:
        return _check_variant(devstack, variant, rounds, plugin, say, work)


def _check_variant(devstack, variant, rounds, plugin, say, work):
    reference = Run(devstack, os.path.join(work, 'serial'), variant,
                    plugin, 'False', 1).run()
    if plugin == REPO:
        check_reference(reference)
    raced = Run(devstack, os.path.join(work, 'parallel'), variant,
                plugin, 'True', rounds).run()
    expected = reference.confs('round-1', relative=True)
    losses = {}
    for n in range(1, rounds + 1):
        lost = lost_lines(expected, raced.confs('round-%d' % n,
                                                relative=True))
        if lost:
            losses[n] = lost
    started = lost_lines(reference.confs('started', relative=True),
                         raced.confs('started', relative=True))
    if started:
        losses['after start_nova_compute'] = started
    say('%s: %d of %d rounds lost a line%s' % (
        variant, len(losses), rounds,
        ''.join('\n  round %s: %s' % (n, ', '.join(lost))
                for n, lost in losses.items())))
    return len(losses)


def plugin_without_wait(workdir):
    """A copy of this repository without the plugin's async_wait."""
    copy = os.path.join(workdir, 'nova-hostguard')
    shutil.copytree(REPO, copy, symlinks=True, ignore=shutil.ignore_patterns(
        '.git', '.tox', '.ci', '*.egg-info', 'build', 'doc'))
    lib = os.path.join(copy, 'devstack', 'lib', 'nova-hostguard')
    with open(lib) as f:
        lines = f.readlines()
    kept = [line for line in lines if line.strip() != WAIT_LINE]
    if len(kept) != len(lines) - 1:
        raise CheckFailed('control: %r is not in %s once' % (WAIT_LINE, lib))
    with open(lib, 'w') as f:
        f.writelines(kept)
    return copy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('devstack', help='a devstack checkout')
    parser.add_argument('--rounds', type=int, default=100)
    parser.add_argument('--variant', action='append', choices=VARIANTS)
    parser.add_argument('--control', action='store_true')
    parser.add_argument('--keep', metavar='DIR',
                        help='keep each run\'s work directory under DIR')
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.devstack, 'stackrc')):
        parser.exit(2, 'devstack_check: %s is not a devstack checkout (no '
                       'stackrc)\n' % args.devstack)
    devstack = os.path.abspath(args.devstack)
    variants = args.variant or list(VARIANTS)
    say = print
    try:
        if args.control:
            with tempfile.TemporaryDirectory() as work:
                plugin = plugin_without_wait(work)
                lost = sum(check_variant(devstack, v, args.rounds, plugin,
                                         say, args.keep) for v in variants)
            expect(lost, 'control: no round lost a line without the '
                         'async_wait; the race check cannot fail')
            say('control: the check fails without the async_wait, as it '
                'must')
        else:
            lost = sum(check_variant(devstack, v, args.rounds, REPO, say,
                                     args.keep) for v in variants)
            expect(not lost, '%d rounds lost lines' % lost)
            say('devstack check passed: %s, %d rounds each, 0 lines lost'
                % (', '.join(variants), args.rounds))
    except CheckFailed as e:
        print('devstack check FAILED: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
