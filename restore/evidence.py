"""Evidence for the planner: what the disk images themselves show, from the volume layer's scan.

:func:`evidence_of` takes a recovery point's opened disks and what :func:`restorekit.fs.scan.scan` found on them
(``restorekit.api.Session.evidence`` scans with the user's keys) and keeps each volume as the plain dict
``VolumeInfo.to_dict()`` gives (``encryption``, ``locked``, ``keysFailed``, ``container``, ``pool``,
``filesystem``, ``fileAccess``, ``used``, ``os``, ``dedup``), so rules and tests work on data, never on open
images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from restorekit.disks import OpenedDisk
    from restorekit.fs.scan import VolumeInfo

#: Encryption formats Azure Disk Encryption writes (BitLocker on Windows, dm-crypt/LUKS on Linux).
ADE_FORMATS = ("bitlocker", "luks")
TB = 1 << 40


@dataclass
class Evidence:
    """Volumes found on the images; ``scanned`` is False when no image was read (metadata-only planning)."""

    scanned: bool = False
    volumes: list[dict[str, Any]] = field(default_factory=list)
    #: Virtual size in bytes of each disk that opened, by disk id (``os``, ``lun0``, ``d0``).
    disk_sizes: dict[str, int] = field(default_factory=dict)
    #: Disks that could not be opened, with the reason.
    disk_errors: dict[str, str] = field(default_factory=dict)
    #: Each disk as ``inspect --json`` prints it (format, virtual size, chain, ...), in recovery-point order.
    disks: list[dict[str, Any]] = field(default_factory=list)

    def where(self, **match: Any) -> list[dict[str, Any]]:
        """Volumes whose fields equal ``match``."""
        return [v for v in self.volumes if all(v.get(k) == want for k, want in match.items())]

    def encrypted(self) -> list[dict[str, Any]]:
        """Volumes with an encryption header (locked or unlocked)."""
        return [v for v in self.volumes if v.get("encryption")]

    def third_party_encrypted(self) -> list[dict[str, Any]]:
        """Encrypted volumes whose format is not one Azure Disk Encryption writes."""
        return [v for v in self.encrypted() if not str(v["encryption"]).startswith(ADE_FORMATS)]

    def containers(self, *kinds: str) -> list[dict[str, Any]]:
        """Pool members (``lvm2``, ``mdraid``, ``storage-spaces``, ``ldm``)."""
        return [v for v in self.volumes if v.get("container") in kinds]

    def os_volumes(self) -> list[dict[str, Any]]:
        """Volumes holding an operating system."""
        return [v for v in self.volumes if isinstance(v.get("os"), dict)]

    def os_family(self) -> str | None:
        """``windows`` or ``linux`` when an OS volume was found."""
        found = self.os_volumes()
        return found[0]["os"].get("family") if found else None

    def dedup(self) -> list[dict[str, Any]]:
        """NTFS volumes using Data Deduplication."""
        return [v for v in self.volumes if v.get("dedup")]

    def domain_controllers(self) -> list[dict[str, Any]]:
        """Windows volumes holding NTDS.dit."""
        return [v for v in self.os_volumes() if v["os"].get("domainController")]

    def efi_boot(self) -> bool | None:
        """True when the OS disk has an EFI system partition (Gen2), False when it has none, None: no OS found."""
        found = self.os_volumes()
        if not found:
            return None
        return any(v["os"].get("efiSystemPartition") for v in found)

    def shadow_copies(self) -> list[dict[str, Any]]:
        """Every NTFS volume's shadow copies (``VOLUME@vssN``: earlier points in time inside the recovery point),
        each with its ``volume``, oldest first."""
        found = [{"volume": v["id"], **copy} for v in self.volumes for copy in v.get("shadowCopies") or []]
        return sorted(found, key=lambda c: (str(c.get("created") or ""), c["id"]))

    def raw_disks(self) -> list[dict[str, Any]]:
        """Volumes that are a whole disk without a partition table (file system straight on the disk)."""
        return [v for v in self.volumes if v.get("id") == v.get("disk") and v.get("filesystem")]

    def large_disks(self) -> list[str]:
        """Disks larger than 4 TB."""
        return [d for d, size in self.disk_sizes.items() if size > 4 * TB]

    def incomplete(self) -> list[dict[str, Any]]:
        """Volumes of a pool (LDM, LVM, RAID) that cannot be read because disks they lie on are missing."""
        return [v for v in self.volumes if missing_disks(v) and not v.get("filesystem")]

    def readable(self) -> list[dict[str, Any]]:
        """Volumes with a file system restorekit recognised (unlocked)."""
        return [v for v in self.volumes if v.get("filesystem") and not v.get("locked")]

    def recoverable(self) -> list[dict[str, Any]]:
        """Readable volumes whose files restorekit can list and copy (the file layer says so per volume)."""
        return [v for v in self.readable() if v.get("fileAccess")]

    def used_bytes(self) -> int | None:
        """Bytes in use on every readable volume: the most a file recovery can copy.

        None when some data is out of sight: a locked volume, a pool none of whose volumes was assembled
        (Storage Spaces), a pool volume whose disks are missing, or a file system that does not say how much it
        uses.
        """
        assembled = {v.get("pool") for v in self.volumes if v.get("parent")}
        if self.incomplete() or any(v.get("locked") or (v.get("pool") and v["pool"] not in assembled)
                                    for v in self.volumes):
            return None
        used = [v.get("used") for v in self.readable()]
        return None if not used or None in used else sum(used)


def missing_disks(volume: dict[str, Any]) -> list[str]:
    """The disks a pool volume lies on that are not in the recovery point, by the pool's names (``Disk2``)."""
    layout = volume.get("layout") or {}
    return [str(d.get("name")) for d in layout.get("disks", []) if not d.get("volume")]


def ids(volumes: list[dict[str, Any]]) -> str:
    """``os-p2 (bitlocker), lun0 (luks2)``: volumes named for a finding."""
    return ", ".join(f"{v['id']} ({v.get('encryption') or v.get('container') or v.get('filesystem') or '?'})"
                     for v in volumes)


def evidence_of(disks: Sequence[OpenedDisk], volumes: Sequence[VolumeInfo]) -> Evidence:
    """The evidence of opened ``disks`` and the ``volumes`` a full scan of them found."""
    evidence = Evidence(scanned=True)
    for disk in disks:
        evidence.disks.append(disk.to_dict())
        if disk.image is None:
            evidence.disk_errors[disk.ref.id] = str(disk.error)
        else:
            evidence.disk_sizes[disk.ref.id] = disk.image.size
    evidence.volumes = [info.to_dict() for info in volumes]
    return evidence
