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

"""Stand-ins for glance and neutron: the few answers nova asks for.

Neither is under test, and nova 34 has no way to run without them. A
server booted with ``"networks": "none"`` from one image makes nova ask
glance for the image and its schema (nova-api, at boot), and neutron for
the server's ports (nova-api when showing it, nova-compute when deleting
it), always finding none. Served by ``wsgi_server.py`` like the real APIs.
"""

import json

IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'

IMAGE = {
    'id': IMAGE_ID, 'name': 'hostguard-test', 'status': 'active',
    'visibility': 'public', 'disk_format': 'raw', 'container_format': 'bare',
    'size': 1024, 'virtual_size': None, 'min_disk': 0, 'min_ram': 0,
    'protected': False, 'os_hidden': False, 'tags': [], 'checksum': None,
    'owner': None, 'created_at': '2026-01-01T00:00:00Z',
    'updated_at': '2026-01-01T00:00:00Z',
    'file': '/v2/images/%s/file' % IMAGE_ID, 'schema': '/v2/schemas/image',
}

IMAGE_SCHEMA = {'name': 'image', 'additionalProperties': {'type': 'string'},
                'properties': {key: {} for key in IMAGE}}

ANSWERS = {
    '/v2/images/' + IMAGE_ID: IMAGE,
    '/v2/schemas/image': IMAGE_SCHEMA,
    '/v2.0/ports': {'ports': []},
    '/v2.0/security-groups': {'security_groups': []},
    '/v2.0/networks': {'networks': []},
    '/v2.0/extensions': {'extensions': []},
}


def application(environ, start_response):
    path = environ['PATH_INFO'].rstrip('/')
    if path in ANSWERS:
        status, body = '200 OK', ANSWERS[path]
    else:
        status, body = '404 Not Found', {'error': 'not faked: %s' % path}
    data = json.dumps(body).encode()
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(data)))])
    return [data]
