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

"""Name comparison is exact, and the same on every backend.

MariaDB compares nova's ``hypervisor_hostname`` column case- and
accent-insensitively and ignores trailing spaces (its ``utf8mb3_general_ci``
collation); PostgreSQL and SQLite compare bytes. The guard asks the
database for candidates and decides in Python, so its verdict does not
depend on the backend. "Nothing lost" for a refusal here means: every row
of ``compute_nodes`` is as it was before the refused create.
"""

from nova import exception
import sqlalchemy as sa

from nova_hostguard.db import migration
from nova_hostguard import lookup
from tests.db import base

UNICODE = 'hÿpervisor-ü-日本'
LONG = 'h' * 255


class ExactNamesTest(base.BackendTestCase):

    def setUp(self):
        super().setUp()
        self.enable_guard()

    def assert_refused(self, host, name, owner):
        before = self.db.rows('compute_nodes')
        exc = self.assertRaises(exception.InvalidConfiguration,
                                self.create, host, name)
        self.assertIn('hypervisor %r is already managed by host %r'
                      % (name, owner), str(exc))
        self.assertEqual(before, self.db.rows('compute_nodes'))

    def test_the_same_odd_name_is_refused_on_another_host(self):
        for name in ('hv1', '', LONG, UNICODE, ' hv1 ', 'hv%1', 'hv_1',
                     'hv\\1'):
            self.create('hostA', name)
            self.assert_refused('hostB', name, 'hostA')

    def test_names_that_differ_only_in_case_or_spaces_are_allowed(self):
        self.create('hostA', 'hv1')
        self.create('hostA', UNICODE)
        # One host each: nova's own unique (host, hypervisor_hostname,
        # deleted) is case-insensitive on MariaDB.
        for i, name in enumerate(('HV1', 'Hv1', 'hv1 ', ' hv1', 'hv1\t',
                                  'hv10', 'hv', UNICODE.upper(),
                                  'hypervisor-u-日本')):
            self.create('host%d' % i, name)
        self.assertEqual(11, len(self.db.rows('compute_nodes')))

    def test_null_names_never_conflict(self):
        self.create('hostA', None)
        self.create('hostB', None)
        self.assertEqual(2, len(self.db.rows('compute_nodes')))

    def test_a_soft_deleted_owner_does_not_count(self):
        owner = self.create('hostA', 'hv1')
        owner.destroy()
        self.create('hostB', 'hv1')

    def test_both_lookups_return_a_superset_of_the_exact_match(self):
        # The database lookup (conductor side) and nova's LIKE search
        # (compute side, over RPC) may return more than the exact match;
        # never less.
        names = ['hv1', 'HV1', 'hv1 ', 'hv10', 'hv%1', 'hv_1', 'hv\\1',
                 UNICODE, LONG]
        for i, name in enumerate(names):
            self.create('host%d' % i, name)
        for name in names:
            for find in (lookup._nodes_named_in_db,
                         lookup._nodes_named_over_rpc):
                found = [n.hypervisor_hostname for n in find(self.ctxt, name)]
                self.assertIn(name, found, (find.__name__, name))


class ExactNamesInTheConstraintTest(base.BackendTestCase):
    """The unique constraint compares names exactly as the guard does.

    Without the guard, through nova's own object layer: the database alone
    refuses the same name for a second live owner (nova's DuplicateRecord)
    and accepts every name that differs, on every backend.
    """

    def setUp(self):
        super().setUp()
        migration.upgrade(self.db.engine)

    def test_the_same_odd_name_is_refused_by_the_database(self):
        for name in ('hv1', '', LONG, UNICODE, ' hv1 ', 'hv%1', 'hv\\1'):
            self.create('hostA', name)
            before = self.db.rows('compute_nodes')
            self.assertRaises(exception.DuplicateRecord,
                              self.create, 'hostB', name)
            self.assertEqual(before, self.db.rows('compute_nodes'))

    def test_names_that_differ_are_accepted_by_the_database(self):
        names = ('hv1', 'HV1', 'Hv1', 'hv1 ', ' hv1', 'hv1\t', 'hv10',
                 UNICODE, UNICODE.upper(), 'hypervisor-u-日本',
                 'hv-\u00fc', 'hv-u\u0308', 'he', 'hé', LONG, LONG[:-1] + 'H',
                 '', ' ')
        for i, name in enumerate(names):
            self.create('host%d' % i, name)
        self.assertEqual(sorted(names),
                         sorted(r.hypervisor_hostname
                                for r in self.live_rows()))

    def test_null_names_and_deleted_rows_never_conflict(self):
        self.create('hostA', None)
        self.create('hostB', None)
        self.create('hostC', 'hv1').destroy()
        self.create('hostD', 'hv1').destroy()
        self.create('hostE', 'hv1')
        self.assertEqual(3, len(self.live_rows()))

    def live_rows(self):
        with self.db.engine.connect() as conn:
            return conn.execute(sa.text(
                'SELECT hypervisor_hostname FROM compute_nodes '
                'WHERE deleted = 0')).all()
