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

"""Start nova-compute on a hypervisor shared between hosts (test only).

nova loads ``compute_driver`` from ``nova.virt``, so a test cannot name a
driver of its own. This launcher runs the real ``nova-compute`` entry point
after making nova's fake driver report the hypervisor_hostname given in
``HOSTGUARD_TEST_HYPERVISOR`` and, when ``HOSTGUARD_TEST_GUESTS`` names a
file, keep its guests there, shared with every other process of that
hypervisor (:mod:`shared_hypervisor`). With ``FakeDriverWithoutFakeNodes``
each process keeps its node identity in its own ``state_path``, like the
two nova-compute services of an active/passive pair. Nothing is installed
into nova: the change lives in this process only.

Usage: ``python compute_launcher.py --config-file nova.conf``
"""

import os
import sys

from nova.cmd import compute  # first: it sets nova's concurrency mode
from nova.virt import fake

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shared_hypervisor  # noqa: E402


def main():
    hypervisor = os.environ['HOSTGUARD_TEST_HYPERVISOR']
    guests = os.environ.get('HOSTGUARD_TEST_GUESTS')

    def init_host(driver, host):
        driver._host = host
        driver._set_nodes([hypervisor])
        if guests:
            driver.instances = shared_hypervisor.SharedGuests(guests)

    fake.FakeDriver.init_host = init_host
    sys.argv[0] = 'nova-compute'
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
