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

"""Alembic environment of nova-hostguard's migrations.

Our revisions live in nova's cell databases next to nova's own, so they
keep their own version table: nova's ``alembic_version`` is never read or
written. Migrations run online only, on a connection given by
:mod:`nova_hostguard.db.migration`.
"""

from alembic import context

from nova_hostguard.db import migration

connection = context.config.attributes.get('connection')
if connection is None or context.is_offline_mode():
    raise RuntimeError('nova-hostguard migrations run only through '
                       'nova-hostguard-manage db sync')

context.configure(
    connection=connection,
    version_table=migration.VERSION_TABLE,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
