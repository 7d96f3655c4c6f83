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

"""The real services tests talk to: MariaDB, PostgreSQL, RabbitMQ.

A test that needs one calls :func:`require`. When the service does not
answer the test fails, loudly, naming what is missing; it skips instead
only when ``HOSTGUARD_ALLOW_MISSING_BACKENDS=1`` is set and ``CI`` is not,
which only a plain local ``tox -e py3`` run does (``.ci/run`` sets ``CI``;
``tox -e functional`` never sets the flag).
"""

import os
import socket

MYSQL_HOST = os.environ.get('HOSTGUARD_MYSQL_HOST', '127.0.0.1')
MYSQL_PORT = int(os.environ.get('HOSTGUARD_MYSQL_PORT', '3306'))
MYSQL_USER = os.environ.get('HOSTGUARD_MYSQL_USER', 'root')
MYSQL_PASSWORD = os.environ.get('HOSTGUARD_MYSQL_PASSWORD', '')
PG_HOST = os.environ.get('HOSTGUARD_PG_HOST', '127.0.0.1')
PG_PORT = int(os.environ.get('HOSTGUARD_PG_PORT', '5432'))
PG_USER = os.environ.get('HOSTGUARD_PG_USER', 'postgres')
RABBIT_HOST = os.environ.get('HOSTGUARD_RABBIT_HOST', '127.0.0.1')
RABBIT_PORT = int(os.environ.get('HOSTGUARD_RABBIT_PORT', '5672'))

SERVICES = {
    'mysql': (MYSQL_HOST, MYSQL_PORT),
    'postgresql': (PG_HOST, PG_PORT),
    'rabbitmq': (RABBIT_HOST, RABBIT_PORT),
}


def answers(service):
    host, port = SERVICES[service]
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return False
    return True


def require(test, *services):
    """Fail (or, in a plain local unit run, skip) unless all answer."""
    missing = ['%s at %s:%s' % ((s,) + SERVICES[s])
               for s in services if not answers(s)]
    if not missing:
        return
    message = 'needs %s, which did not answer' % ', '.join(missing)
    if (os.environ.get('HOSTGUARD_ALLOW_MISSING_BACKENDS') == '1' and
            not os.environ.get('CI')):
        test.skipTest(message + ' (skipped: HOSTGUARD_ALLOW_MISSING_BACKENDS'
                      '=1, a plain local run; CI never skips this)')
    test.fail(message + '; start it (see .ci/run) or, for a plain local '
              'unit run only, set HOSTGUARD_ALLOW_MISSING_BACKENDS=1')


def pg_url(database='postgres'):
    return 'postgresql+psycopg2://%s@%s:%s/%s' % (
        PG_USER, PG_HOST, PG_PORT, database)


def mysql_url(database=''):
    auth = MYSQL_USER + (':' + MYSQL_PASSWORD if MYSQL_PASSWORD else '')
    return 'mysql+pymysql://%s@%s:%s/%s?charset=utf8' % (
        auth, MYSQL_HOST, MYSQL_PORT, database)


def rabbit_url(vhost):
    return 'rabbit://guest:guest@%s:%s/%s' % (RABBIT_HOST, RABBIT_PORT, vhost)
