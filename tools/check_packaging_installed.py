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

"""Use an installed nova-hostguard inside the Python of an installed nova.

Run by ``tools/check_packaging.py --python PYTHON`` with the Python of a
virtual environment that holds the freshly built wheel and sees PYTHON's
packages (nova among them); not meant to be run by hand. It runs in nova's
Python, so it is written for Python 3.9 and for nova 29 to 34 alike
(tests/tooling/test_python_support.py compiles it with 3.9).

Usage: ``check_packaging_installed.py WORKDIR GROUP=NAME...``: the entry
points setup.cfg declares. Checks, printing one line each:

#. ``nova_hostguard`` and its distribution's metadata come from this
   environment (the wheel), not from a source tree or another install;
#. every declared entry point is in the installed metadata and loads;
#. the ``oslo.config.opts`` entry point lists the ``[hostguard]``
   options, and ``oslo-config-generator --namespace nova_hostguard``
   (oslo.config's generator, which finds it through stevedore) writes
   them;
#. nova parses a ``nova.conf`` with ``config_source = hostguard`` and the
   guard is installed into that nova (its ``ComputeNode`` registered);
#. each console script starts (``--help``).

Exits 1 at the first failure, with one line on stderr saying what failed.
"""

from importlib import metadata
import os
import subprocess
import sys

NOVA_CONF = """\
[DEFAULT]
config_source = hostguard
state_path = {work}

[hostguard]
driver = hostguard
"""


class Failed(Exception):
    pass


def ours(path):
    """Whether ``path`` is inside this (virtual) environment."""
    return os.path.realpath(path).startswith(
        os.path.realpath(sys.prefix) + os.sep)


def check_origin():
    import nova_hostguard
    if not ours(nova_hostguard.__file__):
        raise Failed('nova_hostguard imports from %s, not from the '
                     'installed wheel in %s' % (nova_hostguard.__file__,
                                                sys.prefix))
    dist = metadata.distribution('nova-hostguard')
    where = str(dist.locate_file(''))
    if not ours(os.path.join(where, 'x')):
        raise Failed('the nova-hostguard metadata found first is in %s, not '
                     'in %s' % (where, sys.prefix))
    return dist


def check_entry_points(dist, expected):
    declared = {'%s=%s' % (ep.group, ep.name): ep for ep in dist.entry_points}
    missing = sorted(set(expected) - set(declared))
    if missing:
        raise Failed('entry points missing from the installed metadata: %s'
                     % ', '.join(missing))
    loaded = {}
    for key in sorted(expected):
        try:
            loaded[key] = declared[key].load()
        except Exception as e:
            raise Failed('entry point %s (%s) does not load: %s: %s' % (
                key, declared[key].value, type(e).__name__, e))
    return loaded


def check_options(list_opts, work):
    groups = dict(list_opts())
    names = sorted(opt.name for opt in groups.get('hostguard', ()))
    if 'mode' not in names:
        raise Failed('oslo.config.opts nova_hostguard lists no [hostguard] '
                     'mode option: %s' % groups)
    sample = os.path.join(work, 'nova-hostguard.conf.sample')
    # What oslo-config-generator runs, less its main(), which on Python
    # 3.9 fails to find a wheel-installed oslo.config's version by name.
    from oslo_config import cfg
    from oslo_config import generator
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--namespace', 'nova_hostguard', '--output-file', sample])
    generator.generate(conf)
    with open(sample) as f:
        text = f.read()
    for expected in ['[hostguard]'] + ['#%s = ' % n for n in names]:
        if expected not in text:
            raise Failed('oslo-config-generator --namespace nova_hostguard '
                         'wrote no %r' % expected)
    return names


def check_guard_installs(work):
    conf = os.path.join(work, 'nova.conf')
    with open(conf, 'w') as f:
        f.write(NOVA_CONF.format(work=work))
    from nova import config
    from nova import objects
    objects.register_all()
    config.parse_args(['nova-hostguard-check', '--config-file', conf],
                      configure_db=False, init_rpc=False)
    from nova_hostguard import install
    if not install.is_installed():
        raise Failed('nova parsed %s (config_source = hostguard) but the '
                     'guard is not installed' % conf)


def check_console_scripts(names):
    bindir = os.path.dirname(sys.executable)
    for name in names:
        path = os.path.join(bindir, name)
        proc = subprocess.run([path, '--help'], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              universal_newlines=True)
        if proc.returncode or 'usage:' not in proc.stdout:
            raise Failed('%s --help exited %d: %s' % (
                path, proc.returncode, proc.stdout.strip()[-500:]))


def main(argv):
    work, expected = argv[1], argv[2:]
    try:
        dist = check_origin()
        print('packaging: nova-hostguard %s imports from %s; nova %s' % (
            dist.version, sys.prefix, metadata.version('nova')))
        loaded = check_entry_points(dist, expected)
        print('packaging: entry points load: %s' % ', '.join(
            sorted(expected)))
        names = check_options(loaded['oslo.config.opts=nova_hostguard'],
                              work)
        print('packaging: oslo.config.opts and oslo-config-generator list '
              '[hostguard] %s' % ', '.join(names))
        check_guard_installs(work)
        print('packaging: config_source = hostguard installs the guard '
              'into nova')
        scripts = sorted(key.split('=', 1)[1] for key in expected
                         if key.startswith('console_scripts='))
        check_console_scripts(scripts)
        print('packaging: %s --help start' % ', '.join(scripts))
    except Failed as e:
        print('packaging: FAILED: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
