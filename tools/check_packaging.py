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

"""Build nova-hostguard as a distribution would, and use what was built.

Usage: ``tox -e packaging`` (``python tools/check_packaging.py [--keep]``),
or, offline against the nova a distribution installed, ``python
tools/check_packaging.py --python /usr/bin/python3 [--source DIR]``
(below).

The other tox environments install the source tree in editable mode, which
hides every packaging mistake (a file left out of the wheel, a module that
only imports from the source tree). This check, in a temporary directory:

#. checks out the repository's ``HEAD`` (committed files only, tags
   included, so pbr sees what a release build sees) and refuses tracked
   files that ``.gitignore`` ignores;
#. builds the sdist, and the wheel from the sdist, with ``python -m build``
   and fails on any warning the build prints; ``twine check --strict``;
#. compares the sdist with the tracked files, and the wheel with the
   package's tracked files;
#. builds the wheel again from a ``git archive`` export, which has no git
   metadata, with ``PBR_VERSION`` (the tarball path of the release
   documentation), and requires the same files in it;
#. installs the wheel (not editable) and nova into a fresh virtual
   environment and, from a directory outside the source tree, builds a
   SQLite API database, cell0 and one cell with ``nova-manage``, then runs
   ``nova-hostguard-manage db version``, ``db sync``, ``audit`` and
   ``nova-hostguard-status upgrade check`` on them, with the guard
   switched on in ``nova.conf``, and ``oslo-config-generator --namespace
   nova_hostguard``.

Prints one line per step with its wall time; exits 1 at the first failure,
saying what failed.

``--python PYTHON`` is the packager's offline check: nothing comes from
the network and PYTHON's nova is the one used. In a temporary directory it

#. copies ``--source`` (default: this tree; a git checkout's ``HEAD`` as
   above, an unpacked sdist or a ``PBR_VERSION`` export as it is);
#. builds the wheel with PYTHON's own pip, pbr and setuptools (``pip
   wheel --no-deps --no-build-isolation --no-index``);
#. installs it with ``--no-deps --no-index`` into a virtual environment
   of PYTHON that sees PYTHON's packages (its nova and libraries), and
   there (``tools/check_packaging_installed.py``) checks that every entry
   point of setup.cfg is installed and loads, that the options are listed
   and ``oslo-config-generator --namespace nova_hostguard`` writes them,
   that nova parsing a ``nova.conf`` with ``config_source = hostguard``
   installs the guard, and that the console scripts start.

It exits 0 when all passed, 1 at the first failure and 3 (``NO_NOVA``),
with one line on stderr and nothing built, when PYTHON does not run or
cannot import nova.
"""

import argparse
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What the fresh environment installs next to the wheel.
NOVA = 'nova==34.0.0'

#: Warnings of pbr's own manifest template (include AUTHORS and ChangeLog,
#: exclude .gitignore, .gitreview and *.pyc), printed for any project when
#: a file is absent: this repository has no .gitreview, a clean checkout no
#: .pyc, and a build without git metadata no AUTHORS, ChangeLog or
#: .gitignore. Any other warning fails the check.
PBR_TEMPLATE_WARNINGS = (
    "warning: no files found matching 'AUTHORS'",
    "warning: no files found matching 'ChangeLog'",
    "warning: no previously-included files found matching '.gitignore'",
    "warning: no previously-included files found matching '.gitreview'",
    "warning: no previously-included files matching '*.pyc' found "
    "anywhere in distribution",
)

#: Files pbr and setuptools generate into the sdist.
SDIST_GENERATED = ('AUTHORS', 'ChangeLog', 'PKG-INFO')

#: Tracked files pbr's manifest template leaves out of the sdist.
SDIST_EXCLUDED = ('.gitignore',)

PACKAGE = 'nova_hostguard'


class Failed(Exception):
    """A step found a packaging problem; the message says which."""


def run(cmd, cwd=None, env=None, expect=(0,)):
    """Run ``cmd``, returning its output (stdout and stderr together)."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode not in expect:
        raise Failed('%s exited %d (expected %s):\n%s' % (
            ' '.join(cmd), proc.returncode,
            ' or '.join(str(e) for e in expect), proc.stdout))
    return proc.stdout


def build_env(**extra):
    """The environment of a build: byte-compiling on, as a packager's."""
    env = dict(os.environ, **extra)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    return env


def warnings_in(output):
    """The warning lines of a build's output, less pbr's template ones."""
    return [line for line in output.splitlines()
            if re.search('warning', line, re.IGNORECASE)
            and line.strip() not in PBR_TEMPLATE_WARNINGS]


def checkout(work, repo=REPO):
    """The repository's HEAD and tags in ``work/src``; no work tree edits."""
    head = run(['git', '-C', repo, 'rev-parse', 'HEAD']).strip()
    if run(['git', '-C', repo, 'status', '--porcelain',
            '--untracked-files=no']).strip():
        print('packaging: the work tree has uncommitted changes; they are '
              'not checked (only HEAD, %s, is)' % head[:12])
    src = os.path.join(work, 'src')
    run(['git', 'init', '--quiet', src])
    run(['git', '-C', src, 'fetch', '--quiet', '--tags', repo, head])
    run(['git', '-C', src, 'checkout', '--quiet', '--detach', head])
    ignored = run(['git', '-C', src, 'ls-files', '--cached', '--ignored',
                   '--exclude-standard']).split()
    if ignored:
        raise Failed('tracked files that .gitignore ignores (they would '
                     'be in the sdist): %s' % ', '.join(ignored))
    return src, head


def build(src, outdir, *args, env=None):
    """``python -m build``; fails on a warning.

    :returns: the paths of the built files, the sdist (if any) first.
    """
    output = run([sys.executable, '-m', 'build', '--outdir', outdir]
                 + list(args) + [src], env=env or build_env())
    found = warnings_in(output)
    if found:
        raise Failed('the build printed warnings:\n%s\n\nfull output:\n%s'
                     % ('\n'.join(found), output))
    return sorted((os.path.join(outdir, f) for f in os.listdir(outdir)),
                  key=lambda f: (not f.endswith('.tar.gz'), f))


def twine_check(paths):
    output = run([sys.executable, '-m', 'twine', 'check', '--strict']
                 + paths)
    if warnings_in(output):
        raise Failed('twine check printed warnings:\n%s' % output)


def sdist_files(path):
    with tarfile.open(path) as tar:
        return {m.name.split('/', 1)[1] for m in tar.getmembers()
                if m.isfile() and '/' in m.name}


def wheel_files(path):
    """The wheel's files outside its ``.dist-info``."""
    with zipfile.ZipFile(path) as whl:
        return {n for n in whl.namelist()
                if not n.split('/')[0].endswith('.dist-info')}


def compare_contents(src, sdist, wheel):
    tracked = set(run(['git', '-C', src, 'ls-files']).split())
    files = sdist_files(sdist)
    missing = tracked - set(SDIST_EXCLUDED) - files
    extra = {f for f in files - tracked
             if f not in SDIST_GENERATED and '.egg-info/' not in f}
    if missing or extra:
        raise Failed('the sdist differs from the tracked files: missing %s, '
                     'not tracked %s' % (sorted(missing), sorted(extra)))
    in_package = {f for f in tracked if f.startswith(PACKAGE + '/')}
    shipped = wheel_files(wheel)
    if shipped != in_package:
        raise Failed('the wheel differs from the package\'s tracked files: '
                     'missing %s, not tracked %s' % (
                         sorted(in_package - shipped),
                         sorted(shipped - in_package)))


def version_of(wheel):
    """The version in a wheel's file name (``name-version-...whl``)."""
    return os.path.basename(wheel).split('-')[1]


def archive_build(work, head, wheel):
    """The tarball path: no git metadata, the version from PBR_VERSION."""
    export = os.path.join(work, 'archive')
    os.mkdir(export)
    archive = os.path.join(work, 'archive.tar')
    run(['git', '-C', REPO, 'archive', '--format=tar', '--output', archive,
         head])
    with tarfile.open(archive) as tar:
        tar.extractall(export, filter='data')
    version = version_of(wheel)
    outdir = os.path.join(work, 'archive-dist')
    built = build(export, outdir, '--wheel',
                  env=build_env(PBR_VERSION=version))
    if version_of(built[0]) != version:
        raise Failed('PBR_VERSION=%s built version %s' % (
            version, version_of(built[0])))
    if wheel_files(built[0]) != wheel_files(wheel):
        raise Failed('the wheel built without git metadata differs: '
                     'missing %s, extra %s' % (
                         sorted(wheel_files(wheel) - wheel_files(built[0])),
                         sorted(wheel_files(built[0]) - wheel_files(wheel))))
    return version


def install(work, wheel):
    """A fresh virtual environment with the wheel and nova; its bin dir."""
    venv = os.path.join(work, 'venv')
    run([sys.executable, '-m', 'venv', venv])
    bindir = os.path.join(venv, 'bin')
    run([os.path.join(bindir, 'pip'), 'install', '--quiet', wheel, NOVA])
    where = run([os.path.join(bindir, 'python'), '-c',
                 'import nova_hostguard; print(nova_hostguard.__file__)'],
                cwd=work).strip()
    if not where.startswith(venv + os.sep):
        raise Failed('nova_hostguard imports from %s, not from the fresh '
                     'environment' % where)
    # The switch nova.conf names: oslo.config finds the driver by this
    # entry point in every nova process.
    run([os.path.join(bindir, 'python'), '-c',
         'from importlib import metadata; '
         '(ep,) = metadata.entry_points(group="oslo.config.driver", '
         'name="hostguard"); ep.load()'], cwd=work)
    return bindir


NOVA_CONF = """\
[DEFAULT]
config_source = hostguard
transport_url = rabbit://guest:guest@127.0.0.1:5672/
state_path = {run}

[hostguard]
driver = hostguard

[api_database]
connection = sqlite:///{run}/api.db

[database]
connection = sqlite:///{run}/cell1.db
"""


class Commands(object):
    """The installed commands, run from ``work/run`` with its nova.conf."""

    def __init__(self, work, bindir):
        self.cwd = os.path.join(work, 'run')
        os.mkdir(self.cwd)
        self.conf = os.path.join(self.cwd, 'nova.conf')
        with open(self.conf, 'w') as f:
            f.write(NOVA_CONF.format(run=self.cwd))
        self.bindir = bindir
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
        self.env['PATH'] = bindir + os.pathsep + os.environ['PATH']

    def __call__(self, command, *args, expect=(0,), conf=True):
        cmd = [os.path.join(self.bindir, command)]
        if conf:
            cmd += ['--config-file', self.conf]
        return run(cmd + list(args), cwd=self.cwd, env=self.env,
                   expect=expect)


def indent(text):
    return ''.join('    ' + line for line in text.splitlines(True))


def expect_in(output, *texts):
    for text in texts:
        if text not in output:
            raise Failed('expected %r in:\n%s' % (text, output))


def use(cmd, head_revision):
    """nova's schema by nova-manage, then every operator command on it."""
    cmd('nova-manage', 'api_db', 'sync')
    cmd('nova-manage', 'cell_v2', 'map_cell0', '--database_connection',
        'sqlite:///%s/cell0.db' % cmd.cwd)
    cmd('nova-manage', 'cell_v2', 'create_cell', '--name', 'cell1')
    cmd('nova-manage', 'db', 'sync')
    before = cmd('nova-hostguard-manage', 'db', 'version', '--all-cells')
    if before.count('not applied') != 2:
        raise Failed('expected two cells, neither applied:\n%s' % before)
    cmd('nova-hostguard-manage', 'db', 'sync', '--all-cells')
    after = cmd('nova-hostguard-manage', 'db', 'version', '--all-cells')
    if after.count(head_revision) != 2 or 'not applied' in after:
        raise Failed('expected both cells at %s:\n%s' % (
            head_revision, after))
    print(indent(after), end='')
    cmd('nova-hostguard-manage', 'audit', '--all-cells')
    # Exit status 0: every check succeeded (1 would be a warning).
    expect_in(cmd('nova-hostguard-status', 'upgrade', 'check'),
              'Result: Success')
    sample = cmd('oslo-config-generator', '--namespace', 'nova_hostguard',
                 conf=False)
    expect_in(sample, '[hostguard]', '#mode = enforce')


def head_revision(src):
    """The newest migration, read from the checkout (not imported)."""
    versions = os.path.join(src, PACKAGE, 'db', 'migrations', 'versions')
    heads = {f.split('_')[0] for f in os.listdir(versions)
             if f.endswith('.py') and f != '__init__.py'}
    revised = set()
    for name in os.listdir(versions):
        with open(os.path.join(versions, name)) as f:
            revised.update(re.findall(
                r"^down_revision = '(\w+)'", f.read(), re.MULTILINE))
    (head,) = heads - revised
    return head


#: Exit status of ``--python`` when that Python cannot import nova.
NO_NOVA = 3

#: What runs inside the installed nova's Python (``--python``).
INSTALLED_CHECK = os.path.join(REPO, 'tools', 'check_packaging_installed.py')

#: Prints PYTHON's nova version and the directories it imports from.
PROBE = (
    'import json, os, sys; from importlib import metadata; import nova; '
    'print(json.dumps([metadata.version("nova"), '
    '[p for p in sys.path if p and os.path.isdir(p)]]))')


class NoNova(Exception):
    """The Python given cannot run the check: no nova there."""


def probe(python, cwd):
    """PYTHON's nova version and import path; NoNova without nova."""
    try:
        proc = subprocess.run([python, '-c', PROBE], cwd=cwd,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True)
    except OSError as e:
        raise NoNova('%s does not run: %s' % (python, e))
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        raise NoNova('%s cannot import nova (%s); the offline check uses '
                     'the nova installed for that Python' % (python, last))
    return json.loads(proc.stdout)


def declared_entry_points(src):
    """``group=name`` of every entry point setup.cfg declares."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(src, 'setup.cfg'))
    return sorted(
        '%s=%s' % (group, line.split('=', 1)[0].strip())
        for group, value in cfg.items('entry_points')
        for line in value.splitlines() if line.strip())


def offline_source(work, source):
    """A copy of ``source`` in ``work/src`` to build from."""
    if os.path.exists(os.path.join(source, '.git')):
        src, head = checkout(work, source)
        return src, 'HEAD %s of %s' % (head[:12], source)
    src = os.path.join(work, 'src')
    shutil.copytree(source, src, symlinks=True, ignore=shutil.ignore_patterns(
        '.tox', 'build', 'dist', '__pycache__'))
    return src, source


def offline_build(python, src, work):
    """The wheel, built by PYTHON's pip, pbr and setuptools, offline."""
    outdir = os.path.join(work, 'dist')
    try:
        run([python, '-m', 'pip', 'wheel', '--quiet', '--no-deps',
             '--no-build-isolation', '--no-index', '--wheel-dir', outdir,
             src], cwd=work, env=build_env())
    except Failed as e:
        raise Failed('building the wheel needs pip, pbr and setuptools '
                     '(and wheel, with setuptools older than 70.1) in %s; '
                     '%s' % (python, e))
    (wheel,) = os.listdir(outdir)
    return os.path.join(outdir, wheel)


def offline_install(python, wheel, work, path):
    """A virtual environment of PYTHON holding the wheel; its python.

    It sees PYTHON's import path (nova, its libraries, pip) after its own
    site-packages, through a ``.pth`` file: ``--system-site-packages``
    would miss them when PYTHON is itself a virtual environment.
    """
    venv = os.path.join(work, 'venv')
    run([python, '-m', 'venv', '--without-pip', venv], cwd=work)
    venv_python = os.path.join(venv, 'bin', 'python')
    own = json.loads(run([venv_python, '-I', '-c',
                          'import json, sys; print(json.dumps(sys.path))'],
                         cwd=work))
    # The first: Fedora's venvs list lib64/ (a link to lib/) and lib/.
    site_packages = [
        p for p in own if p.endswith('-packages') and os.path.realpath(
            p).startswith(os.path.realpath(venv) + os.sep)][0]
    with open(os.path.join(site_packages, 'zz-nova.pth'), 'w') as f:
        for directory in path:
            if directory not in own:
                f.write('import site; site.addsitedir(%r)\n' % directory)
    run([venv_python, '-m', 'pip', 'install', '--quiet', '--no-deps',
         '--no-index', '--ignore-installed', wheel], cwd=work)
    return venv_python


def offline(args, work, step):
    """``--python``: build and use the wheel with PYTHON's nova, offline."""
    nova, path = probe(args.python, work)
    step('%s has nova %s' % (args.python, nova))
    src, what = offline_source(work, os.path.abspath(args.source))
    wheel = offline_build(args.python, src, work)
    step('built %s from %s with %s, offline' % (
        os.path.basename(wheel), what, args.python))
    venv_python = offline_install(args.python, wheel, work, path)
    step('installed it into %s, which sees %s\'s packages' % (
        os.path.dirname(os.path.dirname(venv_python)), args.python))
    checks = os.path.join(work, os.path.basename(INSTALLED_CHECK))
    shutil.copy(INSTALLED_CHECK, checks)
    run_dir = os.path.join(work, 'run')
    os.mkdir(run_dir)
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')}
    proc = subprocess.run([venv_python, checks, run_dir]
                          + declared_entry_points(src), cwd=run_dir,
                          env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    print(proc.stdout, end='')
    if proc.returncode:
        raise Failed('the installed wheel, in %s\'s nova: %s' % (
            args.python,
            proc.stderr.strip().replace('packaging: FAILED: ', '')))
    step('the installed wheel works in that nova')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--keep', action='store_true',
                        help='keep the temporary directory, and say where')
    parser.add_argument('--python', metavar='PYTHON',
                        help='offline: build with, install into a virtual '
                             'environment of, and check against the nova '
                             'of this Python (exit status %d if it has no '
                             'nova)' % NO_NOVA)
    parser.add_argument('--source', metavar='DIR', default=REPO,
                        help='with --python: the tree to build (a git '
                             'checkout, whose HEAD is built, an unpacked '
                             'sdist, or a PBR_VERSION export); default %s'
                             % REPO)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='hostguard-packaging-')
    started = time.monotonic()
    step_started = [started]

    def step(text):
        now = time.monotonic()
        print('packaging: %s (%.1fs)' % (text, now - step_started[0]),
              flush=True)
        step_started[0] = now

    try:
        if args.python:
            offline(args, work, step)
            return report(started)
        src, head = checkout(work)
        step('checked out %s, no ignored file tracked' % head[:12])
        sdist, wheel = build(src, os.path.join(work, 'dist'))
        step('built %s and %s without warnings' % (
            os.path.basename(sdist), os.path.basename(wheel)))
        twine_check([sdist, wheel])
        step('twine check --strict passed')
        compare_contents(src, sdist, wheel)
        step('the sdist holds the tracked files, the wheel the package\'s')
        version = archive_build(work, head, wheel)
        step('git archive with PBR_VERSION=%s built the same wheel' %
             version)
        bindir = install(work, wheel)
        step('installed the wheel and %s into a fresh environment' % NOVA)
        use(Commands(work, bindir), head_revision(src))
        step('nova-manage, nova-hostguard-manage db version/sync, audit, '
             'nova-hostguard-status upgrade check, oslo-config-generator '
             'ran from %s' % os.path.join(work, 'run'))
    except NoNova as e:
        print('packaging: FAILED: %s' % e, file=sys.stderr)
        return NO_NOVA
    except Failed as e:
        print('packaging: FAILED: %s' % e, file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print('packaging: kept %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return report(started)


def report(started):
    print('packaging: passed in %.1fs' % (time.monotonic() - started))
    return 0


if __name__ == '__main__':
    sys.exit(main())
