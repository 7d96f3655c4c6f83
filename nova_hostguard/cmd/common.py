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

"""What nova-hostguard's commands share: reading nova.conf, output,
exit statuses, and nova-manage's way of declaring actions and options.
"""

import inspect
import os
import sys

from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

#: ``nova-hostguard-manage``'s exit statuses (``nova-hostguard-status``
#: uses oslo.upgradecheck's codes, and 255 alike).
EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
#: An unexpected error, as nova-manage and oslo.upgradecheck use it.
EXIT_UNEXPECTED = 255

MANAGE = 'nova-hostguard-manage'

ALL_CELLS_HELP = ('Work on every cell database mapped in the API database '
                  '([api_database] connection), cell0 included, instead of '
                  'the one in [database] connection.')


def out(text=''):
    """A line of the command's own output, on stdout."""
    print(text)


def err(text):
    """nova-hostguard-manage's one line about what went wrong, on stderr."""
    print('%s: %s' % (MANAGE, text), file=sys.stderr)


def more(text):
    """A further line on stderr, after :func:`err`."""
    print(text, file=sys.stderr)


def args(*args, **kwargs):
    """An option of the action it decorates, declared next to it.

    As nova-manage declares its options: :func:`add_category_parsers`
    passes each to ``argparse``'s ``add_argument``, in the order written.
    """
    def decorate(function):
        function.__dict__.setdefault('args', []).insert(0, (args, kwargs))
        return function
    return decorate


def _add_action(subparsers, name, function, help_text):
    parser = subparsers.add_parser(name, help=help_text)
    for arg_args, arg_kwargs in getattr(function, 'args', []):
        parser.add_argument(*arg_args, **arg_kwargs)
    parser.set_defaults(action_fn=function)


def add_category_parsers(subparsers, categories):
    """One parser per category, one per action of a class category.

    :param categories: ``{name: category}``; a category is a class whose
        public methods are its actions (``db sync``), or a function that
        is the action itself (``audit``). The first line of a docstring is
        its help.
    """
    for name, category in categories.items():
        if not inspect.isclass(category):
            _add_action(subparsers, name, category,
                        category.__doc__.splitlines()[0])
            continue
        parser = subparsers.add_parser(name, help=category.__doc__)
        actions = parser.add_subparsers(dest='action', metavar='ACTION')
        actions.required = True
        commands = category()
        for action in vars(category):
            function = getattr(commands, action)
            if not action.startswith('_') and callable(function):
                _add_action(actions, action, function,
                            function.__doc__.splitlines()[0])


#: nova's switch for eventlet (true: native threads; empty: not chosen).
_NO_EVENTLET = 'OS_NOVA_DISABLE_EVENTLET_PATCHING'


def start_native_threading():
    """Choose nova's concurrency mode, native threads, on any nova release.

    nova's first step in every command, before anything imports eventlet.
    nova 33 and newer take the default as ``patch(backend='threading')``
    (the variable and nova.conf's choice still win); nova 32's ``patch()``
    and nova 29/31's import of ``nova.monkey_patch`` patch eventlet unless
    the variable says not to, so it says so for them unless already set.
    """
    chosen = os.environ.get(_NO_EVENTLET)
    os.environ[_NO_EVENTLET] = chosen or 'true'
    from nova import monkey_patch  # nova 29 and 31: patches here, or not

    patch = getattr(monkey_patch, 'patch', None)
    if patch is None:
        return
    if 'backend' not in inspect.signature(patch).parameters:
        patch()  # nova 32
        return
    os.environ[_NO_EVENTLET] = chosen or ''
    patch(backend='threading')


def parse_nova_configuration(conf, prog, cli_opts=()):
    """Read nova.conf as nova's binaries do (``conf`` is nova's CONF).

    :returns: None, or what was wrong with the command line or the
        configuration (empty when argparse already printed it).
    """
    try:
        # nova's own first step: choose the concurrency mode (reading
        # nova.conf) before anything may import eventlet.
        start_native_threading()
        from nova import config as nova_config
        from oslo_messaging import opts as messaging_opts

        # [DEFAULT] transport_url: nova's cell mappings may be templates
        # that refer to it.
        for group, opts in messaging_opts.list_opts():
            if group is None:
                conf.register_opts(opts)
        for opt in cli_opts:
            conf.register_cli_opt(opt)
        # As every nova command: log and library (osprofiler, oslo.db)
        # options, then nova.conf; no RPC, no database set up yet.
        # nova 32 and older name the command after sys.argv[0], which
        # is the same for the installed commands.
        named = ({'prog': prog} if 'prog' in inspect.signature(
            nova_config.parse_args).parameters else {})
        nova_config.parse_args(sys.argv, configure_db=False,
                               init_rpc=False, **named)
    except cfg.Error as e:
        return str(e)
    except SystemExit as e:
        # --help; argparse after printing its usage; a bad [hostguard] option.
        if not e.code:
            raise
        return e.code if isinstance(e.code, str) else ''
    return None


def setup_logging(conf):
    """Warnings and errors on stderr; stdout is the command's own output."""
    conf.set_default('use_stderr', True)
    logging.set_defaults(default_log_levels=(
        logging.get_default_log_levels() + ['alembic=WARN']))
    logging.setup(conf, 'nova-hostguard')


def read_configuration(conf, prog, cli_opts=()):
    """:func:`parse_nova_configuration`; an unreadable file is a problem.

    A directory or an unreadable file as ``--config-file`` raises an
    ``OSError`` while the files are read.
    """
    try:
        return parse_nova_configuration(conf, prog, cli_opts)
    except OSError as e:
        return 'cannot read the configuration: %s' % e


def run(prog, command):
    """``command()``'s exit status; an unexpected error is one line, 255.

    The traceback goes to the log at debug level (``--debug``), not to the
    operator's terminal or a monitoring system's mail.
    """
    try:
        return command()
    except Exception as e:
        LOG.debug('%s: unexpected error', prog, exc_info=True)
        print('%s: unexpected error: %s: %s' % (
            prog, type(e).__name__, (str(e).splitlines() or [''])[0]),
            file=sys.stderr)
        return EXIT_UNEXPECTED
