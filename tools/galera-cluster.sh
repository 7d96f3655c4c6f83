#!/bin/bash
#
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
#
# A three-node MariaDB Galera cluster on 127.0.0.1 for the tests
# (tests/db/test_galera.py): Debian's mariadb-server and galera-4, three
# mariadbd processes of the machine's own MariaDB, SQL ports 3307, 3308 and
# 3309 (HOSTGUARD_GALERA_PORTS), group communication on 4567/4577/4587,
# state transfer by rsync. The first node bootstraps the cluster and
# creates the tests' user openstack_citest; the others join it.
#
#   tools/galera-cluster.sh start [DIR]   # idempotent; DIR holds the data
#   tools/galera-cluster.sh status        # exit 0 when all three are synced
#   tools/galera-cluster.sh stop [DIR]
#
# A throwaway cluster: start wipes DIR when the cluster does not answer.
# Each node's log is DIR/nodeN/error.log.

set -o errexit
set -o nounset
set -o pipefail

ACTION=${1:-start}
DIR=${2:-/var/tmp/hostguard-galera}
PROVIDER=${HOSTGUARD_GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
USER_NAME=openstack_citest
USER_PW=openstack_citest
NODES=(1 2 3)

# Node N (1, 2, 3): SQL port 3306+N, group port 4557+10N (IST one
# above), state transfer port 4434+10N.
function sql_port {
    echo $((3306 + $1))
}

function group_port {
    echo $((4557 + 10 * $1))
}

function sst_port {
    echo $((4434 + 10 * $1))
}

function query {
    local node=$1
    shift
    mysql --host=127.0.0.1 --port="$(sql_port "$node")" --user=$USER_NAME \
        --password=$USER_PW --batch --skip-column-names \
        --connect-timeout=3 -e "$@" 2>/dev/null
}

function synced {
    local node=$1
    [[ $(query "$node" "SHOW STATUS LIKE 'wsrep_local_state_comment'" \
        | cut -f2) == Synced ]] && \
    [[ $(query "$node" "SHOW STATUS LIKE 'wsrep_cluster_size'" \
        | cut -f2) == "${#NODES[@]}" ]]
}

function all_synced {
    local node
    for node in "${NODES[@]}"; do
        synced "$node" || return 1
    done
}

function write_config {
    local node=$1 dir=$DIR/node$1 address="" other
    for other in "${NODES[@]}"; do
        address+="${address:+,}127.0.0.1:$(group_port "$other")"
    done
    mkdir -p "$dir/data"
    cat > "$dir/my.cnf" <<EOF
[mariadbd]
user = mysql
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mysqld.pid
log-error = $dir/error.log
bind-address = 127.0.0.1
port = $(sql_port "$node")
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
default-storage-engine = InnoDB
innodb_buffer_pool_size = 64M
innodb_flush_log_at_trx_commit = 0
innodb_autoinc_lock_mode = 2
binlog_format = ROW
max_connections = 500
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = hostguard-galera
wsrep_cluster_address = gcomm://$address
wsrep_node_name = node$node
wsrep_node_address = 127.0.0.1:$(group_port "$node")
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:$(group_port "$node");ist.recv_addr=127.0.0.1:$(( $(group_port "$node") + 1 ));gcache.size=64M"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:$(sst_port "$node")
EOF
    chown -R mysql:mysql "$dir"
}

function start_node {
    local node=$1 dir=$DIR/node$1
    shift
    start-stop-daemon --start --background --chuid mysql \
        --pidfile "$dir/mysqld.pid" --exec /usr/sbin/mariadbd -- \
        --defaults-file="$dir/my.cnf" "$@"
}

function wait_for {
    local what=$1 node=$2 waited=0
    until "$what" "$node"; do
        if [[ $waited -ge 120 ]]; then
            echo "galera: node$node: not $what after 120s;" \
                "see $DIR/node$node/error.log" >&2
            tail -20 "$DIR/node$node/error.log" >&2 || true
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

function bootstrapped {
    mysqladmin --socket="$DIR/node$1/mysqld.sock" --user=root ping \
        >/dev/null 2>&1
}

function joined {
    [[ $(query "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" \
        | cut -f2) == Synced ]]
}

function stop_cluster {
    local node
    for node in 3 2 1; do
        if [[ -f $DIR/node$node/mysqld.pid ]]; then
            start-stop-daemon --stop --quiet --oknodo --retry 60 \
                --exec /usr/sbin/mariadbd \
                --pidfile "$DIR/node$node/mysqld.pid" || true
        fi
    done
    # Nodes whose pidfile is gone (a cleaned /var/tmp) still hold ports.
    pkill -f -- "--defaults-file=$DIR/node" || true
    local waited=0
    while pgrep -f -- "--defaults-file=$DIR/node" >/dev/null; do
        if [[ $waited -ge 60 ]]; then
            pkill -KILL -f -- "--defaults-file=$DIR/node" || true
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# Synced, asked a few times: a node slow to answer under load, or
# briefly a donor, is no reason to rebuild a cluster tests may be using.
function settled {
    local try
    for try in $(seq 10); do
        if all_synced; then
            return 0
        fi
        pgrep -f -- "--defaults-file=$DIR/node" >/dev/null || return 1
        sleep 1
    done
    return 1
}

function start_cluster {
    if settled; then
        echo "galera: ${#NODES[@]} nodes synced on ports" \
            "$(sql_port 1)-$(sql_port 3)"
        return 0
    fi
    stop_cluster
    rm -rf "$DIR"
    local node
    for node in "${NODES[@]}"; do
        write_config "$node"
    done
    mariadb-install-db --defaults-file="$DIR/node1/my.cnf" \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$DIR/node1/install.log" 2>&1
    start_node 1 --wsrep-new-cluster
    wait_for bootstrapped 1
    mysql --socket="$DIR/node1/mysqld.sock" --user=root -e "
        CREATE USER '$USER_NAME'@'%' IDENTIFIED BY '$USER_PW';
        CREATE USER '$USER_NAME'@'localhost' IDENTIFIED BY '$USER_PW';
        GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'%' WITH GRANT OPTION;
        GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost'
            WITH GRANT OPTION;"
    # One joiner at a time: each takes its state from a synced donor.
    for node in "${NODES[@]:1}"; do
        start_node "$node"
        wait_for joined "$node"
    done
    wait_for synced 1
    echo "galera: ${#NODES[@]} nodes synced on ports" \
        "$(sql_port 1)-$(sql_port 3); data and logs in $DIR"
}

case $ACTION in
    start) start_cluster ;;
    stop) stop_cluster ;;
    status) all_synced ;;
    *) echo "usage: $0 start|stop|status [DIR]" >&2; exit 2 ;;
esac
