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

"""The documentation says what the code does.

Read from README.rst, every ``doc/source/**/*.rst`` and every release
note, checked against the code and the tox configuration:

* every ``nova-hostguard-manage`` / ``nova-hostguard-status`` command
  line the docs show (inline literals, literal blocks, quoted messages,
  the man pages' ``.. program::`` and ``.. option::``) exists in the real
  argparse parsers, which are built by the commands' own code in a
  subprocess (nova's ``parse_args`` writes to nova's global CONF);
* the man pages describe every subcommand and every option;
* every ``[hostguard] <option>`` is an option of ``list_opts()``;
* every figure of the README's "What it costs" is on the benchmark page,
  verbatim;
* the supported nova releases the docs state are the ones tox tests;
* the release notes read as one first release: one prelude, and no
  ``fixes`` before anything was released.

The ``Check*`` tests run the checks on small texts, to show that each one
fails on the mistake it is there for.
"""

import configparser
import functools
import glob
import json
import os
import re
import subprocess
import sys

import testtools
import yaml

from nova_hostguard import conf as hostguard_conf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
COMMANDS = {
    'nova-hostguard-manage': 'nova_hostguard.cmd.manage',
    'nova-hostguard-status': 'nova_hostguard.cmd.status',
}
MAN_PAGES = {
    'nova-hostguard-manage': 'doc/source/cli/nova-hostguard-manage.rst',
    'nova-hostguard-status': 'doc/source/cli/nova-hostguard-status.rst',
}
BENCHMARKS = 'doc/source/admin/benchmarks.rst'
INSTALL_GUIDE = 'doc/source/install/index.rst'
README_COSTS = 'What it costs'

# The parser tree of a command, as its own _main() builds it: argparse's
# parse_args is replaced by one that stops the command at the first parser
# with subcommands (oslo.config's parser calls the base class's parse_args
# once it has added every option; nova's start may parse a configuration
# of its own first) and prints that parser.
_DUMP = r'''
import argparse
import json
import sys


class Captured(BaseException):
    pass


def describe(parser):
    node = {'options': {}, 'positionals': [], 'commands': {}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                node['commands'][name] = describe(sub)
        elif action.option_strings:
            for option in action.option_strings:
                node['options'][option] = {
                    'takes_value': action.nargs != 0,
                    'choices': (list(action.choices) if action.choices
                                else None)}
        else:
            node['positionals'].append(action.metavar or action.dest)
    return node


parse_args = argparse.ArgumentParser.parse_args


def capture(self, args=None, namespace=None):
    if any(isinstance(action, argparse._SubParsersAction)
           for action in self._actions):
        raise Captured(self)
    return parse_args(self, args, namespace)


argparse.ArgumentParser.parse_args = capture
module = __import__(sys.argv[1], fromlist=['_main'])
sys.argv = [sys.argv[2]]
try:
    module._main()
except Captured as e:
    print(json.dumps(describe(e.args[0])))
else:
    sys.exit('%s: its parser was never used' % sys.argv[0])
'''


@functools.lru_cache()
def parsers():
    """``{command: tree}``: each command's parser tree, from its code."""
    trees = {}
    for command, module in COMMANDS.items():
        result = subprocess.run(
            [sys.executable, '-c', _DUMP, module, command],
            capture_output=True, text=True, cwd=REPO, timeout=300,
            stdin=subprocess.DEVNULL)
        if result.returncode:
            raise AssertionError('could not build the parser of %s: %s' % (
                command, result.stderr[-2000:]))
        trees[command] = json.loads(result.stdout.splitlines()[-1])
    return trees


def read(relative, root=REPO):
    with open(os.path.join(root, relative), encoding='utf-8') as f:
        return f.read()


def read_included(relative, root=REPO):
    """An RST file with its ``.. include::`` files in place."""
    def include(match):
        return read_included(os.path.join(
            os.path.dirname(relative), match.group(1)), root)
    return re.sub(r'^\.\. include:: *(\S+) *$', include,
                  read(relative, root), flags=re.MULTILINE)


def _strings(data):
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def release_notes(root=REPO):
    """``{path: parsed note}`` of releasenotes/notes/*.yaml."""
    notes = {}
    for path in sorted(glob.glob(os.path.join(
            root, 'releasenotes', 'notes', '*.yaml'))):
        with open(path, encoding='utf-8') as f:
            notes[os.path.relpath(path, root)] = yaml.safe_load(f) or {}
    return notes


def documents(root=REPO):
    """``{path: text}``: README, the guide's pages and includes, notes."""
    texts = {'README.rst': read('README.rst', root)}
    for path in sorted(glob.glob(os.path.join(
            root, 'doc', 'source', '**', '*.rst'), recursive=True) +
            glob.glob(os.path.join(
                root, 'doc', 'source', '**', '*.inc'), recursive=True)):
        relative = os.path.relpath(path, root)
        texts[relative] = read(relative, root)
    for path, note in release_notes(root).items():
        texts[path] = '\n\n'.join(_strings(note))
    return texts


# --- command lines -------------------------------------------------------

_COMMAND = re.compile(r'(?<![\w-])(nova-hostguard-(?:manage|status))'
                      r'(?=\s|$)')
_INLINE_LITERAL = re.compile(r'``(?!\s)(.+?)(?<!\s)``', re.DOTALL)
_QUOTED = re.compile(r'"(nova-hostguard-(?:manage|status)\s[^"]*)"')
#: Where a shell line stops being the command.
_STOP = {'|', '||', ';', '&&', '>', '2>&1', '#', '<'}


def _placeholder(token):
    """A stand-in in a synopsis: NAME, <host>, {a,b}, ..."""
    return bool(re.fullmatch(r'[A-Z][A-Z0-9_-]*|<[^>]*>|\{[^}]*\}|\.\.\.',
                             token))


def command_lines(text):
    """``(command, tokens, strict)`` for every command line in ``text``.

    Inline literals, quoted messages and ``$ `` lines are whole commands
    (``strict``); a literal line that only starts with a command's name
    (a synopsis, or a table's caption) may go on with prose after it.
    """
    text = re.sub(r'\\\n\s*', ' ', text)  # shell line continuations
    found = []

    def after(command_text, strict=True):
        for match in _COMMAND.finditer(command_text):
            rest = command_text[match.end():]
            nxt = _COMMAND.search(rest)
            if nxt:
                rest = rest[:nxt.start()]
            rest = re.sub(r'<[^<>]*>', lambda m: m.group(0).replace(
                ' ', '_'), rest)
            found.append((match.group(1), rest.split(), strict))

    for literal in _INLINE_LITERAL.findall(text):
        after(literal)
    prose = _INLINE_LITERAL.sub(' ', text)
    for quoted in _QUOTED.findall(prose):
        after(quoted)
    prose = _QUOTED.sub(' ', prose)
    for line, literal in _lines(prose):
        stripped = line.strip()
        strict = stripped.startswith('$ ')
        if strict:
            stripped = stripped[2:].lstrip()
        if (strict or literal) and _COMMAND.match(stripped):
            after(stripped, strict)
    return found


def _lines(text):
    """``(line, in a literal block)`` for each line of an RST text."""
    block = None  # the indentation a literal block is deeper than
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if line.strip() and block is not None:
            if indent > block:
                yield line, True
                continue
            block = None
        yield line, False
        if line.rstrip().endswith('::') or re.match(
                r'\s*\.\. code(-block)?::', line):
            block = indent


def check_command(command, tokens, trees, strict=True):
    """What the parsers reject in ``command tokens...``: a list of texts.

    Options are looked up in the parser they are given to (argparse's
    rule: the global ones before the first subcommand), option values
    against their choices, subcommands and positional words by name;
    placeholders (``NAME``, ``table|json``) stand for any value. Not
    ``strict``, a word after a complete command ends it.
    """
    problems = []
    node, path = trees[command], [command]
    positionals = list(node['positionals'])
    tokens = [t.strip('[]') for t in tokens]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token or token == '...':
            continue
        if token in _STOP:
            break
        where = ' '.join(path)
        if token.startswith('-'):
            name, equals, value = token.partition('=')
            option = node['options'].get(name)
            if option is None:
                problems.append('%s has no option %s' % (where, name))
                break
            if option['takes_value'] and not equals:
                value = tokens[i] if i < len(tokens) else ''
                i += 1
            if value and option['choices'] and not _placeholder(value):
                for choice in value.split('|'):
                    if choice not in option['choices']:
                        problems.append('%s %s takes %s, not %r' % (
                            where, name, ', '.join(option['choices']),
                            choice))
            continue
        if node['commands']:
            if token in node['commands']:
                node = node['commands'][token]
                path.append(token)
                positionals = list(node['positionals'])
            elif not _placeholder(token):
                problems.append('%s has no command %r (it has: %s)' % (
                    where, token, ', '.join(node['commands'])))
                break
            continue
        if positionals:
            expected = positionals.pop(0)
            if token != expected and not _placeholder(token):
                problems.append('%s takes %r here, not %r' % (
                    where, expected, token))
            continue
        if strict:
            problems.append('%s takes no argument %r' % (where, token))
        break
    return problems


def node_of(command, words, trees):
    """The parser node a man page's ``.. program::`` names, and its path."""
    node, path = trees[command], (command,)
    for word in words:
        if word in node['commands']:
            node = node['commands'][word]
            path += (word,)
    return node, path


_DIRECTIVE = re.compile(r'^\.\. (program|option):: *(.*)$', re.MULTILINE)


def man_page_options(text):
    """``{program words: [option strings]}`` from program/option markup."""
    documented = {}
    program = None
    for kind, argument in _DIRECTIVE.findall(text):
        if kind == 'program':
            program = tuple(argument.split())
            documented.setdefault(program, [])
            continue
        for variant in argument.split(', '):
            documented.setdefault(program, []).append(variant.split()[0])
    return documented


def check_man_page(command, text, trees):
    """Markup naming nothing real, and parts of the parser not described."""
    problems = []
    described = {}
    documented = man_page_options(text)
    for program, options in documented.items():
        if program is None or program[0] != command:
            problems.append('.. option:: %s outside a ".. program:: %s"' % (
                ', '.join(options), command))
            continue
        problems.extend(check_command(command, list(program[1:]), trees))
        node, path = node_of(command, program[1:], trees)
        described.setdefault(path, set())
        for option in options:
            if option not in node['options']:
                problems.append('%s has no option %s' % (
                    ' '.join(path), option))
            described[path].add(option)

    def walk(node, path):
        if path == (command,) or not node['commands']:
            if path not in described:
                problems.append('no ".. program:: %s"' % ' '.join(path))
            missing = sorted(
                set(node['options']) - described.get(path, set()) -
                (set() if path == (command,) else {'-h', '--help'}))
            if missing:
                problems.append('%s: not described: %s' % (
                    ' '.join(path), ', '.join(missing)))
        for name, sub in node['commands'].items():
            walk(sub, path + (name,))
    walk(trees[command], (command,))
    return problems


_SERVICE_LIST = re.compile(r'openstack\s+compute\s+service\s+list\b')


def check_disabled_reason(text):
    """Mentions of the disabled reason that would not show it.

    ``openstack compute service list`` has the "Disabled Reason" column
    only with ``--long``.
    """
    problems = []
    for match in _SERVICE_LIST.finditer(text):
        rest = text[match.end():]
        if text.count('``', 0, match.start()) % 2:
            rest = rest.split('``', 1)[0]  # inside an inline literal
        else:
            rest = rest.split('\n', 1)[0]
        before = text[:match.start()]
        start = max(before.rfind(end) for end in ('. ', '\n\n', '::'))
        after = text[match.end() + len(rest):]
        stop = min([after.find(end) for end in ('. ', '\n\n', '::')
                    if end in after] or [len(after)])
        around = before[start + 1:] + match.group(0) + rest + after[:stop]
        if (re.search(r'\breason\b|\bwhy\b', around, re.IGNORECASE) and
                '--long' not in rest.split()):
            problems.append('%r shows no disabled reason without --long' %
                            ' '.join((match.group(0) + rest).split()))
    return problems


# --- [hostguard] options ------------------------------------------------

#: Set in the group by oslo.config itself, for ``config_source``: the
#: option that names the group's driver.
CONFIG_SOURCE_OPTS = {'driver'}
_NAMED_OPTION = re.compile(r'\[hostguard\](?: |/)(?:``)?([A-Za-z_]\w*)')


def hostguard_options():
    return {opt.name for group, opts in hostguard_conf.list_opts()
            if group == hostguard_conf.GROUP for opt in opts}


def named_options(text):
    """Options named as ``[hostguard] name`` or set in an ini snippet."""
    names = set(_NAMED_OPTION.findall(text))
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        heading = re.fullmatch(r'\[([\w.-]+)\]', stripped)
        if heading:
            section = heading.group(1)
        elif not stripped:
            section = None
        elif section == hostguard_conf.GROUP:
            setting = re.match(r'#?\s*([A-Za-z_]\w*)\s*=', stripped)
            if setting:
                names.add(setting.group(1))
    return names


def check_options(text, registered):
    allowed = registered | CONFIG_SOURCE_OPTS
    return ['[hostguard] %s is not an option (there are: %s)' % (
        name, ', '.join(sorted(registered)))
        for name in sorted(named_options(text) - allowed)]


# --- benchmark figures --------------------------------------------------

#: A figure: a number, with its unit when it has one.
_FIGURE = re.compile(r'(?<![\w.,])(\d[\d,]*(?:\.\d+)?)'
                     r'(?:(?:\s|\u00a0)?(ms|s|%|\u00d7|x)(?!\w))?')


def section(text, title):
    """The body of the RST section ``title`` (up to the next title)."""
    match = re.search(r'^%s\n[-=~^]{%d,}\n(.*?)(?=^\S[^\n]*\n[-=~^]{3,}\n|'
                      r'\Z)' % (re.escape(title), len(title)),
                      text, re.MULTILINE | re.DOTALL)
    if not match:
        raise AssertionError('no section %r' % title)
    return match.group(1)


def figures(text):
    """Every figure in ``text``, as ``(number, unit)``; numbers as written."""
    return [(number.rstrip(',.'), unit or '')
            for number, unit in _FIGURE.findall(text)]


_MEASURED = re.compile(r'(?<![\w.,])(\d+\.\d+)\s*'
                       r'(ms|s|seconds|%|\u00d7|times)(?!\w)')


def measured(text):
    """The measured figures of a text: decimals with a time or a ratio.

    As text for :func:`check_figures`: seconds as ``s``; a ratio by its
    number alone (the benchmark page writes "ratio 1.05", "5.59 times").
    """
    units = {'seconds': ' s', 's': ' s', 'ms': ' ms', '%': '%'}
    return ', '.join(number + units.get(unit, '')
                     for number, unit in _MEASURED.findall(text))


def check_figures(text, benchmarks):
    """Figures of ``text`` that the benchmark page does not state."""
    stated = set(figures(benchmarks))
    numbers = {number for number, unit in stated}
    problems = []
    for number, unit in figures(text):
        if unit and (number, unit) not in stated:
            problems.append(number + ('' if unit == '%' else ' ') + unit)
        elif not unit and number not in numbers:
            problems.append(number)
    return problems


# --- supported nova ------------------------------------------------------

def nova_major(release):
    """nova's major version of a release: 2024.1 is 29, two a year."""
    year, half = release.split('.')
    return 29 + 2 * (int(year) - 2024) + int(half) - 1


def tox_releases(root=REPO):
    """``{release: nova version}`` that tox.ini tests."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(os.path.join(root, 'tox.ini'))
    envlist = tox['tox']['envlist']
    releases = set(re.search(r'release-\{([^}]*)\}', envlist).group(1)
                   .split(','))
    tested = {}
    deps = tox['testenv']['deps']
    default = re.search(r'constraints/(\d{4}\.\d)\.txt', deps).group(1)
    for factors, version in re.findall(r'^\s*(\S+): nova==(\S+)$', deps,
                                       re.MULTILINE):
        release = default if factors.startswith('!') else factors
        tested[release] = version
    if set(tested) != releases | {default}:
        raise AssertionError('tox.ini: release envs %s, nova pins %s' % (
            sorted(releases | {default}), sorted(tested)))
    return tested


_RANGE = re.compile(r'(\d{4}\.\d)\s+\(nova\s+(\d+)(?:\.x)?\)\s+to\s+'
                    r'(\d{4}\.\d)\s+\(nova\s+(\d+)(?:\.x)?\)')
_PAIRS = (re.compile(r'(\d{4}\.\d)\s+\((?:nova\s+)?(\d+)(?:\.x)?\)'),
          re.compile(r'nova\s+(\d+)(?:\.x)?\s+\((\d{4}\.\d)\)'))


def check_support(text, tested):
    """Stated ranges and release/nova pairs against what tox tests."""
    problems = []
    releases = sorted(tested)
    expected = (releases[0], str(nova_major(releases[0])),
                releases[-1], str(nova_major(releases[-1])))
    for stated in _RANGE.findall(text):
        if stated != expected:
            problems.append('states %s (nova %s) to %s (nova %s); tox tests '
                            '%s (nova %s) to %s (nova %s)' % (
                                stated + expected))
    for release, major in (_PAIRS[0].findall(text) +
                           [(r, m) for m, r in _PAIRS[1].findall(text)]):
        if str(nova_major(release)) != major:
            problems.append('pairs %s with nova %s; %s is nova %s' % (
                release, major, release, nova_major(release)))
    for match in re.finditer(
            r'nova\s+(\d+)(?:\.x)?\s+only|only\s+nova\s+(\d+)', text):
        problems.append('says %r' % match.group(0))
    return problems


def readme_table(text):
    """``{release: nova version}`` of the README's support table."""
    table = section(text, 'Supported nova releases')
    return dict(re.findall(r'^   \* - (\d{4}\.\d)\n     - (\S+) \(',
                           table, re.MULTILINE))


# --- release notes -------------------------------------------------------

def released(root=REPO):
    """Whether any release was tagged; None outside a git checkout."""
    try:
        result = subprocess.run(['git', '-C', root, 'tag', '--list'],
                                capture_output=True, text=True,
                                stdin=subprocess.DEVNULL)
    except OSError:   # no git
        return None
    if result.returncode:
        return None
    return bool(result.stdout.strip())


def check_notes(notes, tagged):
    """Before the first release: one prelude, no ``fixes``.

    ``tagged`` None (not a git checkout) checks nothing. After the first
    tag each release has its own prelude, which reno's scanner would
    have to tell apart: not checked here.
    """
    problems = []
    if tagged is not False:
        return problems
    preludes = sorted(path for path, note in notes.items()
                      if 'prelude' in note)
    if len(preludes) > 1:
        problems.append('%d preludes, one release has one: %s' % (
            len(preludes), ', '.join(preludes)))
    for path, note in sorted(notes.items()):
        if 'fixes' in note:
            problems.append('%s: "fixes" before the first release: '
                            'nothing released to fix' % path)
    return problems


def _report(problems):
    return '\n'.join('%s: %s' % pair for pair in problems)


class DocsMatchTheCodeTest(testtools.TestCase):
    """The checks, on this tree."""

    def test_commands_and_options_named_exist(self):
        trees = parsers()
        problems = []
        for path, text in documents().items():
            for command, tokens, strict in command_lines(text):
                problems.extend(
                    (path, '%s %s: %s' % (command, ' '.join(tokens), p))
                    for p in check_command(command, tokens, trees, strict))
        self.assertEqual([], problems, _report(problems))

    def test_man_pages_describe_every_command_and_option(self):
        trees = parsers()
        problems = []
        for command, path in MAN_PAGES.items():
            problems.extend((path, p) for p in check_man_page(
                command, read_included(path), trees))
        self.assertEqual([], problems, _report(problems))

    def test_the_disabled_reason_is_shown_with_long(self):
        problems = []
        for path, text in documents().items():
            problems.extend((path, p) for p in check_disabled_reason(text))
        self.assertEqual([], problems, _report(problems))

    def test_hostguard_options_named_exist(self):
        registered = hostguard_options()
        problems = []
        for path, text in documents().items():
            for match in re.finditer(r'\b(?:the\s+one|the\s+only)\s+'
                                     r'option\b', text, re.IGNORECASE):
                problems.append((path, '"%s": [hostguard] has %d options' % (
                    ' '.join(match.group(0).split()), len(registered))))
        for path, text in documents().items():
            problems.extend((path, p) for p in check_options(
                text, registered))
        self.assertEqual([], problems, _report(problems))

    def test_readme_costs_are_the_benchmark_pages(self):
        costs = section(read('README.rst'), README_COSTS)
        self.assertNotEqual([], figures(costs))
        self.assertEqual([], check_figures(costs, read(BENCHMARKS)),
                         'README "%s" states figures that %s does not'
                         % (README_COSTS, BENCHMARKS))

    def test_release_notes_figures_are_the_benchmark_pages(self):
        benchmarks = read(BENCHMARKS)
        problems = []
        for path, text in documents().items():
            if path.startswith('releasenotes'):
                problems.extend((path, p) for p in check_figures(
                    measured(text), benchmarks))
        self.assertEqual([], problems, _report(problems))

    def test_supported_nova_is_what_tox_tests(self):
        tested = tox_releases()
        problems = []
        table = readme_table(read('README.rst'))
        if table != tested:
            problems.append(('README.rst', '"Supported nova releases" '
                             'table: %s; tox.ini: %s' % (table, tested)))
        for path in ('README.rst', INSTALL_GUIDE):
            if not _RANGE.search(read(path)):
                problems.append((path, 'does not state the supported '
                                 'range ("2024.1 (nova 29.x) to ...")'))
        for path, text in documents().items():
            problems.extend((path, p) for p in check_support(text, tested))
        self.assertEqual([], problems, _report(problems))

    def test_release_notes_read_as_one_release(self):
        problems = check_notes(release_notes(), released())
        self.assertEqual([], problems, '\n'.join(problems))


TREES = {
    'nova-hostguard-manage': {
        'options': {'--config-file': {'takes_value': True, 'choices': None},
                    '-h': {'takes_value': False, 'choices': None},
                    '--help': {'takes_value': False, 'choices': None}},
        'positionals': [],
        'commands': {
            'db': {'options': {}, 'positionals': [], 'commands': {
                'sync': {'options': {'--all-cells': {
                    'takes_value': False, 'choices': None}},
                    'positionals': [], 'commands': {}}}},
            'audit': {'options': {'--format': {
                'takes_value': True, 'choices': ['table', 'json']}},
                'positionals': [], 'commands': {}}}},
    'nova-hostguard-status': {
        'options': {}, 'positionals': [], 'commands': {
            'upgrade': {'options': {'--json': {
                'takes_value': False, 'choices': None}},
                'positionals': ['check'], 'commands': {}}}},
}


class CheckCommandsTest(testtools.TestCase):
    """Each check fails on the mistake it is there for."""

    def _problems(self, text):
        return [p for command, tokens, strict in command_lines(text)
                for p in check_command(command, tokens, TREES, strict)]

    def test_prose_that_starts_a_line_with_a_name_is_not_a_command(self):
        self.assertEqual([], self._problems(
            'Run another ``db`` run of\n'
            'nova-hostguard-manage on this database.\n\n'
            'Like this::\n\n'
            '    nova-hostguard-manage audit on MariaDB, s: a caption\n\n'
            'nova-hostguard-manage again in prose.\n'))
        self.assertEqual(
            ["nova-hostguard-manage has no command 'frob' (it has: db, "
             "audit)"],
            self._problems('Like this::\n\n  nova-hostguard-manage frob\n'))

    def test_real_command_lines_pass(self):
        self.assertEqual([], self._problems(
            'Run ``nova-hostguard-manage --config-file /etc/nova/nova.conf'
            '\n  db sync --all-cells`` then::\n\n'
            '    $ nova-hostguard-manage audit --format json | jq .\n'
            '    nova-hostguard-manage audit [--format table|json]\n'
            '    nova-hostguard-manage: an error line, not a command\n'
            '``nova-hostguard-status upgrade check --json``'))

    def test_unknown_command_option_choice_and_word_fail(self):
        self.assertEqual([
            "nova-hostguard-manage db has no command 'check' (it has: "
            "sync)",
            "nova-hostguard-status upgrade takes 'check' here, not 'run'",
            'nova-hostguard-manage audit has no option --config-file',
            "nova-hostguard-manage audit takes no argument 'now'",
            "nova-hostguard-manage audit --format takes table, json, not "
            "'xml'",
            'nova-hostguard-manage db sync has no option --lock-wait',
            "nova-hostguard-manage has no command 'frob' (it has: db, "
            "audit)",
        ], self._problems(
            '``nova-hostguard-manage db check``\n'
            '    $ nova-hostguard-manage db sync --lock-wait 5\n'
            'it says "nova-hostguard-manage audit --format xml" and\n'
            '``nova-hostguard-status upgrade run``\n'
            '``nova-hostguard-manage audit --config-file x``\n'
            '``nova-hostguard-manage audit now``\n'
            '    nova-hostguard-manage audit on MariaDB, s: a caption\n'
            '    $ nova-hostguard-manage frob\n'))

    def test_man_page_markup_checked_both_ways(self):
        page = ('.. program:: nova-hostguard-manage\n\n'
                '.. option:: --config-file PATH\n\n'
                '.. option:: -h, --help\n\n'
                '.. program:: nova-hostguard-manage db sync\n\n'
                '.. option:: --all-cells\n\n'
                '.. option:: --lock-timeout SECONDS\n\n')
        self.assertEqual([
            'nova-hostguard-manage db sync has no option --lock-timeout',
            'no ".. program:: nova-hostguard-manage audit"',
            'nova-hostguard-manage audit: not described: --format',
        ], check_man_page('nova-hostguard-manage', page, TREES))

    def test_disabled_reason_without_long_fails(self):
        self.assertEqual(
            ["'openstack compute service list' shows no disabled reason "
             "without --long",
             "'openstack compute service list --service nova-compute' "
             "shows no disabled reason without --long"],
            check_disabled_reason(
                'Then ``openstack compute service list`` shows why.\n'
                '``openstack compute service list --service nova-compute``'
                ' has the reason.'))
        self.assertEqual([], check_disabled_reason(
            'Then ``openstack compute service list\n--long`` shows why;\n'
            '``openstack compute service list --service nova-compute\n'
            '--long``: its disabled reason. ``openstack compute service '
            'list``: up or down.'))

    def test_unknown_hostguard_option_fails(self):
        text = ('Set ``[hostguard] mode`` and [hostguard]/lock_timeout::\n\n'
                '    [hostguard]\n    driver = hostguard\n'
                '    enforce = true\n\n    [DEFAULT]\n    host = a\n')
        self.assertEqual(
            ['[hostguard] enforce is not an option (there are: mode)',
             '[hostguard] lock_timeout is not an option (there are: mode)'],
            check_options(text, {'mode'}))

    def test_the_options_come_from_list_opts(self):
        self.assertEqual({'mode', 'one_process_per_host', 'backend_url',
                          'lock_wait'}, hostguard_options())

    def test_measured_figures_of_a_note(self):
        self.assertEqual(
            '1.5 ms, 1.3, 4.3 s, 0.14 s, 1.5%', measured(
                'takes 1 to 1.5 ms, about 1.3 times nova; 4.3 seconds, '
                '0.14 s; 1.5% of it; SQLAlchemy 1.4.51 on 2024.1, waits '
                '1.5 report_interval'))

    def test_figures_not_on_the_benchmark_page_fail(self):
        benchmarks = ('ratio 0.92 to 1.05; 2.4 to 5.2 ms more; took 5.21 s '
                      '(4.53-5.70); 0.1% of the start at 100,000 rows')
        self.assertEqual([], check_figures(
            'a ratio of 0.92 to 1.05, 2.4 to 5.2 ms, 5.21 s, 0.1% at '
            '100,000 rows.', benchmarks))
        self.assertEqual(['1.3', '4.3 s', '5.2 s', '1.5%'], check_figures(
            'about 1.3 times, 4.3 s, 5.2 s, 1.5% at 100,000 rows',
            benchmarks))

    def test_support_claims_checked_against_tox(self):
        tested = {'2024.1': '29.4.0', '2026.2': '34.0.0'}
        self.assertEqual([], check_support(
            'Supported nova: 2024.1 (nova 29.x) to 2026.2 (nova 34.x); '
            '2024.2 (nova 30) is not tested.', tested))
        self.assertEqual([
            'states 2025.1 (nova 31) to 2026.2 (nova 34); tox tests '
            '2024.1 (nova 29) to 2026.2 (nova 34)',
            'pairs 2026.1 with nova 34; 2026.1 is nova 33',
            "says 'nova 34 only'",
        ], check_support(
            'From 2025.1 (nova 31) to 2026.2 (nova 34). Also 2026.1 (34.x).'
            ' Install next to nova 34 only.', tested))

    def test_tox_releases_are_read_from_tox_ini(self):
        tested = tox_releases()
        self.assertEqual('34', tested['2026.2'].split('.')[0])
        for release, version in tested.items():
            self.assertEqual(str(nova_major(release)), version.split('.')[0])

    def test_two_preludes_and_early_fixes_fail(self):
        notes = {'a.yaml': {'prelude': 'x', 'features': ['y']},
                 'b.yaml': {'prelude': 'z', 'fixes': ['w']}}
        self.assertEqual([
            '2 preludes, one release has one: a.yaml, b.yaml',
            'b.yaml: "fixes" before the first release: nothing released '
            'to fix'], check_notes(notes, tagged=False))
        # After the first tag each release has its own prelude.
        self.assertEqual([], check_notes(notes, tagged=True))
