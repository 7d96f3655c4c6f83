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


"""repair's look for sessions waiting on its locks, by server flavour.

MariaDB and MySQL 5.7 show lock waits in ``information_schema``; MySQL
8.0 removed those views for ``performance_schema.data_lock_waits``. The
query for each flavour runs here on the servers this suite has: MariaDB
(one server and a Galera node) and PostgreSQL. No MySQL 8.0 server runs
here: its query is chosen by version and is not run.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import pymysql
import testtools

from nova_hostguard import repair
from tests.db import base


class FlavourTest(testtools.TestCase):
    """The flavour of a connected MySQL dialect, by what the server said."""

    def dialect(self, version, is_mariadb):
        dialect = pymysql.dialect()
        dialect.server_version_info = version
        dialect.is_mariadb = is_mariadb
        return dialect

    def test_mariadb_of_any_version(self):
        self.assertEqual('mariadb', repair._flavour(
            self.dialect((10, 11, 19), True)))
        self.assertEqual('mariadb', repair._flavour(
            self.dialect((11, 4, 2), True)))

    def test_mysql_8_and_newer_use_performance_schema(self):
        self.assertEqual('mysql', repair._flavour(
            self.dialect((8, 0, 36), False)))
        self.assertEqual('mysql', repair._flavour(
            self.dialect((9, 1, 0), False)))

    def test_a_mariadb_url_is_mariadb(self):
        # SQLAlchemy's mariadb:// dialect is named 'mariadb', not 'mysql'.
        engine = sa.create_engine('mariadb+pymysql://u@127.0.0.1/nova')
        self.assertEqual('mariadb', repair._flavour(engine.dialect))

    def test_mysql_5_7_keeps_the_information_schema_views(self):
        self.assertEqual('mariadb', repair._flavour(
            self.dialect((5, 7, 44), False)))


class WaitersQueryTest(base.CommandTestCase):
    """On a real server: its flavour's query runs, and finds a waiter."""

    scenarios = base.SERVER_BACKENDS + [('galera', {'backend': 'galera'})]

    def test_the_flavour_s_query_runs_and_sees_a_waiting_session(self):
        self.add_instance('hostB', 'hv1')
        with self.db.engine.connect() as holder:
            flavour = repair._flavour(holder.dialect)
            self.assertEqual({'mysql': 'mariadb', 'galera': 'mariadb',
                              'postgresql': 'postgresql'}[self.backend],
                             flavour)
            holder.begin()
            holder.execute(sa.text("UPDATE instances SET host = 'hostA'"))
            query = repair.WAITERS[flavour]
            waiter, result = self.in_thread(self._update_instances)
            # Seen from another session first: the holder looks once, as
            # the repair does (PostgreSQL reads pg_stat_activity once a
            # transaction; MariaDB refreshes its lock views only after
            # 0.1 s without a read).
            self.wait_for_lock_waits(1)
            self.assertIsNotNone(holder.execute(query).first())
            holder.rollback()
        waiter.join(60)
        self.assertEqual({'value': 1}, result)

    def _update_instances(self):
        with self.db.engine.begin() as conn:
            return conn.execute(sa.text(
                "UPDATE instances SET task_state = 'migrating'")).rowcount
