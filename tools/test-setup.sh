#!/bin/bash -xe
#
# Prepare the databases and the message bus for the functional and e2e
# tests on an OpenStack CI node (run by the openstack-tox jobs before tox).
# The tests create and drop their own databases, so the user needs the
# right to create databases. Locally, .ci/run does the equivalent.

DB_USER=openstack_citest
DB_PW=openstack_citest

sudo -H mysql -v -e "
    CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$DB_PW';
    CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PW';
    GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost' WITH GRANT OPTION;
    FLUSH PRIVILEGES;"

# Trust this user's connections from 127.0.0.1, as the tests connect
# without a password (first line: the first matching line wins).
pg_hba=$(sudo -H -u postgres psql -t -A -c "SHOW hba_file;")
sudo sed -i "1i host all $DB_USER 127.0.0.1/32 trust" "$pg_hba"
sudo -H -u postgres psql -c \
    "CREATE ROLE $DB_USER WITH LOGIN SUPERUSER CREATEDB;"
sudo systemctl reload postgresql

sudo rabbitmqctl status
