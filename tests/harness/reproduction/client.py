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

"""nova's and placement's REST APIs through keystone, with openstacksdk.

What the story calls ``client`` on a real cloud: the local multi-process
one or devstack.
"""


class SdkClient:

    def __init__(self, connection):
        self.connection = connection

    def compute(self, method, path, body=None, microversion=None):
        response = self.connection.compute.request(
            path, method, json=body, microversion=microversion or 'latest')
        return response.status_code, (response.json() if response.content
                                      else None)

    def providers(self):
        response = self.connection.placement.request(
            '/resource_providers', 'GET', microversion='1.14')
        return [p['name'] for p in response.json()['resource_providers']]
