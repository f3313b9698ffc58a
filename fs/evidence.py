"""Evidence for the restore planner, read from the file systems the scan opened.

* Windows: edition, build and version from the SOFTWARE hive (pyregf, ``Microsoft\\Windows NT\\CurrentVersion``:
  ProductName, CurrentBuild, DisplayVersion, InstallationType, EditionID); a domain controller by
  ``Windows/NTDS/ntds.dit``.
* Linux: the distribution from ``/etc/os-release`` (or ``/usr/lib/os-release``).
* NTFS deduplication: ``System Volume Information/Dedup``, or files whose reparse tag is ``0x80000013``.
* An EFI system partition on the OS disk (the VM boots UEFI: an Azure Gen2 VM).

Everything here reads a few small files and the first MFT records only.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from restorekit.fs.filesystem import LibyalFile

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.scan import VolumeInfo

SOFTWARE_HIVE = "/Windows/System32/config/SOFTWARE"
SYSTEM_HIVE = "/Windows/System32/config/SYSTEM"
CURRENT_VERSION = "Microsoft\\Windows NT\\CurrentVersion"
NTDS = "/Windows/NTDS/ntds.dit"
DEDUP_FOLDER = "/System Volume Information/Dedup"
DEDUP_TAG = 0x80000013
#: MFT records looked at for dedup reparse points when the Dedup folder is absent (1 KiB each).
MAX_MFT_RECORDS = 4096
OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")
WINDOWS_11_BUILD = 22000


def collect_evidence(info: VolumeInfo) -> None:
    """Fill ``info.os`` and ``info.dedup`` from its opened file system."""
    fs = info.fs
    if fs is None:
        return
    if fs.type_name == "ntfs":
        info.os = windows_release(fs)
        info.dedup = ntfs_dedup(fs)
    elif fs.type_name in ("ext", "xfs"):
        info.os = linux_release(fs)


def hive_values(fs: Filesystem, hive_path: str, key_path: str,
                convert: Callable[[Any], Any]) -> dict[str, Any] | None:
    """The values of one key of a registry hive on ``fs``, by name, each through ``convert`` (a pyregf value);
    ``{}`` when the key is missing, None when the hive is."""
    handle = fs.open_file(hive_path)
    if handle is None:
        return None
    import pyregf

    hive = pyregf.file()
    with fs._errors(hive_path):
        hive.open_file_object(handle)
        key = hive.get_key_by_path(key_path)
        return {} if key is None else {v.get_name(): convert(v) for v in key.values}


def windows_release(fs: Filesystem) -> dict[str, Any] | None:
    """Windows edition and build from the SOFTWARE hive, or None when the volume holds no Windows."""
    values = hive_values(fs, SOFTWARE_HIVE, CURRENT_VERSION, _value)
    if values is None:
        return None
    build = str(values.get("CurrentBuild") or values.get("CurrentBuildNumber") or "")
    product = str(values.get("ProductName") or "Windows")
    if product.startswith("Windows 10") and build.isdigit() and int(build) >= WINDOWS_11_BUILD:
        product = "Windows 11" + product[len("Windows 10"):]  # Windows 11 still writes "Windows 10" here
    installation = str(values.get("InstallationType") or "")
    return {
        "family": "windows",
        "name": product,
        "edition": values.get("EditionID"),
        "build": build or None,
        "ubr": values.get("UBR"),
        "displayVersion": values.get("DisplayVersion") or values.get("ReleaseId"),
        "installationType": installation or None,
        "server": installation.lower().startswith("server") if installation else "server" in product.lower(),
        "domainController": fs.exists(NTDS),
        "efiSystemPartition": None,
    }


def _value(value: Any) -> Any:
    """A registry value as str or int (REG_SZ/EXPAND_SZ → str, DWORD/QWORD → int)."""
    kind = value.get_type()
    try:
        if kind in (1, 2):
            return value.get_data_as_string()
        if kind in (4, 5, 11):
            return value.get_data_as_integer()
    except OSError:
        return None
    return None


def ntfs_dedup(fs: Filesystem) -> bool:
    """True when the NTFS volume uses Data Deduplication."""
    if fs.exists(DEDUP_FOLDER):
        return True
    reparse_tags = getattr(fs, "reparse_tags", None)
    if reparse_tags is None:
        return False
    return any(tag == DEDUP_TAG for _entry, tag in reparse_tags(MAX_MFT_RECORDS))


def linux_release(fs: Filesystem) -> dict[str, Any] | None:
    """The distribution from os-release, or None when the volume is not a Linux root."""
    for path in OS_RELEASE:
        data = fs.read_file(path, 64 << 10)
        if data is not None:
            fields = parse_os_release(data.decode("utf-8", "replace"))
            return {"family": "linux", "id": fields.get("ID"), "name": fields.get("NAME"),
                    "version": fields.get("VERSION_ID"), "prettyName": fields.get("PRETTY_NAME"),
                    "efiSystemPartition": None}
    return None


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines of os-release, with shell quoting undone."""
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        fields[key.strip()] = parts[0] if parts else ""
    return fields


def mark_efi_boot(volumes: list[VolumeInfo]) -> None:
    """Record, on each OS volume, the EFI system partition of its disk (None: the disk boots BIOS/MBR)."""
    for info in volumes:
        if info.os is None:
            continue
        esp = next((v for v in volumes if v.disk == info.disk and v.partition is not None
                    and v.partition.kind == "efi"), None)
        info.os["efiSystemPartition"] = esp.id if esp else None


__all__ = ["LibyalFile", "collect_evidence", "hive_values", "linux_release", "mark_efi_boot", "ntfs_dedup",
           "windows_release"]
