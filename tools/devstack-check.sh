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
# Run nova-hostguard's devstack plugin inside a real devstack's own code,
# in stack.sh's order, without root, systemd or the network. Driven by
# tools/devstack_check.py, which prepares TOP_DIR (a copy of a devstack
# checkout with a local.conf enabling the plugin) and reads what this
# leaves in OUT.
#
# Usage: devstack-check.sh TOP_DIR OUT ROUNDS
#
# devstack's own stackrc, functions and lib/* are sourced and its own
# functions run: create_nova_conf, configure_neutron_nova (in the
# background with async_runfunc, as stack.sh does), the plugin's phases
# through run_phase, start_nova_compute (which copies nova.conf to
# nova-cpu.conf and writes the unit files) and the plugin's unstack and
# clean phases. Stand-ins replace only what needs root, systemd or the
# network, each recording its call in OUT/calls:
#   sudo         runs a file command (cat, chmod, chown, cp, grep, install,
#                mkdir, rm, sed, tee, touch) whose paths are all under OUT;
#                anything else is recorded, not run
#   systemctl, journalctl, rabbitmqctl, mysql
#                systemd and the servers
#   pip_install  the network (PyPI); the plugin's setup_develop still
#                runs devstack's own code down to it
#   edit-constraints
#                openstack/requirements' tool, installed from the network
#   nova-hostguard-manage, and the global virtualenv's python3
#                the database; the cloud devstack/reproduce.sh runs the
#                story against
# and nova's /etc/nova is moved under OUT (lib/nova hard-codes it; the
# driver edits that one line of its copy).
# configure_nova and init_nova are not run: they install rootwrap and
# sudoers files and create databases; create_nova_conf, which they call
# for nova.conf, is.
#
# The steps that race (configure_neutron_nova in the background, the
# post-config phase, async_wait) run ROUNDS times, each from the files
# create_nova_conf wrote; each round's files are kept in OUT/round-N for
# the driver to compare with a serial run's, and the files after
# start_nova_compute (nova-cpu.conf) in OUT/started.

# As stack.sh: errexit, no pipefail (devstack relies on that).
set -o errexit


TOP_DIR=$(cd "$1" && pwd)
OUT=$(cd "$2" && pwd)
ROUNDS=$3
CALLS=$OUT/calls

# stack.sh's start: devstack's functions, then local.conf and stackrc.
source "$TOP_DIR/functions"
source "$TOP_DIR/lib/stack"
GetDistro
rm -f "$TOP_DIR/.localrc.auto"
extract_localrc_section "$TOP_DIR/local.conf" "$TOP_DIR/localrc" \
    "$TOP_DIR/.localrc.auto"
source "$TOP_DIR/stackrc"

# Stand-ins: root, systemd, the servers and the network.
function record {
    echo "$*" >> "$CALLS"
}

# Every absolute path argument is /dev/null or under OUT. sed's /regex/
# arguments (spaces, ^, [ or backslashes in them) are no paths.
function _under_out {
    local arg
    for arg in "$@"; do
        case "$arg" in
            /dev/null|"$OUT"/*) ;;
            /*[[:space:]^[\\]*) ;;
            /*) return 1 ;;
        esac
    done
}

function sudo {
    while [[ "$1" == -* || "$1" == *=* ]]; do
        if [[ "$1" == "-u" ]]; then
            shift
        fi
        shift
    done
    if [[ " cat chmod chown cp grep install mkdir rm sed tee touch " == \
            *" $1 "* ]] && _under_out "${@:2}"; then
        "$@"
    else
        record "sudo (not run) $*"
    fi
}

function systemctl {
    record "systemctl $*"
}

function journalctl {
    record "journalctl $*"
}

function rabbitmqctl {
    record "rabbitmqctl $*"
}

function mysql {
    record "mysql $*"
}

function pip_install {
    record "pip_install PIP_VIRTUAL_ENV=${PIP_VIRTUAL_ENV:-} $*"
}

mkdir -p "$REQUIREMENTS_DIR/.venv/bin"
printf '#!/bin/bash\necho "edit-constraints $*" >> %q\n' "$CALLS" \
    > "$REQUIREMENTS_DIR/.venv/bin/edit-constraints"
chmod +x "$REQUIREMENTS_DIR/.venv/bin/edit-constraints"

# stack.sh: the database and message queue, then every project library.
async_init
source "$TOP_DIR/lib/database"
source "$TOP_DIR/lib/rpc_backend"
run_phase override_defaults
for lib in apache tls infra libraries lvm horizon keystone glance nova \
        placement cinder swift neutron ldap dstat atop tcpdump etcd3 os-vif; do
    source "$TOP_DIR/lib/$lib"
done
run_phase source
initialize_database_backends && define_database_baseurl

mkdir -p "$NOVA_CONF_DIR"

# Phase: stack install.
run_phase stack install

# stack.sh from nova.conf to nova-compute's start. devstack's
# create_nova_conf writes nova.conf and nova_cellN.conf once; each round
# starts again from what it wrote and runs the steps that race.
function save_round {
    local dir=$OUT/$1
    mkdir -p "$dir"
    cp "$NOVA_CONF_DIR"/*.conf "$dir"/
}

function restore_created {
    rm -f "$NOVA_CONF_DIR"/*.conf
    cp "$OUT/created"/*.conf "$NOVA_CONF_DIR"/
}

function configure_round {
    # stack.sh, "Configuring Nova": the neutron options in the background.
    async_runfunc configure_neutron_nova
    # Phase: stack post-config, while configure_neutron_nova may run.
    run_phase stack post-config
    merge_config_group "$TOP_DIR/local.conf" post-config
    async_wait configure_neutron_nova
    iniset "$NOVA_CONF" key_manager fixed_key "$FIXED_KEY"
}

FIXED_KEY=${FIXED_KEY:-hostguard-check}
create_nova_conf > "$OUT/create_nova_conf.log" 2>&1
save_round created
for round in $(seq 1 "$ROUNDS"); do
    restore_created
    configure_round > "$OUT/round-$round.log" 2>&1
    save_round "round-$round"
done
iniset "$NOVA_CPU_CONF" key_manager fixed_key "$FIXED_KEY"
start_nova_compute > "$OUT/start_nova_compute.log" 2>&1
save_round started

# Phase: stack extra; then unstack and clean.
run_phase stack extra
save_round after-extra
mkdir -p "$OUT/after-extra-units"
cp "$SYSTEMD_DIR"/devstack@* "$OUT/after-extra-units"/
if [[ "$HOSTGUARD_REPRODUCTION" == "True" ]]; then
    # What the gate's playbook runs next, in a shell of its own.
    env -i PATH="$PATH" HOME="$HOME" TOP_DIR="$TOP_DIR" \
        bash "$HOSTGUARD_DIR/devstack/reproduce.sh" --expect refusal \
        > "$OUT/reproduce.log" 2>&1
fi
record "--- unstack"
run_phase unstack
record "--- clean"
run_phase clean
