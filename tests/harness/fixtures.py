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

"""Fixtures shared by the test suites, tools/bench.py and the demo."""

import os
import sysconfig
import unittest
import uuid

import fixtures
import stevedore

from nova_hostguard import conf as hostguard_conf

#: The two lines of nova.conf that switch the guard on, with their sections;
#: a ``mode = ...`` line appended goes to ``[hostguard]``.
GUARD_LINES = """
[DEFAULT]
config_source = hostguard

[hostguard]
driver = hostguard
"""

#: Namespace for the per-host node identities of the shared test hypervisor.
NODE_ID_NAMESPACE = uuid.UUID('0f6d3c1e-6bde-4a3f-9d64-6f2c1b1f9a11')


def nova_api_paste_ini():
    """The api-paste.ini the nova wheel installs under the data prefix."""
    return os.path.join(sysconfig.get_path('data'), 'etc', 'nova',
                        'api-paste.ini')


class ComputeNodeRegistryFixture(fixtures.Fixture):
    """Put nova's own ComputeNode and Service back in the registry afterwards.

    nova's test base does not restore the object registry, and installing
    the guard replaces ``ComputeNode`` and ``Service`` in it for the whole
    process (and wraps the resource tracker's ``_init_compute_node`` and
    ``_get_compute_node``, put back too).
    """

    def _setUp(self):
        from nova.compute import resource_tracker
        from nova import objects
        from nova.objects import base as objects_base
        from nova.objects import compute_node  # noqa: F401
        from nova.objects import service  # noqa: F401

        classes = objects_base.NovaObjectRegistry.obj_classes()
        saved = {name: (list(classes[name]), getattr(objects, name))
                 for name in ('ComputeNode', 'Service')}

        def restore():
            for name, (saved_classes, saved_attr) in saved.items():
                classes[name][:] = saved_classes
                setattr(objects, name, saved_attr)
        self.addCleanup(restore)
        for method in ('_init_compute_node', '_get_compute_node'):
            self.useFixture(fixtures.MockPatchObject(
                resource_tracker.ResourceTracker, method,
                getattr(resource_tracker.ResourceTracker, method)))


class GuardStateFixture(fixtures.Fixture):
    """Put the guard's process-wide state back afterwards.

    What switching the guard on, or a compute service's start, leaves
    behind in the process besides the object registry
    (:class:`ComputeNodeRegistryFixture`): the configuration the guard
    reads (``guard._settings``), the services whose start-up check has run
    (``startup._checked``, empty for the fixture's user), the moves refused
    and logged (``moves._refused``, empty too) and the cached state of the
    unique constraint (``constraint._known``); and it ends
    the start-up heartbeats (:meth:`end_startup_heartbeat`) of the
    services started meanwhile.
    """

    def _setUp(self):
        import weakref

        from nova_hostguard import constraint
        from nova_hostguard import guard
        from nova_hostguard import startup

        saved = dict(guard._settings)

        def restore():
            guard._settings.clear()
            guard._settings.update(saved)
        self.addCleanup(restore)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup._checked', weakref.WeakSet()))
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.moves._refused', set()))
        self.addCleanup(constraint.forget)

        self.claimed = []
        renew = startup._renew_claim

        def record(service, *args):
            self.claimed.append(service)
            return renew(service, *args)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_hostguard.startup._renew_claim', record))
        self.addCleanup(self.end_startup_heartbeat)

    def end_startup_heartbeat(self, service_ref=None):
        """End a start-up claim as the exit of its process would.

        A nova-compute that passed the start-up check renews its claim
        until nova's heartbeat moves the count (or the process exits). In
        one process, nova's ``Service.stop`` ends neither, and the thread
        would go on writing, into the next test's database too. This moves
        the count in memory, as nova's heartbeat does, without writing:
        the thread ends at its next wake.

        :param service_ref: the ``service_ref`` of a nova service stopped
            in-process; all the services started meanwhile if None.
        """
        for service in list(self.claimed):
            if service_ref is None or service is service_ref:
                service.report_count += 1
                self.claimed.remove(service)


class HostGuardFixture(fixtures.Fixture):
    """Switch the guard on the way oslo.config does, and off afterwards.

    oslo.config loads the ``oslo.config.driver`` namespace with stevedore,
    instantiating every driver, and calls the chosen one's
    ``open_source_from_opt_group`` with the group that names it. This does
    the same against ``conf``, and puts the object registry and the
    guard's state back on cleanup.
    """

    def __init__(self, conf, mode=None):
        super().__init__()
        self.conf = conf
        self.mode = mode

    def _setUp(self):
        self.useFixture(ComputeNodeRegistryFixture())
        self.state = self.useFixture(GuardStateFixture())
        drivers = stevedore.ExtensionManager(
            'oslo.config.driver', invoke_on_load=True)
        self.source = drivers['hostguard'].obj.open_source_from_opt_group(
            self.conf, hostguard_conf.GROUP)
        if self.mode is not None:
            self.conf.set_override('mode', self.mode, hostguard_conf.GROUP)
            self.addCleanup(self.conf.clear_override, 'mode',
                            hostguard_conf.GROUP)


class GuardSwitch:
    """For a test case: ``enable_guard`` switches the guard on for one test.

    Mixed into the database tests' and the functional tests' base classes.
    """

    def enable_guard(self, mode=None):
        from nova import conf

        return self.useFixture(HostGuardFixture(conf.CONF, mode=mode))


def run_case(case):
    """Run one test case of nova's framework outside a test runner.

    For programs that use nova's in-process functional framework (the
    demo, tools/bench.py): the framework is built in the case's
    ``setUp`` and taken down by its cleanups, which only running the case
    does.

    :returns: the tracebacks of its errors and failures (empty if none).
    """
    result = unittest.TestResult()
    case.run(result)
    return [trace for _case, trace in result.errors + result.failures]
