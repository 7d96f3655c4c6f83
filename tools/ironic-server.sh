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
# Make (or keep) the virtualenv of the real ironic the tests run:
#   tools/ironic-server.sh <directory>
# ironic 39.0.0 from PyPI with constraints/ironic-2026.2.txt. It is a
# virtualenv of its own because ironic 39 needs newer libraries than nova
# 34's constraints hold; nova talks to it over HTTP only. The tests find it
# through HOSTGUARD_IRONIC_BIN (<directory>/bin). Idempotent: a directory
# whose ironic is already that version is left as it is.

set -o errexit
set -o nounset
set -o pipefail

IRONIC_VERSION=39.0.0
venv=${1:?usage: $0 <virtualenv directory>}
constraints="$(cd "$(dirname "$0")/.." && pwd)/constraints/ironic-2026.2.txt"

if [[ -x $venv/bin/ironic ]] && \
        [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("ironic"))' 2>/dev/null) == "$IRONIC_VERSION" ]]; then
    exit 0
fi
echo "ironic-server: installing ironic $IRONIC_VERSION into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    -c "$constraints" "ironic==$IRONIC_VERSION"
