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

"""The oslo.config driver that switches the guard on from nova.conf.

Every nova binary parses its configuration with oslo.config, which loads
the drivers named by ``[DEFAULT] config_source`` from the
``oslo.config.driver`` stevedore namespace. That makes this driver the
one switch an operator turns, in the nova.conf of nova-compute and/or
nova-conductor::

    [DEFAULT]
    config_source = hostguard

    [hostguard]
    driver = hostguard

It supplies no configuration values: its source answers "not here" for
every option. Opening it validates the ``[hostguard]`` options and
installs the guard.

Two things about how oslo.config calls drivers shape this module:

* oslo.config logs and swallows any ``Exception`` a driver raises, and
  carries on without it. A guard the operator asked for but that could not
  be switched on must not go unnoticed, so failures leave as ``SystemExit``
  with a message: the service stops at startup, before it can do harm.
* nova parses nova.conf more than once per process, and not only into its
  own configuration: ``nova.monkey_patch`` first reads it into a bare
  ``ConfigOpts`` to choose a concurrency mode, before anything else may be
  imported. The guard is installed only when the process-wide
  configuration (``oslo_config.cfg.CONF``, which is ``nova.conf.CONF``) is
  parsed; any other parse only validates the options and imports nothing
  from nova.
"""

from oslo_config import cfg
from oslo_config import sources

from nova_hostguard import conf as hostguard_conf
from nova_hostguard import install


class HostGuardDriver(sources.ConfigurationSourceDriver):
    """Installs the guard when nova.conf names it; nothing on load."""

    def list_options_for_discovery(self):
        return list(hostguard_conf.hostguard_opts)

    def open_source_from_opt_group(self, conf, group_name):
        conf.register_opts(hostguard_conf.hostguard_opts, group=group_name)
        _validate(conf, group_name)
        if conf is cfg.CONF:
            try:
                install.install(conf, group_name)
            except Exception as e:
                raise SystemExit(
                    'nova-hostguard: could not switch the guard on '
                    '(%s: %s); refusing to run without it. Remove '
                    '"config_source = %s" from [DEFAULT] to run nova '
                    'unguarded.' % (type(e).__name__, e, group_name))
        return EmptySource()


def _validate(conf, group_name):
    """Read every option once, so that a bad value stops the process."""
    for opt in hostguard_conf.hostguard_opts:
        try:
            conf[group_name][opt.dest]
        except cfg.ConfigFileValueError as e:
            reason = e.msg.rpartition(' is not valid: ')[2]
            raise SystemExit(
                'nova-hostguard: invalid configuration: [%s] %s in %s: %s'
                % (group_name, opt.name, ', '.join(conf.config_file),
                   reason))


class EmptySource(sources.ConfigurationSource):
    """A configuration source with no values in it."""

    def get(self, group_name, option_name, opt):
        return (sources._NoValue, None)
