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

"""The demo: bug 1419785's failover story, without the guard and with it.

Runs real nova 34 in this process (its functional test framework: API,
conductor, scheduler, placement and compute on SQLite) through the same
story as the multi-process tests and the gate jobs
(:mod:`tests.harness.reproduction.scenario`). Usage: ``tox -e demo``.

nova and eventlet talk a lot on stdout and stderr; their output goes to a
log file, and the story to the terminal.
"""

import os
import sys
import tempfile
import textwrap

RUNS = (
    ('WITHOUT the guard', False, 'bug'),
    ('WITH the guard ([DEFAULT] config_source = hostguard)', True,
     'refusal'),
)


def main():
    story = os.fdopen(os.dup(1), 'w', buffering=1)
    log_path = os.path.join(tempfile.gettempdir(),
                            'nova-hostguard-demo.log')
    with open(log_path, 'wb') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    from tests.harness.reproduction import inprocess
    from tests.harness.reproduction import scenario

    def say(text):
        indent = len(text) - len(text.lstrip())
        story.write(textwrap.fill(text, 79, subsequent_indent=' ' *
                                  (indent + 4)) + '\n')

    story.write('nova-hostguard demo: nova bug 1419785 on real nova 34 in '
                'this process.\nOne hypervisor (hv1), two machines whose '
                'nova-compute manage it (active/passive).\n')
    status = 0
    for title, guard, expect in RUNS:
        story.write('\n=== %s ===\n' % title)
        checks, errors = inprocess.run(guard, say)
        missing = scenario.verdict(checks, expect)
        for trace in errors:
            story.write('the demo itself failed:\n%s\n' % trace[-3000:])
        if errors or missing:
            status = 1
            story.write('UNEXPECTED: %s did not hold\n' % ', '.join(missing))
        else:
            story.write('=> as expected: %s.\n' % scenario.OUTCOMES[expect])
    story.write('\nA takeover as the owner while the owner\'s nova-compute '
                'still runs (two processes as one host) needs separate '
                'processes, RabbitMQ and MariaDB: see it refused with\n'
                '    tox -e e2e -- tests.e2e.test_one_process_per_host\n')
    story.write("\n(nova's own log output: %s)\n" % log_path)
    return status


if __name__ == '__main__':
    sys.exit(main())
