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

"""The demo: a standby nova-compute takes over one hypervisor, twice.

Runs real nova 34 in this process (its functional test framework: API,
conductor, scheduler, placement and compute on SQLite) and tells what
happens without the guard, then with it. Usage: ``tox -e demo``.

nova and eventlet talk a lot on stdout and stderr; their output goes to a
log file, and the story to the terminal.
"""

import os
import sys
import tempfile


def main():
    story = os.fdopen(os.dup(1), 'w', buffering=1)
    log_path = os.path.join(tempfile.gettempdir(),
                            'nova-hostguard-demo.log')
    with open(log_path, 'wb') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    from tests.reproduction import inprocess

    status = inprocess.tell_the_story(story)
    story.write("\n(nova's own log output: %s)\n" % log_path)
    return status


if __name__ == '__main__':
    sys.exit(main())
