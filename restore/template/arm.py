"""ARM template expressions: written as strings by the builders, read back into a small tree by the checks.

An expression is a JSON string in square brackets (``"[parameters('Subnet')]"``); ``"[["`` escapes a literal.
The grammar restorekit emits and reads is the core of ARM's: function calls, single-quoted strings (``''`` is a
quote), integers, and ``.property`` / ``[index]`` access on a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from restorekit.errors import TemplateError

if TYPE_CHECKING:
    from collections.abc import Iterator

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
#: The apiVersions of ``../shared/arm-schemas``: each resource type restorekit emits, pinned to one schema file.
API_VERSIONS = {
    "Microsoft.Compute/disks": "2025-01-02",
    "Microsoft.Compute/virtualMachines": "2024-11-01",
    "Microsoft.Network/networkInterfaces": "2024-07-01",
    "Microsoft.Network/publicIPAddresses": "2024-07-01",
}


def q(text: str) -> str:
    """A string literal inside an expression."""
    return "'" + text.replace("'", "''") + "'"


def param(name: str) -> str:
    """``parameters('name')``."""
    return f"parameters({q(name)})"


def var(name: str) -> str:
    """``variables('name')``."""
    return f"variables({q(name)})"


def resource_id(rtype: str, *names: str, group: str | None = None) -> str:
    """``resourceId([group,] 'type', name...)``; ``names`` and ``group`` are expression bodies."""
    args = ([group] if group else []) + [q(rtype), *names]
    return f"resourceId({', '.join(args)})"


def x(body: str) -> str:
    """The JSON string form of an expression body."""
    return f"[{body}]"


@dataclass(frozen=True)
class Call:
    """A function call: ``name(args)``, then property or index access."""

    name: str
    args: tuple[Node, ...]
    access: tuple[Node, ...] = ()


Node = Call | str | int


def body_of(value: Any) -> str | None:
    """The expression body of a JSON string value, or None when it is a literal."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[["):
        return value[1:-1]
    return None


def parse(body: str) -> Node:
    """Parse an expression body; :class:`~restorekit.errors.TemplateError` names what is wrong and where."""
    parser = _Parser(body)
    node = parser.expr()
    parser.skip()
    if parser.pos != len(body):
        parser.fail("unexpected text")
    return node


def calls(node: Node) -> Iterator[Call]:
    """Every call in the tree, outermost first."""
    if isinstance(node, Call):
        yield node
        for child in (*node.args, *node.access):
            yield from calls(child)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_INT = re.compile(r"-?[0-9]+")
_PROP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> None:
        raise TemplateError(f"expression [{self.text}]: {what} at character {self.pos}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos:self.pos + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            self.fail(f"expected {char!r}")
        self.pos += 1

    def expr(self) -> Node:
        char = self.peek()
        if char == "'":
            return self.string()
        if m := _INT.match(self.text, self.pos):
            self.pos = m.end()
            return int(m.group())
        m = _IDENT.match(self.text, self.pos)
        if not m:
            self.fail("expected a function, a string or a number")
            raise AssertionError("unreachable")
        self.pos = m.end()
        self.take("(")
        args: list[Node] = []
        while self.peek() != ")":
            if args:
                self.take(",")
            args.append(self.expr())
        self.take(")")
        access: list[Node] = []
        while self.peek() in (".", "["):
            if self.peek() == ".":
                self.pos += 1
                prop = _PROP.match(self.text, self.pos)
                if not prop:
                    self.fail("expected a property name")
                    raise AssertionError("unreachable")
                self.pos = prop.end()
                access.append(prop.group())
            else:
                self.take("[")
                access.append(self.expr())
                self.take("]")
        return Call(m.group().lower(), tuple(args), tuple(access))

    def string(self) -> str:
        self.take("'")
        out = []
        while True:
            end = self.text.find("'", self.pos)
            if end < 0:
                self.fail("unterminated string")
            out.append(self.text[self.pos:end])
            self.pos = end + 1
            if self.text[self.pos:self.pos + 1] != "'":
                return "".join(out)
            out.append("'")
            self.pos += 1
