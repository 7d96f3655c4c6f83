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

"""The Pythons setup.cfg claims are the Pythons the claimed releases run on.

nova 2024.1 and 2025.1 run on Python 3.9 in distributions (RDO on CentOS
Stream 9); the test environments here run a newer Python. What this
checks, in about a second, without nova on Python 3.9:

* setup.cfg's ``python_requires`` admits 3.9 and its classifiers name
  every minor version from 3.9 to the newest the installed nova names;
* every module of ``nova_hostguard`` and the packaging check a packager
  runs with the distribution's Python compile with a real Python 3.9
  interpreter (its grammar, not ``ast.parse(feature_version=...)``, which
  accepts some 3.10 syntax); no ``.pyc`` is written;
* the same files use none of a short list of 3.10+ library and language
  features that 3.9 parses but fails on when the code runs (``X | Y``
  annotations evaluated at runtime, ``zip(strict=)``, ``dataclass(slots=)``,
  ``entry_points(group=)``, ``datetime.UTC``, ...: ``PY310_NAMES`` and
  ``Py310Usage``);
* 2024.1's and 2025.1's upper-constraints, evaluated for Python 3.9 (their
  ``python_version`` markers), pin every requirement of requirements.txt
  and of setup.cfg's extras at a version our lower bound admits.

Limits: nothing here runs the code on 3.9. A changed behaviour (for
example ``datetime.fromisoformat`` accepting ``Z`` only from 3.11), a
3.10+ API missing from the list, or a library API newer than the release
pins is not caught; ``tools/check_packaging.py --python`` run with a
Python 3.9 that has nova 29 or 31 (doc/source/contributor/releases.rst)
is the check that runs it.

Python 3.9 is ``$HOSTGUARD_PYTHON39``, else a ``python3.9`` on ``PATH``
that runs, else pyenv's newest 3.9. Without one the test fails, saying so.
"""

import ast
import configparser
import glob
from importlib import metadata
import json
import os
import re
import subprocess
import tempfile
import textwrap

from packaging import markers
from packaging import requirements
from packaging import specifiers
from packaging import utils as packaging_utils
import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

#: Claimed releases whose distributions run them on Python 3.9 (RDO on
#: CentOS Stream 9): nova 29 requires Python >= 3.8, nova 31 >= 3.9. 2024.1
#: also names 3.8 in its markers, but no distribution runs it there and
#: 3.8 is end of life: 3.9 is the floor.
PY39_RELEASES = ('2024.1', '2025.1')
FLOOR = (3, 9)

#: Besides the package: files a packager runs with the distribution's
#: Python (tools/check_packaging.py --python runs the second inside it).
TOOLS = ('tools/check_packaging.py', 'tools/check_packaging_installed.py')

#: Compiles each file named on the command line; prints the interpreter's
#: version and one error per file that does not compile, as JSON. compile()
#: writes no .pyc.
COMPILE_ALL = textwrap.dedent("""\
    import json, sys
    errors = {}
    for path in sys.argv[1:]:
        with open(path, 'rb') as f:
            source = f.read()
        try:
            compile(source, path, 'exec', dont_inherit=True)
        except SyntaxError as e:
            errors[path] = 'line %s: %s' % (e.lineno, e.msg)
    print(json.dumps({'version': list(sys.version_info[:2]),
                      'errors': errors}))
    """)

#: 3.10+ names of the standard library, by module ('builtins': names used
#: bare). Not exhaustive: what code like this project's could plausibly
#: reach for.
PY310_NAMES = {
    'builtins': {'aiter', 'anext', 'EncodingWarning', 'ExceptionGroup',
                 'BaseExceptionGroup'},
    'asyncio': {'timeout', 'TaskGroup', 'Runner'},
    'contextlib': {'aclosing', 'chdir'},
    'datetime': {'UTC'},
    'enum': {'StrEnum', 'verify', 'member', 'nonmember'},
    'hashlib': {'file_digest'},
    'inspect': {'get_annotations', 'markcoroutinefunction'},
    'itertools': {'pairwise', 'batched'},
    'logging': {'getLevelNamesMapping'},
    'operator': {'call'},
    'sys': {'orig_argv', 'stdlib_module_names', 'exception'},
    'tomllib': None,
    'typing': {'TypeAlias', 'ParamSpec', 'Concatenate', 'TypeGuard',
               'Self', 'LiteralString', 'Never', 'assert_never',
               'assert_type', 'reveal_type', 'Required', 'NotRequired',
               'dataclass_transform', 'override', 'TypeVarTuple', 'Unpack',
               'is_typeddict'},
}

#: Keyword arguments added in 3.10+, by the called name.
PY310_KEYWORDS = {
    'zip': {'strict'},
    'dataclass': {'slots', 'kw_only', 'match_args'},
    'entry_points': {'group', 'name'},
    'bisect': {'key'}, 'bisect_left': {'key'}, 'bisect_right': {'key'},
    'insort': {'key'}, 'insort_left': {'key'}, 'insort_right': {'key'},
}


def find_python39():
    """A command that runs Python 3.9, or None."""
    candidates = []
    if os.environ.get('HOSTGUARD_PYTHON39'):
        candidates.append(os.environ['HOSTGUARD_PYTHON39'])
    candidates.append('python3.9')
    root = os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    pyenv = glob.glob(os.path.join(root, 'versions', '3.9.*', 'bin',
                                   'python3.9'))
    candidates += sorted(pyenv, reverse=True, key=lambda p: [
        int(n) for n in re.findall(r'\d+', p.split(os.sep)[-3])])
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, '-c', 'import sys; print(sys.version_info[:2])'],
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
                timeout=60)
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == '(3, 9)':
            return candidate
    return None


def files_to_check(root=REPO):
    found = sorted(glob.glob(os.path.join(root, 'nova_hostguard', '**',
                                          '*.py'), recursive=True))
    return found + [os.path.join(root, t) for t in TOOLS]


def compile_with(python, paths):
    out = subprocess.run([python, '-I', '-c', COMPILE_ALL] + list(paths),
                         capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=120)
    if out.returncode:
        raise AssertionError('%s failed:\n%s' % (python, out.stderr))
    return json.loads(out.stdout)


class Py310Usage(ast.NodeVisitor):
    """3.10+ usage that Python 3.9 parses but fails on at run time.

    ``findings`` holds ``(line, what)``. Annotations are skipped when the
    module has ``from __future__ import annotations`` (they are not
    evaluated then).
    """

    def __init__(self, tree):
        self.findings = []
        self.lazy_annotations = any(
            isinstance(node, ast.ImportFrom) and node.module == '__future__'
            and any(a.name == 'annotations' for a in node.names)
            for node in tree.body)
        self.modules = {}
        self.visit(tree)

    def _found(self, node, what):
        self.findings.append((node.lineno, what))

    def _annotation(self, node):
        if node is None or self.lazy_annotations:
            return
        for sub in ast.walk(node):
            if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
                self._found(sub, 'X | Y in an annotation evaluated at run '
                                 'time (3.10)')
                return

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name in PY310_NAMES and PY310_NAMES[alias.name] is None:
                self._found(node, 'import %s (3.11)' % alias.name)
            self.modules[alias.asname or alias.name] = alias.name

    def visit_ImportFrom(self, node):
        names = PY310_NAMES.get(node.module or '', set())
        if names is None:
            self._found(node, 'from %s import (3.11)' % node.module)
            return
        for alias in node.names:
            if alias.name in names:
                self._found(node, 'from %s import %s (3.10+)' % (
                    node.module, alias.name))

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name):
            module = self.modules.get(node.value.id)
            if node.attr in (PY310_NAMES.get(module) or ()):
                self._found(node, '%s.%s (3.10+)' % (module, node.attr))
        self.generic_visit(node)

    def visit_Name(self, node):
        if (isinstance(node.ctx, ast.Load)
                and node.id in PY310_NAMES['builtins']):
            self._found(node, '%s (3.10+)' % node.id)

    def visit_Call(self, node):
        func = node.func
        name = (func.id if isinstance(func, ast.Name)
                else func.attr if isinstance(func, ast.Attribute) else None)
        for keyword in node.keywords:
            if keyword.arg in PY310_KEYWORDS.get(name, ()):
                self._found(node, '%s(%s=) (3.10)' % (name, keyword.arg))
        if name in ('isinstance', 'issubclass') and len(node.args) == 2:
            if (isinstance(node.args[1], ast.BinOp)
                    and isinstance(node.args[1].op, ast.BitOr)):
                self._found(node, '%s(x, A | B) (3.10)' % name)
        self.generic_visit(node)

    def _function(self, node):
        args = node.args
        for arg in (args.posonlyargs + args.args + args.kwonlyargs
                    + [args.vararg, args.kwarg]):
            if arg is not None:
                self._annotation(arg.annotation)
        self._annotation(node.returns)
        self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node):
        # Local variables' annotations are never evaluated; module and
        # class level ones are. Functions are visited with their bodies, so
        # this over-reports a local one, which is fine.
        self._annotation(node.annotation)
        self.generic_visit(node)


def py310_usage(source):
    return Py310Usage(ast.parse(source)).findings


def constraint_pins(path, python):
    """``{canonical name: [versions]}`` of a constraints file on ``python``.

    The environment is Linux CPython ``python`` (``'3.9'``); a pin whose
    marker is false there is left out.
    """
    env = dict(markers.default_environment(), python_version=python,
               python_full_version=python + '.0', sys_platform='linux',
               platform_system='Linux', os_name='posix',
               implementation_name='cpython',
               platform_python_implementation='CPython')
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            req = requirements.Requirement(line)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            (spec,) = req.specifier
            pins.setdefault(packaging_utils.canonicalize_name(req.name),
                            []).append(spec.version)
    return pins


def our_requirements(root=REPO):
    """requirements.txt's requirements and setup.cfg's extras'."""
    lines = []
    with open(os.path.join(root, 'requirements.txt')) as f:
        lines += f.read().splitlines()
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(root, 'setup.cfg'))
    for _extra, value in cfg.items('extras'):
        lines += value.splitlines()
    reqs = []
    for line in lines:
        line = line.split('#', 1)[0].strip()
        if line:
            reqs.append(requirements.Requirement(line))
    return reqs


def unmet(reqs, pins):
    """What a release's pins do not satisfy, one sentence each."""
    problems = []
    for req in reqs:
        versions = pins.get(packaging_utils.canonicalize_name(req.name))
        if not versions:
            problems.append('%s: no pin' % req.name)
        elif len(versions) > 1:
            problems.append('%s: pinned %s' % (req.name, versions))
        elif not req.specifier.contains(versions[0], prereleases=True):
            problems.append('%s: pinned %s, we require %s' % (
                req.name, versions[0], req.specifier))
    return problems


def python_claims(root=REPO):
    """setup.cfg's ``python_requires`` and classified minor versions."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(root, 'setup.cfg'))
    requires = specifiers.SpecifierSet(cfg.get('metadata',
                                               'python_requires'))
    classified = sorted(
        tuple(int(n) for n in m.group(1).split('.'))
        for m in re.finditer(r'Programming Language :: Python :: (3\.\d+)$',
                             cfg.get('metadata', 'classifier'),
                             re.MULTILINE))
    return requires, classified


class PythonClaimsTest(testtools.TestCase):

    def test_python_requires_and_classifiers_cover_the_releases(self):
        requires, classified = python_claims()
        for release in PY39_RELEASES:
            with open(os.path.join(REPO, 'constraints',
                                   release + '.txt')) as f:
                # The fact the floor rests on: the release pins for 3.9.
                self.assertIn("python_version=='3.9'", f.read(), release)
        self.assertIn('3.9', requires)
        self.assertNotIn('3.8', requires)
        self.assertEqual(FLOOR, classified[0])
        self.assertEqual(
            [(3, minor) for minor in range(FLOOR[1], classified[-1][1] + 1)],
            classified, 'classifiers skip a minor version')
        for minor in classified:
            self.assertIn('%d.%d' % minor, requires)
        # The newest Python the installed nova names is named here too.
        nova = [
            tuple(int(n) for n in c.rsplit(':: ', 1)[1].split('.'))
            for c in metadata.metadata('nova').get_all('Classifier')
            if re.match(r'Programming Language :: Python :: 3\.\d+$', c)]
        self.assertLessEqual(max(nova), classified[-1])


class Python39GrammarTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.python = find_python39()
        if self.python is None:
            message = ('no Python 3.9 found to check the 3.9 grammar with '
                       '(2024.1 and 2025.1 run nova-hostguard on 3.9): '
                       'install one (pyenv install 3.9) or set '
                       'HOSTGUARD_PYTHON39 to its path')
            # As tests/harness/backends.require: CI never skips; a plain
            # local run (or a gate node without 3.9) may, saying so.
            if (os.environ.get('HOSTGUARD_ALLOW_MISSING_BACKENDS') == '1'
                    and not os.environ.get('CI')):
                self.skipTest(message + ' (skipped: HOSTGUARD_ALLOW_'
                              'MISSING_BACKENDS=1 and no CI)')
            self.fail(message)

    def test_every_module_compiles_with_python_3_9(self):
        paths = files_to_check()
        self.assertGreater(len(paths), 30)
        result = compile_with(self.python, paths)
        self.assertEqual([3, 9], result['version'])
        self.assertEqual({}, result['errors'])

    def test_a_310_construct_fails_to_compile(self):
        # What the test above would report.
        with tempfile.NamedTemporaryFile('w', suffix='.py') as f:
            f.write('match x:\n    case 1:\n        pass\n')
            f.flush()
            result = compile_with(self.python, [f.name])
        self.assertEqual({f.name: 'line 1: invalid syntax'},
                         result['errors'])


class Py310UsageTest(testtools.TestCase):

    def test_no_module_uses_310_features(self):
        found = {}
        for path in files_to_check():
            with open(path) as f:
                findings = py310_usage(f.read())
            if findings:
                found[os.path.relpath(path, REPO)] = findings
        self.assertEqual({}, found)

    def test_what_it_finds(self):
        cases = {
            'def f(a: int | None): pass': 'X | Y in an annotation',
            'def f() -> "x" | None: pass': 'X | Y in an annotation',
            'class A:\n    b: str | None = None': 'X | Y in an annotation',
            'isinstance(x, int | str)': 'isinstance(x, A | B)',
            'zip(a, b, strict=True)': 'zip(strict=)',
            'import dataclasses\n@dataclasses.dataclass(slots=True)\n'
            'class A: pass': 'dataclass(slots=)',
            'from importlib import metadata\n'
            'metadata.entry_points(group="g")': 'entry_points(group=)',
            'import datetime\ndatetime.UTC': 'datetime.UTC',
            'import itertools as it\nit.pairwise(x)': 'itertools.pairwise',
            'from enum import StrEnum': 'from enum import StrEnum',
            'import tomllib': 'import tomllib',
            'anext(x)': 'anext',
        }
        for source, what in cases.items():
            findings = py310_usage(source)
            self.assertEqual(1, len(findings), source)
            self.assertIn(what, findings[0][1], source)
        for fine in ('from __future__ import annotations\n'
                     'def f(a: int | None): pass',
                     'x = a | b', 'zip(a, b)', 'import datetime\n'
                     'datetime.timezone.utc',
                     'from importlib import metadata\n'
                     'metadata.entry_points()'):
            self.assertEqual([], py310_usage(fine), fine)


class ReleaseMarkersTest(testtools.TestCase):

    def test_python_39_pins_satisfy_our_lower_bounds(self):
        reqs = our_requirements()
        self.assertGreater(len(reqs), 10)
        for release in PY39_RELEASES:
            pins = constraint_pins(
                os.path.join(REPO, 'constraints', release + '.txt'), '3.9')
            self.assertEqual([], unmet(reqs, pins), release)

    def test_markers_decide_the_pin(self):
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as f:
            f.write("oslo.db===16.0.0;python_version=='3.8'\n"
                    "oslo.db===15.0.0;python_version=='3.9'\n"
                    "oslo.db===17.0.0;python_version>='3.10'\n"
                    "redis===5.0.1\n")
            f.flush()
            self.assertEqual({'oslo-db': ['15.0.0'], 'redis': ['5.0.1']},
                             constraint_pins(f.name, '3.9'))
            pins = constraint_pins(f.name, '3.9')
        reqs = [requirements.Requirement(r)
                for r in ('oslo.db>=16.0.0', 'redis>=5.0.1', 'tooz>=6.2.0')]
        self.assertEqual(
            ['oslo.db: pinned 15.0.0, we require >=16.0.0', 'tooz: no pin'],
            unmet(reqs, pins))
