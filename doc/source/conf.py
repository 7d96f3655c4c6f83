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

"""Sphinx configuration of the nova-hostguard documentation."""

from sphinx.writers import manpage

extensions = [
    'openstackdocstheme',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
]

# The sample configuration file, generated from the installed package's
# oslo.config.opts entry point as `tox -e genconfig` does, into _static/
# (configuration/sample.rst shows it and links to it).
config_generator_config_file = (
    '../../etc/oslo-config-generator/nova-hostguard.conf')
sample_config_basename = '_static/nova-hostguard'

openstackdocs_repo_name = 'openstack/nova-hostguard'
openstackdocs_bug_project = 'nova-hostguard'
openstackdocs_bug_tag = ''
openstackdocs_auto_name = False

source_suffix = '.rst'
master_doc = 'index'
project = 'nova-hostguard'
copyright = '2026, nova-hostguard developers'
exclude_patterns = []
pygments_style = 'native'
html_theme = 'openstackdocs'
html_static_path = ['_static']

# `sphinx-build -b man` (tox -e docs): section 1 pages of the two commands,
# from their pages under cli/.
man_pages = [
    ('cli/nova-hostguard-manage', 'nova-hostguard-manage',
     'apply the constraint of nova-hostguard to nova\'s cell databases; '
     'audit and repair split hypervisors',
     ['nova-hostguard developers'], 1),
    ('cli/nova-hostguard-status', 'nova-hostguard-status',
     'upgrade checks of nova-hostguard',
     ['nova-hostguard developers'], 1),
]


class ManualPageTranslator(manpage.ManualPageTranslator):
    """Sphinx's man page writer, rendering references as Sphinx does.

    docutils 0.22 sets its own reference handlers on each translator
    instance; they hide Sphinx's and print an empty ``<>`` after every
    cross-reference (sphinx-doc/sphinx#14427). Drop them, and give Sphinx's
    handler the markup (italics) docutils no longer defines.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        vars(self).pop('visit_reference', None)
        vars(self).pop('depart_reference', None)
        self.defs.setdefault('reference', (r'\fI', r'\fP'))


def setup(app):
    app.set_translator('man', ManualPageTranslator)
