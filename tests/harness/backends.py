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
``tox -e functional`` never sets the flag). A service that answers but
refuses the tests' user always fails.

The tests log in as the OpenStack CI convention's user, ``openstack_citest``
(password ``openstack_citest``), on MariaDB and PostgreSQL, which
``tools/test-setup.sh`` creates (the gate runs it before tox; ``.ci/run``
runs it too); the ``HOSTGUARD_*`` variables below name others. RabbitMQ
virtual hosts are made through its management HTTP API (plugin
``rabbitmq_management``), as ``guest``, so that no test needs root.
"""

import os
import socket
from urllib import parse

import requests
import sqlalchemy as sa
from sqlalchemy import pool

MYSQL_HOST = os.environ.get('HOSTGUARD_MYSQL_HOST', '127.0.0.1')
MYSQL_PORT = int(os.environ.get('HOSTGUARD_MYSQL_PORT', '3306'))
MYSQL_USER = os.environ.get('HOSTGUARD_MYSQL_USER', 'openstack_citest')
MYSQL_PASSWORD = os.environ.get('HOSTGUARD_MYSQL_PASSWORD',
                                'openstack_citest')
PG_HOST = os.environ.get('HOSTGUARD_PG_HOST', '127.0.0.1')
PG_PORT = int(os.environ.get('HOSTGUARD_PG_PORT', '5432'))
PG_USER = os.environ.get('HOSTGUARD_PG_USER', 'openstack_citest')
PG_PASSWORD = os.environ.get('HOSTGUARD_PG_PASSWORD', 'openstack_citest')
RABBIT_HOST = os.environ.get('HOSTGUARD_RABBIT_HOST', '127.0.0.1')
RABBIT_PORT = int(os.environ.get('HOSTGUARD_RABBIT_PORT', '5672'))
RABBIT_MGMT_PORT = int(os.environ.get('HOSTGUARD_RABBIT_MGMT_PORT', '15672'))
RABBIT_USER = 'guest'
RABBIT_PASSWORD = 'guest'

SERVICES = {
    'mysql': (MYSQL_HOST, MYSQL_PORT),
    'postgresql': (PG_HOST, PG_PORT),
    'rabbitmq': (RABBIT_HOST, RABBIT_PORT),
}

SETUP_HINT = ('tools/test-setup.sh prepares it (.ci/run runs it; the gate '
              'runs it before tox), or name another with the HOSTGUARD_* '
              'variables of tests/harness/backends.py')


def answers(service):
    host, port = SERVICES[service]
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return False
    return True


def refusal(service):
    """Why a service that answers cannot serve the tests, or None."""
    if service == 'rabbitmq':
        return _management_refusal()
    url = mysql_url() if service == 'mysql' else pg_url()
    engine = sa.create_engine(url, poolclass=pool.NullPool)
    try:
        engine.connect().close()
    except sa.exc.DBAPIError as e:
        return '%s at %s:%s refuses user %r: %s' % (
            (service,) + SERVICES[service] + (engine.url.username,
                                              str(e.orig).strip()))
    finally:
        engine.dispose()
    return None


def require(test, *services):
    """Fail (or, in a plain local unit run, skip) unless all answer.

    A service that answers but refuses the tests' user, or a RabbitMQ
    whose management API does not answer, always fails.
    """
    missing = ['%s at %s:%s' % ((s,) + SERVICES[s])
               for s in services if not answers(s)]
    if not missing:
        refused = list(filter(None, map(refusal, services)))
        if refused:
            test.fail('; '.join(refused) + '. ' + SETUP_HINT)
        return
    message = 'needs %s, which did not answer' % ', '.join(missing)
    if (os.environ.get('HOSTGUARD_ALLOW_MISSING_BACKENDS') == '1' and
            not os.environ.get('CI')):
        test.skipTest(message + ' (skipped: HOSTGUARD_ALLOW_MISSING_BACKENDS'
                      '=1, a plain local run; CI never skips this)')
    test.fail(message + '; start it (see .ci/run) or, for a plain local '
              'unit run only, set HOSTGUARD_ALLOW_MISSING_BACKENDS=1')


def _auth(user, password):
    return user + (':' + parse.quote(password, safe='') if password else '')


def pg_url(database='postgres'):
    return 'postgresql+psycopg2://%s@%s:%s/%s' % (
        _auth(PG_USER, PG_PASSWORD), PG_HOST, PG_PORT, database)


def mysql_url(database=''):
    return 'mysql+pymysql://%s@%s:%s/%s?charset=utf8' % (
        _auth(MYSQL_USER, MYSQL_PASSWORD), MYSQL_HOST, MYSQL_PORT, database)


def rabbit_url(vhost):
    return 'rabbit://%s@%s:%s/%s' % (_auth(RABBIT_USER, RABBIT_PASSWORD),
                                     RABBIT_HOST, RABBIT_PORT, vhost)


def rabbit_api(method, path, **kwargs):
    """A request to RabbitMQ's management HTTP API; raises on an error."""
    response = requests.request(
        method, 'http://%s:%s/api/%s' % (RABBIT_HOST, RABBIT_MGMT_PORT, path),
        auth=(RABBIT_USER, RABBIT_PASSWORD), timeout=30, **kwargs)
    response.raise_for_status()
    return response


def _management_refusal():
    where = ('the RabbitMQ management API at http://%s:%s/api (plugin '
             'rabbitmq_management, user %s), which makes the tests\' '
             'virtual hosts' % (RABBIT_HOST, RABBIT_MGMT_PORT, RABBIT_USER))
    try:
        rabbit_api('GET', 'whoami')
    except requests.RequestException as e:
        return 'needs %s; it did not answer: %s' % (where, e)
    return None


def create_vhost(vhost, add_cleanup):
    """A RabbitMQ virtual host of its own, where guest may do anything.

    ``add_cleanup`` gets the vhost's deletion as soon as the vhost exists.
    """
    name = parse.quote(vhost, safe='')
    rabbit_api('PUT', 'vhosts/' + name)
    add_cleanup(rabbit_api, 'DELETE', 'vhosts/' + name)
    rabbit_api('PUT', 'permissions/%s/%s' % (name, RABBIT_USER),
               json={'configure': '.*', 'write': '.*', 'read': '.*'})
