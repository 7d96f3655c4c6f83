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

"""Check this repository's Zuul configuration with Zuul's own loader.

yaml.safe_load accepts an unknown job attribute, a wrong type or a job
list naming a job nobody defined; Zuul rejects them, but only once the
change is pushed. This loads .zuul.yaml (or zuul.yaml, zuul.d/) the way
Zuul loads an in-repo configuration: Zuul's YAML loader with its source
context, its parsers for every stanza (their schemas decide), then its
layout (jobs, project templates, projects added to a tenant's layout).
Zuul's own messages are printed; nothing here restates its schema.

Given git checkouts of the repositories the jobs build on (for example
openstack/openstack-zuul-jobs and openstack/devstack), their
configuration is loaded too, read from their HEAD as Zuul reads a
branch, and every project template, parent job and pipeline job named
here must then be defined here or there. Without checkouts, those names
are taken on trust and listed, except jobs named after this project,
which must be defined here. The playbooks the jobs here name must exist
in this repository either way.

Exit codes: 0 the configuration loads without error, 1 Zuul reported an
error or a warning (or a playbook is missing), 2 bad arguments.
"""

import argparse
import collections
import configparser
from importlib import metadata
import os
import sys

import git
from zuul import configloader
from zuul.driver import git as zuul_git
from zuul.lib import ansible
from zuul.lib import connections as zuul_connections
from zuul import model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# OpenStack's Zuul reads every project from opendev.org.
BASEURL = 'https://opendev.org'
CONNECTION = 'opendev'
BRANCH = 'master'
THIS_PROJECT = 'openstack/nova-hostguard'
# The repositories that may only define jobs and templates, as an
# OpenStack tenant uses them here; only this repository's project
# stanzas are loaded.
REFERENCE_CLASSES = frozenset(
    configloader.TenantParser.all_classes) - {'project', 'pipeline'}
KNOWN_CHECKOUTS = {
    'zuul-jobs': 'zuul/zuul-jobs',
    'openstack-zuul-jobs': 'openstack/openstack-zuul-jobs',
    'devstack': 'openstack/devstack',
}
# Stands in for the repositories that define what this one uses.
UNCHECKED = 'unchecked/elsewhere'


class UsageError(Exception):
    """Arguments that cannot be acted on (exit code 2)."""


class GitOnlyRegistry(zuul_connections.ConnectionRegistry):
    """Zuul's connection registry with only its git driver.

    Zuul's registry loads every driver, and its bubblewrap driver runs
    the bwrap binary at once; no driver but the source of the projects
    plays a part in loading an in-repo configuration.
    """

    def __init__(self):
        self.connections = collections.OrderedDict()
        self.drivers = {}
        self.registerDriver(zuul_git.GitDriver())


def make_tenant(ansible_manager):
    """A tenant as TenantParser.fromYaml makes one from just a name.

    fromYaml itself needs ZooKeeper and mergers; these are the values it
    gives a tenant whose configuration sets nothing else.
    """
    tenant = model.Tenant('check')
    tenant.anonymous_read_access = True
    tenant.role_mappings = {}
    tenant.allowed_triggers = None
    tenant.allowed_reporters = None
    tenant.allowed_labels = None
    tenant.disallowed_labels = None
    tenant.default_base_job = 'base'
    tenant.use_nodepool = True
    tenant.default_ansible_version = ansible_manager.default_version
    return tenant


class Checker(object):
    """A one-tenant Zuul layout holding this repository's configuration."""

    def __init__(self, project_name, repo):
        self.project_name = project_name
        self.repo = repo
        config = configparser.ConfigParser()
        config['connection %s' % CONNECTION] = {
            'driver': 'git', 'baseurl': BASEURL}
        self.connections = GitOnlyRegistry()
        self.connections.configure(config, sources=True)
        self.source = self.connections.getSource(CONNECTION)
        zuul_globals = model.SystemAttributes.fromConfig(config)
        loader = configloader.ConfigLoader(
            self.connections, None, None, zuul_globals, None)
        self.parser = loader.tenant_parser
        ansible_manager = ansible.AnsibleManager()
        self.pcontext = configloader.ParseContext(
            self.connections, zuul_globals, None, ansible_manager)
        self.tenant = make_tenant(ansible_manager)
        self.parsed = model.ParsedConfig()
        self.notes = []

    def add_project(self, name, classes=()):
        """Add a project to the tenant; classes it may configure."""
        tpc = model.TenantProjectConfig(self.source.getProject(name))
        tpc.load_classes = set(classes)
        tpc.branches = [BRANCH]
        self.tenant.addTPC(tpc)
        return tpc

    def load(self, tpc, files):
        """Parse files ({path: text}) as Zuul parses a project-branch's.

        The loop of TenantParser._updateConfigObjectCache, without its
        ZooKeeper cache: one configuration root, files in sorted order.
        """
        project = tpc.project
        branch_config = model.ParsedConfig()
        loaded = None
        for conf_root in configloader.ZUUL_CONF_ROOT:
            for path in sorted(files):
                if path != conf_root and not path.startswith(conf_root + '/'):
                    continue
                context = model.SourceContext(
                    project.canonical_name, project.name,
                    project.connection_name, BRANCH, path)
                with self.pcontext.errorContext(source_context=context):
                    if loaded and loaded != conf_root:
                        self.pcontext.accumulator.addError(
                            configloader.MultipleProjectConfigurations(
                                context))
                        continue
                    loaded = conf_root
                    parsed = self.parser.loadProjectYAML(
                        files[path], context, self.pcontext)
                self.parser.addProjectBranchConfig(
                    self.pcontext, branch_config, self.tenant, tpc, parsed,
                    trusted=False)
        self.parser.addProjectBranchConfig(
            self.pcontext, self.parsed, self.tenant, tpc, branch_config,
            trusted=False)
        return branch_config

    def own_jobs(self, layout):
        return [job for jobs in layout.jobs.values() for job in jobs
                if job.source_context and
                job.source_context.project_name == self.project_name]

    def add_required_projects(self, own_config):
        """Add the projects jobs require: OpenStack's tenant has them.

        Zuul drops a job, or a template, whose required project is not
        in the tenant; which projects opendev.org has cannot be known
        offline, so every name is taken to exist (and ours are listed).
        """
        missing = required_projects(self.parsed) - set(
            self.tenant.project_configs)
        for name in sorted(missing):
            self.add_project(name.split('/', 1)[1])
        ours = sorted(n.split('/', 1)[1] for n in
                      required_projects(own_config) & missing)
        if ours:
            self.notes.append('required-projects taken to exist on %s: %s'
                              % (BASEURL, ', '.join(ours)))

    def stand_ins(self, own_config):
        """Stand-ins for the templates and jobs defined elsewhere.

        Without them Zuul stops at the first unknown name; with them it
        goes on to check everything else. Said so in the notes. A typo
        in such a name shows only there: checkouts catch it.
        """
        templates, jobs = set(), set()
        for project in own_config.projects:
            templates.update(project.templates)
            for ppc in project.pipelines.values():
                jobs.update(ppc.job_list.jobs)
        jobs.update(job.parent for job in own_config.jobs
                    if isinstance(job.parent, str))
        templates -= {t.name for t in self.parsed.project_templates}
        jobs -= {job.name for job in self.parsed.jobs}
        # A job named after this project is defined here or nowhere.
        own = self.project_name.split('/')[-1] + '-'
        jobs = {name for name in jobs if not name.startswith(own)}
        if not (templates or jobs):
            return
        tpc = self.add_project(UNCHECKED, REFERENCE_CLASSES)
        self.load(tpc, {'zuul.yaml': ''.join(
            ['- project-template:\n    name: %s\n' % t
             for t in sorted(templates)] +
            ['- job:\n    name: %s\n' % j for j in sorted(jobs)])})
        self.notes.append(
            'defined elsewhere, not checked (give the checkouts that '
            'define them): %s' % ', '.join(sorted(templates | jobs)))

    def layout(self):
        return self.parser._parseLayout(self.tenant, self.parsed,
                                        self.pcontext)

    def missing_playbooks(self, layout):
        """Playbooks this repository's jobs name that it does not have."""
        problems = []
        for job in self.own_jobs(layout):
            for playbook in (job.pre_run + job.run + job.post_run +
                             job.cleanup_run):
                if not os.path.isfile(os.path.join(self.repo,
                                                   playbook.path)):
                    problems.append('job %s: playbook %s does not exist'
                                    % (job.name, playbook.path))
        return sorted(set(problems))


def required_projects(parsed):
    """Canonical names of the projects the jobs in parsed require."""
    jobs = list(parsed.jobs)
    for config in parsed.project_templates + parsed.projects:
        jobs.extend(config.embeddedJobs())
    hostname = BASEURL.split('//')[1]
    names = set()
    for job in jobs:
        for name in job.required_projects:
            if not name.startswith(hostname + '/'):
                name = hostname + '/' + name
            names.add(name)
    return names


def config_files_in_tree(root):
    """Zuul's configuration files in a work tree: {path: text}."""
    files = {}
    for conf_root in configloader.ZUUL_CONF_ROOT:
        path = os.path.join(root, conf_root)
        if os.path.isfile(path):
            names = [conf_root]
        elif os.path.isdir(path):
            names = [os.path.relpath(os.path.join(d, f), root)
                     for d, _, fs in os.walk(path) for f in fs
                     if f.endswith('.yaml')]
        else:
            continue
        for name in names:
            with open(os.path.join(root, name)) as f:
                files[name] = f.read()
    return files


def config_files_at_head(path):
    """Zuul's configuration files at a git repository's HEAD."""
    commit = git.Repo(path).commit('HEAD')
    files = {}
    for conf_root in configloader.ZUUL_CONF_ROOT:
        try:
            item = commit.tree[conf_root]
        except KeyError:
            continue
        blobs = ([item] if item.type == 'blob' else
                 [b for b in item.traverse() if b.type == 'blob' and
                  b.path.endswith('.yaml')])
        for blob in blobs:
            files[blob.path] = blob.data_stream.read().decode('utf-8')
    return commit.hexsha, files


def parse_checkout(arg):
    """'[NAME=]PATH' to (project name, path)."""
    name, sep, path = arg.rpartition('=')
    if not sep:
        base = os.path.basename(os.path.normpath(path))
        if base not in KNOWN_CHECKOUTS:
            raise UsageError(
                '%s: say which project it is: NAME=PATH (known by '
                'directory name: %s)' % (arg, ', '.join(KNOWN_CHECKOUTS)))
        name = KNOWN_CHECKOUTS[base]
    if not os.path.isdir(path):
        raise UsageError('%s: no such directory' % path)
    return name, path


def load_checkouts(checker, checkouts):
    for name, path in checkouts:
        try:
            sha, files = config_files_at_head(path)
        except (git.exc.InvalidGitRepositoryError, git.exc.BadName,
                ValueError) as e:
            raise UsageError('%s: not a git repository with a HEAD (%s)'
                             % (path, e))
        if not files:
            raise UsageError('%s: no Zuul configuration at HEAD (%s)'
                             % (path, sha))
        checker.notes.append('checked against %s at %s' % (name, sha))
        checker.load(checker.add_project(name, REFERENCE_CLASSES), files)


def own_problems(layout, project_name):
    """Zuul's errors and warnings in project_name's configuration.

    A warning counts: Zuul ignores that part of the configuration, or
    will stop accepting it.
    """
    problems, elsewhere = [], 0
    for error in layout.loading_errors.errors:
        context = error.key.context
        if context and context.project_name != project_name:
            # Another repository's business (a job it builds on from a
            # repository not given, a secret not decryptable here).
            elsewhere += 1
        elif error.severity == model.SEVERITY_WARNING:
            problems.append('WARNING\n%s' % error.error)
        else:
            problems.append('ERROR\n%s' % error.error)
    return problems, elsewhere


def check(repo, project_name, checkouts):
    """Load everything into one layout; return (problems, notes)."""
    checker = Checker(project_name, repo)
    load_checkouts(checker, checkouts)
    own_files = config_files_in_tree(repo)
    if not own_files:
        raise UsageError('%s: no Zuul configuration found' % repo)
    own = checker.load(checker.add_project(
        project_name, configloader.TenantParser.all_classes), own_files)
    checker.add_required_projects(own)
    if not checkouts:
        checker.stand_ins(own)
    layout = checker.layout()
    problems, elsewhere = own_problems(layout, project_name)
    if elsewhere:
        checker.notes.append('%d error(s) in the checkouts\' own '
                             'configuration, not this one\'s: ignored'
                             % elsewhere)
    problems += ['ERROR\n%s' % p for p in checker.missing_playbooks(layout)]
    return problems, checker.notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'checkouts', nargs='*', metavar='[NAME=]CHECKOUT',
        help='git checkout of a repository whose jobs or templates this '
             'configuration uses (read at its HEAD)')
    parser.add_argument('--repo', default=REPO,
                        help='repository to check (default: this one)')
    parser.add_argument('--project', default=THIS_PROJECT,
                        help='its project name (default: %(default)s)')
    args = parser.parse_args(argv)
    try:
        checkouts = [parse_checkout(arg) for arg in args.checkouts]
        problems, notes = check(args.repo, args.project, checkouts)
    except UsageError as e:
        print('zuul-check: %s' % e, file=sys.stderr)
        return 2
    for note in notes:
        print('zuul-check: %s' % note)
    for problem in problems:
        print('zuul-check: %s\n' % problem, file=sys.stderr)
    version = metadata.version('zuul')
    if problems:
        print('zuul-check: %s: Zuul %s rejects its configuration: %d '
              'problem(s), above' % (args.project, version, len(problems)),
              file=sys.stderr)
        return 1
    print('zuul-check: %s: Zuul %s loads its configuration without error'
          % (args.project, version))
    return 0


if __name__ == '__main__':
    sys.exit(main())
