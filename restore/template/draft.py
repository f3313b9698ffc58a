"""The template while it is being built: what each builder reads (source, request, findings) and adds to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.template.arm import API_VERSIONS, var, x
from restorekit.template.params import Params

if TYPE_CHECKING:
    from restorekit.request import RestoreRequest
    from restorekit.rules import Finding
    from restorekit.template.source import Source

#: How the template gets its disks: ``import`` VHD blobs into new managed disks, ``attach`` managed disks the
#: restore job made, or ``vhd``: attach the VHD blobs themselves as unmanaged disks.
DISK_SOURCES = ("import", "attach", "vhd")


@dataclass
class Draft:
    """Parameters, variables and resources so far."""

    source: Source
    request: RestoreRequest
    disk_source: str
    #: Findings of the plan that fired (warn/block), by rule id.
    fired: dict[str, list[Finding]]
    vm_name: str
    params: Params = field(default_factory=Params)
    variables: dict[str, Any] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    #: Resources the VM waits for (``resourceId`` expressions).
    vm_depends_on: list[str] = field(default_factory=list)
    #: Azure Disk Encryption key references (``diskEncryptionKey``/``keyEncryptionKey``) for the OS disk.
    ade_settings: dict[str, Any] | None = None

    def cite(self, *rules: str) -> list[Finding]:
        """The fired findings of these rules, for a parameter's description."""
        return [f for rule in rules for f in self.fired.get(rule, [])]

    def var(self, name: str, value: Any) -> str:
        """Declare a variable; returns the JSON string that references it."""
        self.variables[name] = value
        return x(var(name))

    def resource(self, rtype: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add a resource of ``rtype`` at its pinned apiVersion; ``body`` holds everything else."""
        res = {"type": rtype, "apiVersion": API_VERSIONS[rtype], "name": name, **body}
        self.resources.append(res)
        return res

    @property
    def zone(self) -> str | None:
        """The zone to deploy into: ``--target-zone``, else the source VM's zone, else None (regional, and always
        with unmanaged disks, which cannot be zonal)."""
        if self.disk_source == "vhd":
            return None
        if self.request.target_zone:
            return self.request.target_zone
        zones = self.source.model.zones or []
        return zones[0] if zones else None
