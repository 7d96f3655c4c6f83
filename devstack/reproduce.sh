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
# Run the bug 1419785 story on a devstack stacked with
# HOSTGUARD_REPRODUCTION=True, as the stack user:
#
#     devstack/reproduce.sh --expect refusal|bug [--report FILE]
#
# Paths, the python nova runs with and how systemd is reached come from
# devstack's own settings (its stackrc and local.conf, lib/nova and this
# plugin's settings), as they were when stack.sh ran. TOP_DIR is the
# devstack checkout, by default the devstack directory beside this one.

set -o errexit

HOSTGUARD_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOP_DIR=${TOP_DIR:-$(dirname "$HOSTGUARD_REPO")/devstack}

source "$TOP_DIR/functions"
source "$TOP_DIR/stackrc"
source "$TOP_DIR/lib/nova"
source "$HOSTGUARD_REPO/devstack/settings"
source "$HOSTGUARD_REPO/devstack/lib/nova-hostguard"

cd "$HOSTGUARD_REPO"
exec "$(hostguard_python)" -m tests.harness.reproduction.run --cloud devstack \
    --conf-dir "$NOVA_CONF_DIR" --data-dir "$HOSTGUARD_DATA_DIR" \
    --systemctl "$SYSTEMCTL" "$@"
