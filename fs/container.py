"""The container layer: what sits between a partition and a file system.

Two kinds, each an ordered registry of formats in :mod:`restorekit.fs.containers` (this module, the base
classes, is imported with the first format found):

* :data:`~restorekit.fs.containers.ENCRYPTIONS` (BitLocker, LUKS) turn one volume into one plaintext volume
  when a key fits. :meth:`Encryption.open` never raises for a wrong key: it returns an :class:`Unlocked` that
  says the volume is locked, why, and whether keys were tried, so one locked volume never hides the others.
* :data:`~restorekit.fs.containers.POOLS` (LVM2, mdraid, Storage Spaces, LDM) gather members from every disk of
  the recovery point (:meth:`Pool.probe`), then :meth:`Pool.assemble` builds the volumes inside from the
  members present and names what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from restorekit.fs.errors import VolumeError
    from restorekit.fs.scan import Keys
    from restorekit.fs.stream import Stream


class Container:
    """A container format (its registry entry detects it)."""

    #: The name reported as ``encryption`` or ``container`` (``bitlocker``, ``lvm2``, ...).
    type_name: ClassVar[str]


# -- encryption -------------------------------------------------------------------------------------------


@dataclass
class Unlocked:
    """The result of trying the user's keys on an encrypted volume."""

    #: ``bitlocker``, ``luks1`` or ``luks2``.
    encryption: str
    #: The plaintext, when a key fitted.
    stream: Stream | None = None
    #: What the header says: protectors, version, cipher, key-slot types.
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: True when keys of a usable kind were given and none of them fitted.
    keys_failed: bool = False
    #: Why the volume stays locked (no key given, wrong keys, unsupported cipher, unreadable metadata), and
    #: what to do; set whenever :attr:`stream` is None.
    error: VolumeError | None = None

    @property
    def locked(self) -> bool:
        """True when no plaintext is available."""
        return self.stream is None


class Encryption(Container):
    """A full-volume encryption format."""

    @classmethod
    def open(cls, stream: Stream, volume: str, keys: Keys) -> Unlocked:
        """Read the header and try ``keys``; never raises for a wrong key."""
        raise NotImplementedError


# -- pools --------------------------------------------------------------------------------------------------


@dataclass
class PoolMember:
    """One member of a pool (an LVM PV, a RAID member, a Storage Spaces or LDM disk), as found on a volume."""

    container: str
    #: What the members of one pool share (VG UUID, array UUID, disk group GUID).
    pool_id: str
    #: A name users know (VG name, array name, disk group name); may be empty.
    pool_name: str
    #: The id of the volume this member is on (``lun0-p1``).
    volume: str
    stream: Stream
    #: The format's parsed metadata.
    info: Any = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class PoolVolume:
    """A volume assembled from a pool's members (an LV, an array) or one that cannot be assembled."""

    #: The id relative to :attr:`parent`: ``vgdata/lvhome``, ``md/data``.
    name: str
    #: The id of the member volume it is listed under.
    parent: str
    size: int
    stream: Stream | None
    warnings: list[str] = field(default_factory=list)
    #: Where the volume's first byte lies in the parent volume (its ``offset`` is the parent's plus this).
    offset_in_parent: int = 0
    #: How the volume lies on its members, for ``inspect``: ``{"type": "raid5", "disks": [{"name": "Disk1",
    #: "volume": "d0-p1"}, {"name": "Disk2", "volume": None}], "chunk": 65536}`` (``volume`` None: missing).
    layout: dict[str, Any] | None = None


class Pool(Container):
    """A format whose volumes span members, possibly on several disks."""

    #: Whether :meth:`assemble` takes ``force=True``: put members whose metadata disagree on how recent they are
    #: together anyway, from the freshest (``--force-assemble``, as ``mdadm --assemble --force``).
    FORCEABLE: ClassVar[bool] = False

    @classmethod
    def probe(cls, stream: Stream, volume: str) -> PoolMember:
        """Parse the member's metadata; raise :class:`restorekit.fs.errors.VolumeError` when it is damaged."""
        raise NotImplementedError

    @classmethod
    def assemble(cls, members: list[PoolMember]) -> tuple[list[PoolVolume], list[str]]:
        """The volumes of one pool from the members found, and pool-wide warnings (missing members).

        A :attr:`FORCEABLE` pool also takes ``force``: without it, members out of step are refused (named, with
        their counts, in the volume's warnings)."""
        raise NotImplementedError
