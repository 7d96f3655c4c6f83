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

"""The test tree; its map is doc/source/contributor/testing.rst.

Discovery from here (``.stestr.conf``, ``tox -e py3``) finds the suites
that need no nova process and no Zuul: ``unit``, ``db`` and ``tooling``,
so that one ``stestr run REGEX`` selects among all three. ``functional``,
``e2e`` and ``zuul`` have tox environments of their own, which discover
from their own directory; ``harness`` holds no tests.
"""

import os

#: The directories discovery from ``tests/`` looks in.
DISCOVERED = ('unit', 'db', 'lock', 'tooling')


def load_tests(loader, standard_tests, pattern):
    here = os.path.dirname(os.path.abspath(__file__))
    for name in DISCOVERED:
        standard_tests.addTests(loader.discover(
            os.path.join(here, name), pattern=pattern or 'test*.py',
            top_level_dir=os.path.dirname(here)))
    return standard_tests
