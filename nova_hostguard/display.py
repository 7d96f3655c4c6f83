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

"""How every command prints a name: one escaping rule.

A name (of a host, hypervisor or cell) comes from the database and may
hold anything: ESC, NUL, line breaks, bidirectional or zero-width format
characters. A character is printed as it is when ``str.isprintable()``
says so, which is the rule ``repr()`` follows; any other is escaped as
``repr()`` escapes it (``\\x1b``, ``\\n``, ``\\u202e``), or, inside SQL,
written as its code point, so that the statement still restores the name
exactly.
"""

import sqlalchemy as sa


def quoted(name):
    """A name in quotes, escaped: ``'hv1'``, ``'gone\\x1b[2J'``."""
    return repr(name)


def bare(name):
    """A name without quotes, escaped as :func:`quoted` escapes it."""
    return repr(name)[1:-1]


def _code_point(ch, dialect):
    """One character as SQL that holds no control character."""
    if dialect.name == 'mysql':
        return sa.literal_column("CONVERT(X'%s' USING utf8mb4)"
                                 % ch.encode('utf-8').hex(), sa.String)
    function = sa.func.char if dialect.name == 'sqlite' else sa.func.chr
    return function(ord(ch), type_=sa.String)


def sql_text(name, dialect):
    """A SQL expression for ``name`` with only printable characters in it.

    Printable runs are ordinary string literals; every other character is
    its code point, joined with the dialect's concatenation.
    """
    if name is None or name.isprintable():
        return sa.literal(name, sa.String)
    parts, run = [], ''
    for ch in name:
        if ch.isprintable():
            run += ch
            continue
        if run:
            parts.append(sa.literal(run, sa.String))
            run = ''
        parts.append(_code_point(ch, dialect))
    if run:
        parts.append(sa.literal(run, sa.String))
    expression = parts[0]
    for part in parts[1:]:
        expression = expression + part
    return expression
