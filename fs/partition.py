"""The partition layer: tables that cut a disk into partitions.

:func:`read_partition_table` detects the table by declared signatures, trying :data:`PARTITION_TABLES` in
order (GPT before MBR, because a GPT disk also carries a protective MBR), and returns None when the disk has
no table (a file system or container straight on the disk). Each partition becomes a
:class:`restorekit.fs.volume.Volume` window of the disk through :meth:`Partition.open`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from restorekit.fs.errors import PartitionTableError
from restorekit.fs.volume import Volume

if TYPE_CHECKING:
    from restorekit.fs.stream import Stream

SECTOR = 512


@dataclass(frozen=True)
class Partition:
    """One partition: where it is, and what its table says it holds."""

    #: 1-based, as users count: MBR primaries 1-4 and logicals from 5; GPT entry index + 1.
    number: int
    offset: int
    size: int
    #: The raw type: ``0x07`` for MBR, the upper-case type GUID for GPT.
    type_id: str
    #: The name users know ("EFI system", "Microsoft basic data", "Storage Spaces", ...).
    type_name: str
    #: A short tag code can branch on: ``efi``, ``msr``, ``recovery``, ``lvm``, ``raid``, ``luks``,
    #: ``storage-spaces``, ``ldm-metadata``, ``ldm-data``, ``swap``, ``data`` or ``unknown``.
    kind: str = "data"
    #: The GPT partition name, if any.
    name: str = ""
    #: The GPT unique partition GUID, if any.
    guid: str = ""

    def open(self, disk: Stream, disk_name: str) -> Volume:
        """The partition's bytes as a window of ``disk``."""
        return Volume(disk, self.offset, self.size, name=f"{disk_name}-p{self.number}")


@dataclass
class PartitionTable:
    """A parsed partition table: its partitions in disk order and what the reader tolerated."""

    #: ``gpt`` or ``mbr``; set by the format.
    type_name: ClassVar[str]
    #: (magic, offset) pairs; each format adds its own checks in :meth:`detect`.
    SIGNATURES: ClassVar[tuple[tuple[bytes, int], ...]] = ()

    partitions: list[Partition]
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def detect(cls, disk: Stream) -> bool:
        """True when one of the format's signatures is present."""
        for magic, offset in cls.SIGNATURES:
            if disk.size >= offset + len(magic) and disk.pread(len(magic), offset) == magic:
                return True
        return False

    @classmethod
    def read(cls, disk: Stream, disk_name: str) -> PartitionTable:
        """Parse the table; raise :class:`PartitionTableError` naming ``disk_name`` when it is damaged."""
        raise NotImplementedError


def check_overlaps(partitions: list[Partition], disk_name: str, table: str, warnings: list[str]) -> None:
    """Warn about partitions that share bytes: both are still listed (reading is harmless), each may be damaged."""
    ordered = sorted(partitions, key=lambda p: p.offset)
    for left, right in itertools.pairwise(ordered):
        if left.offset + left.size > right.offset:
            warnings.append(str(PartitionTableError(
                f"{table} partitions {left.number} and {right.number} overlap "
                f"({left.offset}+{left.size} runs past {right.offset}); both are listed",
                volume=disk_name, offset=right.offset,
                hint="the partition table is damaged: at most one of them holds the shared bytes, so check what "
                     "each shows",
            )))


def clip_to_disk(partitions: list[Partition], disk: Stream, disk_name: str, warnings: list[str]) -> None:
    """Warn about partitions that run past the end of the disk (a truncated image); their tail reads as missing."""
    for part in partitions:
        if part.offset >= disk.size:
            warnings.append(f"{disk_name}: partition {part.number} starts at {part.offset}, past the end of the "
                            f"disk ({disk.size} bytes); the image is truncated")
        elif part.offset + part.size > disk.size:
            warnings.append(f"{disk_name}: partition {part.number} ends {part.offset + part.size - disk.size} bytes "
                            f"past the end of the disk; the image is truncated")


def read_partition_table(disk: Stream, disk_name: str) -> PartitionTable | None:
    """The disk's partition table, or None when it has none; raises :class:`PartitionTableError` if damaged."""
    for fmt in PARTITION_TABLES:
        if fmt.detect(disk):
            return fmt.read(disk, disk_name)
    return None


from restorekit.fs.partitions.gpt import GptPartitionTable  # noqa: E402
from restorekit.fs.partitions.mbr import MbrPartitionTable  # noqa: E402

#: Partition tables in detection order: GPT first, since a GPT disk also has a (protective) MBR.
PARTITION_TABLES: list[type[PartitionTable]] = [GptPartitionTable, MbrPartitionTable]
