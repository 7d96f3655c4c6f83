#!/bin/bash -xe
#
# Prepare MariaDB, PostgreSQL and RabbitMQ for the tests: the openstack-tox
# jobs run this on an OpenStack CI node before tox (with sudo, which they
# revoke before tox runs); .ci/run runs it as root. Safe to run again.
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

as_root rabbitmq-plugins enable rabbitmq_management
for _ in $(seq 60); do
    if curl --silent --fail --user guest:guest "$RABBIT_API/whoami"; then
        exit 0
    fi
    sleep 2
done
echo "RabbitMQ's management API at $RABBIT_API did not answer in 120s" >&2
exit 1
