#!/bin/bash -xe
#
# Prepare MariaDB, PostgreSQL and RabbitMQ for the tests: the openstack-tox
# jobs run this on an OpenStack CI node before tox (with sudo, which they
# revoke before tox runs); .ci/run runs it as root. Safe to run again.
#
# The tests also expect etcd on 127.0.0.1:2379 and Redis on 127.0.0.1:6379
# (tooz lock backends for the tests of [hostguard] backend_url). They need
# no preparation: bindep.txt installs them and their packages start them
# under systemd; .ci/run starts them where nothing does. Here, an installed
# one that does not answer is started through systemd, if it runs.
#
# - MariaDB and PostgreSQL: the user openstack_citest, password
#   openstack_citest (tests/harness/backends.py's defaults, the OpenStack CI
#   convention). The tests create and drop their own databases, and read
#   the catalogs, so the user may do anything.
# - RabbitMQ: the management plugin, whose HTTP API (guest/guest, from
#   localhost) the tests use to create and delete their virtual hosts.

DB_USER=openstack_citest
DB_PW=openstack_citest
RABBIT_API=http://127.0.0.1:15672/api

# As root, or as the postgres user, with sudo unless we are root already.
if [[ $EUID -eq 0 ]]; then
    function as_root { "$@"; }
    function as_postgres { runuser -u postgres -- "$@"; }
else
    function as_root { sudo -H "$@"; }
    function as_postgres { sudo -H -u postgres "$@"; }
fi

as_root mysql -v -e "
    CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PW';
    CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PW';
    ALTER USER '$DB_USER'@'%' IDENTIFIED BY '$DB_PW';
    ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PW';
    GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
    FLUSH PRIVILEGES;"

# The tests log in with the password (the distributions' pg_hba.conf asks
# for one on 127.0.0.1), so pg_hba.conf stays as it is.
as_postgres psql -X -v ON_ERROR_STOP=1 <<EOF
SELECT 'CREATE ROLE $DB_USER'
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER')
\gexec
ALTER ROLE $DB_USER WITH LOGIN SUPERUSER CREATEDB PASSWORD '$DB_PW';
EOF

# etcd-server's unit is etcd, redis-server's redis-server.
if [[ -d /run/systemd/system ]]; then
    if command -v etcd >/dev/null && \
            ! curl --silent --fail --max-time 3 http://127.0.0.1:2379/health; then
        as_root systemctl start etcd || true
    fi
    if command -v redis-server >/dev/null && \
            ! redis-cli -h 127.0.0.1 -p 6379 ping; then
        as_root systemctl start redis-server || true
    fi
fi

# The three-node MariaDB Galera cluster of tests/db/test_galera.py, on
# 127.0.0.1:3307-3309, where bindep installed galera-4 (idempotent).
if [[ -e /usr/lib/galera/libgalera_smm.so ]]; then
    as_root "$(dirname "$0")/galera-cluster.sh" start
fi

as_root rabbitmq-plugins enable rabbitmq_management
for _ in $(seq 60); do
    if curl --silent --fail --user guest:guest "$RABBIT_API/whoami"; then
        exit 0
    fi
    sleep 2
done
echo "RabbitMQ's management API at $RABBIT_API did not answer in 120s" >&2
exit 1
