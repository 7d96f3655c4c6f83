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


"""What nova's own log says about a service: read by every harness.

Kept free of test-only imports: the devstack reproduction imports it in
devstack's virtualenv, which has nova but not this project's test
requirements.
"""

#: The debug line nova logs once a service has started: after the
#: resource tracker's first pass and the RPC servers.
STARTED = 'Join ServiceGroup membership for this service'
