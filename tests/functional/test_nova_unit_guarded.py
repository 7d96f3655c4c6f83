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

"""nova's own unit tests of its ironic driver, with the guard on.

``nova.tests.unit.virt.ironic.test_driver``, unchanged, each test run
with the guard switched on after nova's own ``setUp``: what nova expects
of its ironic driver must still hold with the plugin in the process. Each
of nova's test classes gets a guarded subclass here (``load_tests``), so
nova's unguarded tests are not collected a second time.

nova's resource tracker unit tests are not run this way: some of them
call the tracker with a sentinel for a context, without a database, or
with ComputeNode objects made when nova's module is imported, before the
guard replaces the class, none of which a nova-compute does; the
tracker's moves are tested with the guard in nova's functional framework
and with real processes instead.
"""

import unittest

from nova.compute import resource_tracker
from nova.tests.unit.virt.ironic import test_driver

from tests.harness import fixtures as hostguard_fixtures

MODULES = (test_driver,)


class Guarded(hostguard_fixtures.GuardSwitch):
    """Mixed in before one of nova's test classes."""

    def setUp(self):
        super().setUp()
        self.enable_guard()
        # Switched on: nova's tracker finds its records through the check.
        assert getattr(resource_tracker.ResourceTracker._get_compute_node,
                       '_hostguard_moves', False)


def guarded_classes(module):
    for name, cls in sorted(vars(module).items()):
        if (isinstance(cls, type) and issubclass(cls, unittest.TestCase)
                and cls.__module__ == module.__name__
                and unittest.TestLoader().getTestCaseNames(cls)):
            yield type('Guarded' + name, (Guarded, cls),
                       {'__module__': __name__})


def load_tests(loader, standard_tests, pattern):
    suite = unittest.TestSuite()
    for module in MODULES:
        for cls in guarded_classes(module):
            suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite
