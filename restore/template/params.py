"""Template parameters: what the user may change at deployment, each with a description they can act on.

A parameter tied to restore-plan findings says so: its description starts with the rule id, severity and the
finding's message, so nothing the planner found is lost between ``plan`` and the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.template.arm import PARAMETERS_SCHEMA, body_of, param, x

if TYPE_CHECKING:
    from restorekit.rules import Finding

#: Python types of the JSON value each ARM parameter type takes.
VALUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "securestring": str, "bool": bool, "int": int, "object": dict, "array": list,
}


@dataclass
class Param:
    """One template parameter."""

    name: str
    type: str
    description: str
    default: Any
    allowed: list[Any] | None = None
    max_length: int | None = None
    findings: list[Finding] = field(default_factory=list)
    #: The default is a placeholder: the user must supply the value before deploying.
    fill_in: bool = False

    def to_template(self) -> dict[str, Any]:
        """The entry of the template's ``parameters``."""
        out: dict[str, Any] = {"type": self.type, "defaultValue": self.default}
        if self.allowed is not None:
            out["allowedValues"] = self.allowed
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        text = " ".join([*(_cite(f) for f in self.findings), self.description])
        out["metadata"] = {"description": text}
        return out

    @property
    def literal(self) -> bool:
        """Whether the default is a value the parameters file can carry (not an expression)."""
        return body_of(self.default) is None


def _cite(finding: Finding) -> str:
    seen = f" [{finding.evidence}]" if finding.evidence else ""
    return f"{finding.rule} ({finding.severity}): {finding.message}{seen}."


class Params:
    """The parameters of one template, in the order they were added."""

    def __init__(self) -> None:
        self._items: dict[str, Param] = {}

    def add(self, name: str, ptype: str, description: str, default: Any, *, allowed: list[Any] | None = None,
            max_length: int | None = None, findings: list[Finding] | None = None, fill_in: bool = False) -> str:
        """Declare a parameter; returns the JSON string that references it (``"[parameters('name')]"``).

        ``fill_in``: the default is only a placeholder (``""``) for a value nothing in the recovery point says.
        """
        if name in self._items:
            raise AssertionError(f"parameter {name} declared twice")
        self._items[name] = Param(name, ptype, description, default, allowed, max_length, list(findings or []),
                                  fill_in)
        return x(param(name))

    def __iter__(self) -> Any:
        return iter(self._items.values())

    def to_template(self) -> dict[str, Any]:
        """The template's ``parameters`` object."""
        return {p.name: p.to_template() for p in self}

    def parameters_file(self) -> dict[str, Any]:
        """``azuredeploy.parameters.json``: every parameter whose default is a literal, as ``az`` reads it."""
        return {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0",
                "parameters": {p.name: {"value": p.default} for p in self if p.literal}}

    def fill_in(self) -> list[str]:
        """Parameters whose value the user must supply before deploying."""
        return [p.name for p in self if p.fill_in]

    def carried(self) -> list[tuple[Finding, str]]:
        """(finding, parameter name) for every finding a parameter carries."""
        return [(f, p.name) for p in self for f in p.findings]
