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

"""Run the bug 1419785 story on a cloud and say whether it went as expected.

Usage::

    python -m tests.harness.reproduction.run --cloud devstack --expect refusal
    python -m tests.harness.reproduction.run --cloud processes --guard on \\
        --expect refusal

``--cloud devstack`` works on a devstack with the plugin's reproduction
enabled (the guard is on or off as devstack configured it);
``--cloud processes`` builds the local multi-process cloud (MariaDB and
RabbitMQ on 127.0.0.1). ``--report FILE`` writes the checks as JSON.
Exit status 0 when every check the expectation needs holds, 1 otherwise.
"""

import argparse
import json
import sys
import tempfile

from tests.harness.reproduction import scenario


def _processes_story(guard, say):
    from tests.harness.processes import cloud
    from tests.harness.reproduction import processes

    with tempfile.TemporaryDirectory() as workdir:
        harness = cloud.NovaProcesses(workdir, api=True)
        with harness:
            the_cloud = processes.ProcessesCloud(harness, guard)
            try:
                return scenario.Story(the_cloud, say).run()
            finally:
                the_cloud.close()


def _devstack_story(args, say):
    from tests.harness.reproduction import devstack

    the_cloud = devstack.DevstackCloud(
        conf_dir=args.conf_dir, data_dir=args.data_dir,
        systemctl=args.systemctl)
    try:
        return scenario.Story(the_cloud, say).run()
    finally:
        the_cloud.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cloud', choices=('devstack', 'processes'),
                        required=True)
    parser.add_argument('--guard', choices=('on', 'off'), default='on',
                        help='processes only: switch the guard on or off')
    parser.add_argument('--expect', choices=sorted(scenario.EXPECTATIONS),
                        required=True)
    parser.add_argument('--report', help='write the checks here as JSON')
    devstack = parser.add_argument_group(
        'devstack', 'where the plugin put things (devstack/reproduce.sh '
        'reads them from devstack\'s settings)')
    devstack.add_argument('--conf-dir', default='/etc/nova',
                          help="devstack's NOVA_CONF_DIR")
    devstack.add_argument('--data-dir',
                          default='/opt/stack/data/nova-hostguard',
                          help="the plugin's HOSTGUARD_DATA_DIR")
    devstack.add_argument('--systemctl', default='sudo systemctl',
                          help="devstack's SYSTEMCTL")
    args = parser.parse_args(argv)

    def say(text):
        print(text, flush=True)

    if args.cloud == 'devstack':
        checks = _devstack_story(args, say)
    else:
        checks = _processes_story(args.guard == 'on', say)
    missing = scenario.verdict(checks, args.expect)
    if args.report:
        with open(args.report, 'w') as f:
            json.dump({'expect': args.expect, 'missing': missing,
                       'checks': [c._asdict() for c in checks]}, f,
                      indent=2)
    if missing:
        say('NOT AS EXPECTED (%s): %s did not hold'
            % (scenario.OUTCOMES[args.expect], ', '.join(missing)))
        return 1
    say('As expected: %s.' % scenario.OUTCOMES[args.expect])
    return 0


if __name__ == '__main__':
    sys.exit(main())
