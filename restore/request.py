"""What the user asks for: the restore flags, named as ``az backup restore restore-disks`` names them.

JSON inputs (``--target-vm``, ``--storage-account``) are the documents ``az`` prints; ``--client-os-release`` is
an ``/etc/os-release`` file. Bad files raise :class:`~restorekit.errors.PlanError` with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restorekit.errors import PlanError
from restorekit.fs.evidence import parse_os_release
from restorekit.fs.keys import Keys
from restorekit.jsonio import load_json
from restorekit.recoverypoint import normalize_vm
from restorekit.shapes import check_shape

if TYPE_CHECKING:
    from restorekit.shapes import Shape

OPTIONS = ("create-vm", "restore-disks", "replace-disks", "files")


@dataclass
class RestoreRequest:
    """The restore the user intends; every field optional, as on the ``az`` command line."""

    target_resource_group: str | None = None
    target_vm_name: str | None = None
    target_vnet_name: str | None = None
    target_vnet_resource_group: str | None = None
    target_subnet_name: str | None = None
    target_subscription_id: str | None = None
    target_zone: str | None = None
    use_secondary_region: bool = False
    storage_account: dict[str, Any] | None = None
    diskslist: list[int] | None = None
    restore_only_osdisk: bool = False
    restore_as_unmanaged_disks: bool = False
    restore_to_staging_storage_account: bool = False
    disk_encryption_set_id: str | None = None
    target_vm: dict[str, Any] | None = None
    client_os: str | None = None
    client_os_release: dict[str, str] | None = None
    mi_system_assigned: bool = False
    mi_user_assigned: str | None = None
    rehydration_priority: str | None = None
    disk_access_option: str | None = None
    restore_to_edge_zone: bool = False
    #: The keys for encrypted volumes (never shown: :meth:`flags` says only that some were given).
    keys: Keys = field(default_factory=Keys)

    @property
    def managed_identity(self) -> bool:
        """Whether the restore runs as a managed identity of the vault."""
        return self.mi_system_assigned or self.mi_user_assigned is not None

    def flags(self) -> dict[str, Any]:
        """The flags given, as ``--name: value`` (files shown by what they name), for the plan summary."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value in (None, False, []) or name == "keys":
                continue
            if isinstance(value, dict):
                value = value.get("name") or value.get("id") or value.get("PRETTY_NAME") or "(given)"
            out["--" + name.replace("_", "-")] = value
        if self.keys.bek_files:
            out["--bek-files"] = self.keys.bek_files
        if self.keys.passwords or self.keys.recovery_passwords or self.keys.entries:
            out["--password/--recovery-password"] = "(given)"
        return out


def load_az_json(path: str | Path, flag: str, command: str, shape: Shape, *, vm: bool = False) -> dict[str, Any]:
    """Read the JSON object ``command`` prints, as given to ``flag``, checked against ``shape`` (a VM document
    first normalised as :func:`~restorekit.recoverypoint.normalize_vm` does); errors name the flag and the file
    and say how to fix it."""
    file = Path(path)
    where, hint = f"{flag} {file}", f"save the output of `{command}`"
    doc = load_json(file, label=where, error=PlanError, hint=hint)
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict):
        raise PlanError("must hold one JSON object", path=where, hint=hint)
    if vm:
        doc = normalize_vm(doc)
    check_shape(doc, shape, where=where, hint=hint, error=PlanError)
    return doc


def load_os_release(path: str | Path) -> dict[str, str]:
    """Read a client's ``/etc/os-release`` for ``--client-os-release``."""
    file = Path(path)
    try:
        text = file.read_text("utf-8", "replace")
    except OSError as exc:
        raise PlanError(f"--client-os-release {file}: cannot read: {exc.strerror}",
                        hint="copy /etc/os-release from the machine that will receive the files") from exc
    fields = parse_os_release(text)
    if "ID" not in fields:
        raise PlanError(f"--client-os-release {file}: has no ID= line; is it an os-release file?",
                        hint="copy /etc/os-release from the machine that will receive the files")
    return fields


def parse_luns(values: list[str] | tuple[str, ...]) -> list[int] | None:
    """``--diskslist 0 1`` or ``--diskslist 0,1``: LUN numbers (-1 is the OS disk)."""
    if not values:
        return None
    luns: list[int] = []
    for value in values:
        for part in str(value).replace(",", " ").split():
            try:
                luns.append(int(part))
            except ValueError as exc:
                raise PlanError(f"--diskslist: {part!r} is not a LUN number",
                                hint="give data-disk LUNs such as --diskslist 0 1") from exc
    return luns
