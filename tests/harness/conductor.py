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

"""nova-conductor in process, as nova-compute's indirection API.

Set as ``NovaObject.indirection_api``, it makes this process a
nova-compute: the guard sees no database access, and every remotable
method goes to this "conductor", which runs it next to the database with
the indirection off, as nova-conductor does with what it receives over
RPC. Nothing is serialised and no RabbitMQ is crossed (a real RPC round
trip costs more); exceptions come back as oslo.messaging's reply
serialisation makes them.

Used by the database tests (tests/db/test_race.py) and tools/bench.py.
"""

from nova.objects import base as objects_base
from nova import rpc
from oslo_messaging._drivers import common as rpc_common


def over_rpc(error):
    """``error`` as nova-compute receives it from nova-conductor.

    oslo.messaging's reply serialisation, with the modules nova allows.
    """
    return rpc_common.deserialize_remote_exception(
        rpc_common.serialize_remote_exception(
            (type(error), error, error.__traceback__)),
        rpc.get_allowed_exmods())


def nova_class(cls):
    """nova's own class of an object class (the guarded one's base)."""
    for klass in cls.__mro__:
        if klass.__module__.startswith('nova.objects.'):
            return klass
    return cls


class Conductor(object):
    """nova-conductor, with the guard (``guarded``) or without it.

    Without the guard it runs an object's methods of nova's own class
    (:func:`nova_class`), whatever class this process registered; with
    it, those of the object's class, as a conductor that loaded the guard
    deserialises a ``ComputeNode`` into the guarded one.

    ``calls`` counts the round trips: ``(object name, method)`` each.
    """

    def __init__(self, guarded=False):
        self.guarded = guarded
        self.calls = []

    def _run(self, call):
        saved = objects_base.NovaObject.indirection_api
        objects_base.NovaObject.indirection_api = None
        try:
            return call()
        except Exception as e:
            raise over_rpc(e)
        finally:
            objects_base.NovaObject.indirection_api = saved

    def _class(self, cls):
        return cls if self.guarded else nova_class(cls)

    def object_action(self, context, objinst, objmethod, args, kwargs):
        self.calls.append((objinst.obj_name(), objmethod))
        method = getattr(self._class(type(objinst)), objmethod)
        result = self._run(lambda: method(objinst, *args, **kwargs))
        return {}, result

    def object_class_action_versions(self, context, objname, objmethod,
                                     object_versions, args, kwargs):
        # The guard has no class methods of its own; and what they return
        # is, in nova-compute, an object of the class registered there.
        self.calls.append((objname, objmethod))
        cls = objects_base.NovaObjectRegistry.obj_classes()[objname][0]
        return self._run(
            lambda: getattr(cls, objmethod)(context, *args, **kwargs))
