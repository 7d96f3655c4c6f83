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

"""One hypervisor's guests, shared by nova-compute processes (test only).

nova's fake driver keeps its guests in ``self.instances``, a dict of
``FakeInstance`` (name, state, uuid) in the process's memory. For two
nova-compute processes to manage one hypervisor, as an active/passive pair
does, that dict is replaced by :class:`SharedGuests`, a mapping kept in a
JSON file that every process of the hypervisor opens; writes take an
exclusive lock on it. A guest whose state the driver changes
(``instances[uuid].state = ...``) is written back at once.
"""

import collections.abc
import contextlib
import fcntl
import json
import os


class SharedGuests(collections.abc.MutableMapping):
    """A dict of the fake driver's guests, kept in ``path``."""

    def __init__(self, path):
        self.path = path
        with self._locked():
            if not os.path.exists(path):
                self._write({})

    @contextlib.contextmanager
    def _locked(self):
        with open(self.path + '.lock', 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self):
        with open(self.path) as f:
            return json.load(f)

    def _write(self, guests):
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(guests, f, sort_keys=True)
        os.replace(tmp, self.path)

    def _update(self, change):
        with self._locked():
            guests = self._read()
            change(guests)
            self._write(guests)

    def __getitem__(self, uuid):
        with self._locked():
            guest = self._read()[uuid]
        return SharedGuest(self, uuid, guest['name'], guest['state'])

    def __setitem__(self, uuid, instance):
        def store(guests):
            guests[uuid] = {'name': instance.name, 'state': instance.state}
        self._update(store)

    def __delitem__(self, uuid):
        def remove(guests):
            del guests[uuid]
        self._update(remove)

    def __iter__(self):
        with self._locked():
            return iter(list(self._read()))

    def __len__(self):
        with self._locked():
            return len(self._read())


class SharedGuest:
    """A guest read from :class:`SharedGuests`; changes are written back."""

    def __init__(self, guests, uuid, name, state):
        self.__dict__.update(_guests=guests, uuid=uuid, name=name,
                             state=state)

    def __setattr__(self, attribute, value):
        self.__dict__[attribute] = value
        self._guests[self.uuid] = self

    def __getitem__(self, key):
        return getattr(self, key)
