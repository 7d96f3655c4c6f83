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

"""The real services tests talk to: databases, RabbitMQ, etcd, Redis.

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

etcd and Redis, and MariaDB and PostgreSQL again, are the tooz lock
backends of ``[hostguard] backend_url``: :func:`coordination_url` names
each (:data:`COORDINATION_BACKENDS`). etcd and Redis need no preparation;
the tests take uniquely named locks.
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
ETCD_HOST = os.environ.get('HOSTGUARD_ETCD_HOST', '127.0.0.1')
ETCD_PORT = int(os.environ.get('HOSTGUARD_ETCD_PORT', '2379'))
REDIS_HOST = os.environ.get('HOSTGUARD_REDIS_HOST', '127.0.0.1')
REDIS_PORT = int(os.environ.get('HOSTGUARD_REDIS_PORT', '6379'))
#: The SQL ports of the three-node MariaDB Galera cluster on MYSQL_HOST
#: (tools/galera-cluster.sh; .ci/run starts it), same user as MariaDB's.
GALERA_PORTS = [int(p) for p in os.environ.get(
    'HOSTGUARD_GALERA_PORTS', '3307,3308,3309').split(',')]
#: tooz's MySQL driver needs a database to connect to, though its locks
#: (GET_LOCK) are the server's; every user may connect to this one, so
#: there is nothing to create.
MYSQL_LOCK_DATABASE = 'information_schema'

SERVICES = {
    'mysql': (MYSQL_HOST, MYSQL_PORT),
    'postgresql': (PG_HOST, PG_PORT),
    'rabbitmq': (RABBIT_HOST, RABBIT_PORT),
    'etcd': (ETCD_HOST, ETCD_PORT),
    'redis': (REDIS_HOST, REDIS_PORT),
    'galera': (MYSQL_HOST, GALERA_PORTS[0]),
}

#: The tooz backends the lock mode is tested on, as services of SERVICES.
COORDINATION_BACKENDS = ('etcd', 'redis', 'mysql', 'postgresql')

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
    if service == 'etcd':
        return _etcd_refusal()
    if service == 'redis':
        return _redis_refusal()
    if service == 'galera':
        return _galera_refusal()
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


def galera_url(node, database=''):
    """The URL of the Galera cluster's ``node`` (0, 1, 2), as MariaDB's."""
    return 'mysql+pymysql://%s@%s:%s/%s?charset=utf8' % (
        _auth(MYSQL_USER, MYSQL_PASSWORD), MYSQL_HOST, GALERA_PORTS[node],
        database)


def rabbit_url(vhost):
    return 'rabbit://%s@%s:%s/%s' % (_auth(RABBIT_USER, RABBIT_PASSWORD),
                                     RABBIT_HOST, RABBIT_PORT, vhost)


def coordination_url(backend, **options):
    """The tooz URL of a lock backend of COORDINATION_BACKENDS.

    ``options`` become its query string, e.g. ``timeout=5`` (etcd's and
    Redis's lock and membership lease, in seconds).
    """
    if backend == 'etcd':
        url = 'etcd3+http://%s:%s' % (ETCD_HOST, ETCD_PORT)
    elif backend == 'redis':
        url = 'redis://%s:%s' % (REDIS_HOST, REDIS_PORT)
    elif backend == 'mysql':
        url = 'mysql://%s@%s:%s/%s' % (_auth(MYSQL_USER, MYSQL_PASSWORD),
                                       MYSQL_HOST, MYSQL_PORT,
                                       MYSQL_LOCK_DATABASE)
    elif backend == 'postgresql':
        url = 'postgresql://%s@%s:%s/postgres' % (
            _auth(PG_USER, PG_PASSWORD), PG_HOST, PG_PORT)
    else:
        raise ValueError('no tooz backend %r; there are %s' % (
            backend, ', '.join(COORDINATION_BACKENDS)))
    if options:
        url += '?' + parse.urlencode(sorted(options.items()))
    return url


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


def _etcd_refusal():
    where = 'etcd at %s:%s' % (ETCD_HOST, ETCD_PORT)
    try:
        response = requests.get(
            'http://%s:%s/health' % (ETCD_HOST, ETCD_PORT), timeout=5)
        response.raise_for_status()
        health = response.json().get('health')
    except (requests.RequestException, ValueError) as e:
        return '%s answers, but not its /health: %s' % (where, e)
    if health not in ('true', True):
        return '%s is not healthy: /health says %s' % (where, response.text)
    return None


def _redis_refusal():
    where = 'Redis at %s:%s' % (REDIS_HOST, REDIS_PORT)
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT),
                                      timeout=5) as s:
            s.sendall(b'PING\r\n')
            reply = s.recv(64)
    except OSError as e:
        return '%s does not answer PING: %s' % (where, e)
    if not reply.startswith(b'+PONG'):
        return '%s answers PING with %r, not +PONG' % (where, reply)
    return None


def _galera_refusal():
    """Unless every node answers, synced, in one cluster of them all."""
    for node, port in enumerate(GALERA_PORTS):
        where = 'Galera node %s:%s' % (MYSQL_HOST, port)
        engine = sa.create_engine(galera_url(node), poolclass=pool.NullPool)
        try:
            with engine.connect() as conn:
                status = dict(conn.execute(sa.text(
                    "SHOW STATUS WHERE Variable_name IN "
                    "('wsrep_cluster_size', 'wsrep_local_state_comment')")
                ).all())
        except sa.exc.DBAPIError as e:
            return '%s refuses user %r: %s' % (where, MYSQL_USER,
                                               str(e.orig).strip())
        finally:
            engine.dispose()
        if (status.get('wsrep_local_state_comment') != 'Synced' or
                status.get('wsrep_cluster_size') != str(len(GALERA_PORTS))):
            return ('%s is not a synced member of a %d-node cluster: %s '
                    '(tools/galera-cluster.sh start makes one)'
                    % (where, len(GALERA_PORTS), status))
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
