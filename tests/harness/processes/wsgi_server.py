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

"""Serve one WSGI application on a free loopback port (test only).

Usage: ``python wsgi_server.py MODULE:ATTRIBUTE PORT_FILE``, or
``MODULE:FACTORY()`` for an application that a function makes.

The application module (from the installed packages, or next to this
file) is imported as its own WSGI container would, then
served by the standard library's threaded server on a port the kernel
picks; the port is written to ``PORT_FILE`` once the socket listens, so
the harness never races for a port.
"""

import importlib
import os
import socketserver
import sys
from wsgiref import simple_server


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    daemon_threads = True


class QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write('%s\n' % (format % args))
        sys.stderr.flush()


def main(target, port_file):
    # The application parses its configuration with oslo.config, which
    # reads sys.argv: leave it only the program name.
    del sys.argv[1:]
    module_name, _sep, attribute = target.partition(':')
    factory = attribute.endswith('()')
    application = getattr(importlib.import_module(module_name),
                          attribute[:-2] if factory else attribute)
    if factory:
        application = application()
    server = simple_server.make_server(
        '127.0.0.1', 0, application, server_class=ThreadingWSGIServer,
        handler_class=QuietHandler)
    tmp = port_file + '.tmp'
    with open(tmp, 'w') as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    server.serve_forever()


if __name__ == '__main__':
    main(*sys.argv[1:])
