"""Scan the disks of a recovery point: partitions, containers, file systems and OS evidence, as a flat list.

This is the entry point ``restorekit inspect`` calls::

    volumes = scan([("os", os_image), ("lun0", data_image)], Keys(passwords=[...], recovery_passwords=[],
                   bek_files=[]))
    raise_if_keys_failed(volumes, keys)      # optional: UnlockError when keys were given and none fitted
    json.dumps([v.to_dict() for v in volumes])   # restorekit.cli.tree renders the text view

The cascade per disk is: partition table (or none) → encryption (unlock with the user's keys) → pool
member (LVM, mdraid, Storage Spaces, LDM: collected across all disks, then assembled) → file system →
evidence. A volume that cannot be read is listed with the reason in ``warnings``; nothing one volume does
hides the others. Only metadata is read; :class:`ScanStats` says how much.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.fs.containers import ENCRYPTIONS, POOLS
from restorekit.fs.errors import RestoreKitError, UnlockError, VolumeError
from restorekit.fs.filesystem import open_filesystem
from restorekit.fs.keys import PROMPT_TRIES, Keys
from restorekit.fs.partition import read_partition_table
from restorekit.fs.volume import ReadCounter, counted

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from restorekit.fs.container import Encryption, Pool, PoolMember, Unlocked
    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.partition import Partition
    from restorekit.fs.registry import LazyFormat
    from restorekit.fs.stream import Stream
    from restorekit.fs.vss import DiffAreaElsewhere, ShadowCopies

__all__ = ["Keys", "ScanStats", "VolumeInfo", "locked_error", "raise_if_keys_failed", "scan", "shadow_volume",
           "split_store_id"]

#: Partition kinds that hold no file system by design: no "unknown file system" warning for them.
NO_FILESYSTEM_KINDS = {"msr", "bios-boot", "swap", "ldm-metadata"}
MAX_DEPTH = 4


@dataclass
class VolumeInfo:
    """One volume of the recovery point: where it is, what it holds, and what could not be read."""

    id: str
    disk: str
    offset: int
    size: int
    partition_type: str | None = None
    filesystem: str | None = None
    label: str | None = None
    encryption: str | None = None
    locked: bool = False
    container: str | None = None
    parent: str | None = None
    os: dict[str, Any] | None = None
    dedup: bool = False
    warnings: list[str] = field(default_factory=list)
    #: The readable bytes (plaintext when unlocked) for later file access; None while locked.
    stream: Stream | None = field(default=None, repr=False)
    #: The opened file system, for later file access.
    fs: Filesystem | None = field(default=None, repr=False)
    uuid: str | None = None
    used: int | None = None
    #: The partition, when the volume is one.
    partition: Partition | None = field(default=None, repr=False)
    #: What the encryption header says (protectors, version, cipher, key-slot types).
    encryption_details: dict[str, Any] = field(default_factory=dict)
    #: True when keys were given and none of them unlocked this volume.
    keys_failed: bool = False
    #: Why an encrypted volume stays locked, and what to do (the error file access raises for it).
    unlock_error: VolumeError | None = field(default=None, repr=False)
    #: The pool a member (or a volume assembled from one) belongs to: LVM VG UUID, mdadm array UUID, Storage
    #: Spaces pool GUID, LDM disk group GUID; and the name users know (VG, array, disk group name).
    pool: str | None = None
    pool_name: str | None = None
    #: True while a ``filesystems`` filter left the file system closed (:func:`open_volume_filesystem` opens it).
    fs_deferred: bool = field(default=False, repr=False)
    #: How an assembled pool volume lies on its members (type, disks, missing ones); see ``PoolVolume.layout``.
    layout: dict[str, Any] | None = None
    #: The NTFS volume's shadow copies as ``inspect --json`` prints them (``shadowCopies``: id ``VOLUME@vssN``,
    #: number, storeId, created, listed, hiddenReason, volumeSize, sequence), oldest first; only the catalog is
    #: read. :func:`shadow_volume` opens one.
    shadow_copies: list[dict[str, Any]] = field(default_factory=list)
    #: The catalog behind :attr:`shadow_copies`, which opens the stores.
    shadow: ShadowCopies | None = field(default=None, repr=False)

    def file_access(self) -> bool:
        """True when the file system opened and its root folder was listed: restorekit can list and copy files.

        When the root cannot be listed, why is added to ``warnings`` (unless a warning already says so).
        """
        if self.fs is None:
            return False
        error = self.fs.root_error()
        if error is not None and not any(error.message in warning for warning in self.warnings):
            self.warnings.append(str(error) if error.volume else f"{self.id}: {error}")
        return error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields of ``restorekit inspect --json``."""
        return {
            "id": self.id, "disk": self.disk, "offset": self.offset, "size": self.size,
            "partitionType": self.partition_type,
            "partitionKind": self.partition.kind if self.partition is not None else None,
            "filesystem": self.filesystem, "label": self.label,
            "encryption": self.encryption, "locked": self.locked, "container": self.container,
            "parent": self.parent, "pool": self.pool, "poolName": self.pool_name, "layout": self.layout,
            "uuid": self.uuid,
            "used": self.used, "fileAccess": self.file_access(),
            "os": self.os, "dedup": self.dedup, "keysFailed": self.keys_failed, "shadowCopies": self.shadow_copies,
            "warnings": list(self.warnings),
        }


@dataclass
class ScanStats:
    """What a scan cost: bytes and reads that went to the image files, and wall time."""

    bytes_read: int = 0
    reads: int = 0
    seconds: float = 0.0
    volumes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """For ``--json`` or a benchmark report."""
        return {"bytesRead": self.bytes_read, "reads": self.reads, "seconds": round(self.seconds, 4),
                "volumes": self.volumes}


def scan(disks: list[tuple[str, Stream]], keys: Keys, *, stats: ScanStats | None = None,
         filesystems: Collection[str] | None = None, evidence: bool = True) -> list[VolumeInfo]:
    """List every volume on ``disks`` (pairs of disk id and opened image), unlocking with ``keys``.

    Never raises for damaged tables, unknown formats or wrong keys: those are warnings on the volume
    concerned. Pass ``stats`` to learn how many bytes were read from the images and how long it took.
    For file access, ``filesystems`` names the only volumes whose file system is opened (every volume is
    still listed under the same id) and ``evidence=False`` skips the OS evidence (hives, MFT records).
    """
    start = time.perf_counter()
    counter = ReadCounter()
    scanner = _Scanner(keys, filesystems)
    for disk_id, image in disks:
        # Counting wraps every read in one more layer: only when the caller asked for the stats.
        scanner.disk(disk_id, counted(image, counter) if stats is not None else image)
    scanner.assemble_pools()
    _read_shadow_catalogs(scanner.volumes)
    if evidence:
        from restorekit.fs.evidence import collect_evidence, mark_efi_boot  # file access (ls, cat) reads none

        for info in scanner.volumes:
            if info.fs is not None:
                _guard(info, collect_evidence, info)
                info.file_access()  # the root listing, so its warning shows in the text view too
        mark_efi_boot(scanner.volumes)
    if stats is not None:
        stats.bytes_read, stats.reads = counter.bytes_read, counter.reads
        stats.seconds = time.perf_counter() - start
        stats.volumes = len(scanner.volumes)
    return scanner.volumes


def open_volume_filesystem(info: VolumeInfo) -> None:
    """Open the file system of a scanned volume (one a ``filesystems`` filter left closed), from the plaintext
    the scan kept: no key is tried again."""
    info.fs_deferred = False
    if info.stream is None:
        return
    kind = info.partition.kind if info.partition else None
    fs = _guard(info, open_filesystem, info.stream, info.id)
    if fs is None:
        if not info.warnings and kind not in NO_FILESYSTEM_KINDS:
            info.warnings.append(f"{info.id}: no file system recognised (restorekit reads NTFS, ext2/3/4, "
                                 "FAT and XFS)")
        return
    info.fs, info.filesystem, info.label, info.uuid, info.used = fs, fs.variant, fs.label, fs.uuid, fs.used
    info.warnings += fs.warnings


def raise_if_keys_failed(volumes: list[VolumeInfo], keys: Keys) -> None:
    """Raise :class:`UnlockError` when keys were given and an encrypted volume they apply to is still locked.

    The CLI calls this after :func:`scan` when the user passed ``--password``, ``--recovery-password``,
    ``--bek`` or a keychain: a volume the keys did not open (wrong key, unsupported cipher or version,
    unreadable metadata) is then an error naming the volume and why, never a success; so is a keychain line
    naming a volume the recovery point does not have. A volume no key was meant for may stay locked.
    """
    stray = keys.unknown_volumes(v.id for v in volumes)
    if stray:
        raise UnlockError(f"no volume {stray[0].volume!r} in this recovery point", path=stray[0].source,
                          hint=f"volume ids are those `restorekit inspect` prints: {', '.join(v.id for v in volumes)}")
    locked = [v for v in volumes if v.encryption and v.locked and (v.keys_failed or keys.for_volume(v.id))]
    if len(locked) == 1:
        raise locked_error(locked[0])
    if locked:
        errors = [locked_error(v) for v in locked]
        hints = list(dict.fromkeys(e.hint for e in errors if e.hint))
        raise UnlockError(f"{len(locked)} encrypted volumes stay locked: "
                          + "; ".join(f"{v.id}: {e.message}" for v, e in zip(locked, errors, strict=True)),
                          volume=locked[0].id, hint="; ".join(hints) or None)


def locked_error(info: VolumeInfo) -> VolumeError:
    """The error that says why the encrypted volume ``info`` is locked and what would open it."""
    if info.unlock_error is not None:
        return info.unlock_error
    reason = "; ".join(info.warnings) or "its encryption header cannot be read"
    return UnlockError(f"the {info.encryption} volume is locked ({reason})", volume=info.id)


def _guard(info: VolumeInfo, step: Callable[..., Any], *args: Any) -> Any:
    """Run one step of the cascade; a restorekit or backend error becomes a warning on ``info``."""
    try:
        return step(*args)
    except RestoreKitError as exc:
        warning = str(exc) if exc.volume else f"{info.id}: {exc}"
    except (OSError, ValueError, KeyError, IndexError) as exc:
        warning = f"{info.id}: cannot be read: {exc}"
    if warning not in info.warnings:  # a backend that failed once fails the same way for evidence
        info.warnings.append(warning)
    return None


class _Scanner:
    """State of one scan: volumes found so far and pool members waiting for assembly."""

    def __init__(self, keys: Keys, filesystems: Collection[str] | None) -> None:
        self.keys = keys
        self.filesystems = filesystems
        self.volumes: list[VolumeInfo] = []
        self.members: dict[tuple[str, str], list[PoolMember]] = {}
        self.pool_types: dict[str, LazyFormat[Pool]] = {pool.name: pool for pool in POOLS}
        self.by_id: dict[str, VolumeInfo] = {}

    def _add(self, info: VolumeInfo) -> VolumeInfo:
        self.volumes.append(info)
        self.by_id[info.id] = info
        return info

    def disk(self, disk_id: str, disk: Stream) -> None:
        """Scan one disk: its partitions, or the whole disk when it has no table."""
        try:
            table = read_partition_table(disk, disk_id)
        except RestoreKitError as exc:
            self._add(VolumeInfo(disk_id, disk_id, 0, disk.size, warnings=[str(exc)]))
            return
        if table is None:
            info = VolumeInfo(disk_id, disk_id, 0, disk.size)
            self.analyze(info, disk)
            hint = getattr(disk, "content_hint", None)
            if hint and info.fs is None and info.container is None and info.encryption is None:
                info.warnings.append(f"{disk_id}: {hint}")
            return
        for part in table.partitions:
            info = VolumeInfo(f"{disk_id}-p{part.number}", disk_id, part.offset, part.size, part.type_name,
                              partition=part, warnings=list(table.warnings))
            self.analyze(info, part.open(disk, disk_id))

    def analyze(self, info: VolumeInfo, stream: Stream, depth: int = 0) -> None:
        """Run the cascade on one volume: encryption, pool membership, file system."""
        self._add(info)
        info.stream = stream
        kind = info.partition.kind if info.partition else None
        plain = self._decrypt(info, stream, kind)
        if plain is None:
            return
        if depth < MAX_DEPTH and self._join_pool(info, plain, kind):
            return
        if self.filesystems is not None and info.id not in self.filesystems:
            info.fs_deferred = True
            return
        open_volume_filesystem(info)

    def _decrypt(self, info: VolumeInfo, stream: Stream, kind: str | None) -> Stream | None:
        """The volume's plaintext: itself when not encrypted, None while locked."""
        for entry in ENCRYPTIONS:
            if not _guard(info, entry.detect, stream, kind):
                continue
            fmt = entry.load()
            info.encryption = fmt.type_name
            keys = self.keys.for_volume(info.id)
            unlocked = _guard(info, fmt.open, stream, info.id, keys)
            if (unlocked is None or unlocked.stream is None) and self._may_ask(info.id, keys):
                unlocked = self._ask(info, fmt, stream, unlocked)
            if unlocked is not None:
                info.encryption = unlocked.encryption
                info.warnings += unlocked.warnings
                info.encryption_details = unlocked.details
                info.keys_failed = unlocked.keys_failed
                info.unlock_error = unlocked.error
                if unlocked.error is not None:
                    info.warnings.append(str(unlocked.error))
            if unlocked is None or unlocked.stream is None:
                info.locked, info.stream = True, None
                return None
            info.stream = unlocked.stream
            return unlocked.stream
        return stream

    def _may_ask(self, volume: str, keys: Keys) -> bool:
        """Whether to ask for the key of the locked ``volume``: a prompt is set, the volume's file system is
        wanted, it was not asked for yet, and no key was given for it (or ``--ask-password`` asks anyway)."""
        wanted = self.filesystems is None or volume in self.filesystems
        return (self.keys.prompt is not None and wanted and volume not in self.keys.asked
                and (not keys or self.keys.prompt_after_failure))

    def _ask(self, info: VolumeInfo, fmt: type[Encryption], stream: Stream, first: Unlocked | None) -> Unlocked | None:
        """Ask for the key up to :data:`~restorekit.fs.keys.PROMPT_TRIES` times; the last result."""
        assert self.keys.prompt is not None
        self.keys.asked.add(info.id)
        unlocked = first
        for attempt in range(PROMPT_TRIES):
            secret = self.keys.prompt(info.id, fmt.type_name, attempt > 0 or bool(first and first.keys_failed))
            if not secret:
                break
            keys = self.keys.answered(secret)
            unlocked = _guard(info, fmt.open, stream, info.id, keys)
            if unlocked is not None and unlocked.stream is not None:
                self.keys.remember(info.id, keys)
                break
        return unlocked

    def _join_pool(self, info: VolumeInfo, stream: Stream, kind: str | None) -> bool:
        """Record the volume as a pool member when it is one; True if so."""
        for entry in POOLS:
            if not _guard(info, entry.detect, stream, kind):
                continue
            pool = entry.load()
            info.container = pool.type_name
            member = _guard(info, pool.probe, stream, info.id)
            if member is not None:
                info.warnings += member.warnings
                info.pool, info.pool_name = member.pool_id, member.pool_name or None
                self.members.setdefault((pool.type_name, member.pool_id), []).append(member)
            return True
        return False

    def assemble_pools(self) -> None:
        """Assemble every pool whose members were found; volumes inside may hold further pools."""
        done: set[tuple[str, str]] = set()
        for _round in range(MAX_DEPTH):
            pending = [key for key in self.members if key not in done]
            if not pending:
                return
            for key in pending:
                done.add(key)
                members = self.members[key]
                pool = self.pool_types[key[0]].load()
                first = self.by_id[members[0].volume]
                forced = {"force": self.keys.force_assemble} if pool.FORCEABLE else {}
                result = _guard(first, functools.partial(pool.assemble, **forced), members)
                if result is None:
                    continue
                children, pool_warnings = result
                for member in members:
                    self.by_id[member.volume].warnings += pool_warnings
                for child in children:
                    parent = self.by_id[child.parent]
                    info = VolumeInfo(f"{child.parent}/{child.name}", parent.disk,
                                      parent.offset + child.offset_in_parent, child.size,
                                      None, parent=child.parent, warnings=list(child.warnings),
                                      pool=parent.pool, pool_name=parent.pool_name, layout=child.layout)
                    if child.stream is None:
                        self._add(info)
                        continue
                    self.analyze(info, child.stream, depth=_round + 1)


def _read_shadow_catalogs(volumes: list[VolumeInfo]) -> None:
    """The shadow copies of every NTFS volume whose file system is open (only the VSS header and catalog are
    read); a diff area on another volume is looked for among all the volumes; damage is a warning."""
    elsewhere: list[tuple[VolumeInfo, Stream, DiffAreaElsewhere]] = []
    for info in volumes:
        if info.fs is not None and info.fs.type_name == "ntfs" and info.stream is not None:
            _guard(info, _read_shadow_catalog, info, info.stream, elsewhere)
    for info, stream, missing in elsewhere:
        _guard(info, _read_foreign_catalog, info, stream, missing, volumes)


def _read_shadow_catalog(info: VolumeInfo, stream: Stream,
                         elsewhere: list[tuple[VolumeInfo, Stream, DiffAreaElsewhere]]) -> None:
    """Fill ``info``'s shadow copies from the VSS catalog of its (NTFS) plaintext. A diff area on another
    volume goes to ``elsewhere``: that volume is looked for once all are known."""
    from restorekit.fs.vss import DiffAreaElsewhere, read_catalog  # ~1.5 ms with NTFS's module: NTFS volumes only

    try:
        copies = read_catalog(stream, info.id)
    except DiffAreaElsewhere as exc:
        elsewhere.append((info, stream, exc))
        return
    if copies is not None:
        info.shadow, info.shadow_copies = copies, copies.to_list()


def _read_foreign_catalog(info: VolumeInfo, stream: Stream, missing: DiffAreaElsewhere,
                          volumes: Collection[VolumeInfo]) -> None:
    """Read ``info``'s shadow copies from the volume holding its diff area: the GPT partition with its GUID
    first, then any other readable NTFS volume whose catalog at that offset describes a volume of this size;
    raises ``missing`` when none does."""
    from restorekit.fs.vss import read_catalog  # see _read_shadow_catalog

    candidates = [v for v in volumes if v is not info and v.stream is not None and not v.locked
                  and v.stream.size > 8 and v.stream.pread(8, 3) == b"NTFS    "]
    candidates.sort(key=lambda v: v.partition is None or v.partition.guid.lower() != missing.storage_id)
    for candidate in candidates:
        assert candidate.stream is not None
        try:
            copies = read_catalog(stream, info.id, candidate.stream, candidate.id)
        except RestoreKitError:  # not the volume holding the diff area
            continue
        if copies is not None:
            info.shadow, info.shadow_copies = copies, copies.to_list()
            return
    raise missing


def split_store_id(volume_id: str) -> tuple[str, int] | None:
    """``os-p3@vss2`` → ``("os-p3", 2)``; None when the id names no shadow copy."""
    base, sep, tail = volume_id.rpartition("@vss")
    if not sep or not base or not tail.isdigit() or tail.startswith("0"):
        return None
    return base, int(tail)


def shadow_volume(volumes: dict[str, VolumeInfo], volume_id: str, *, filesystem: bool = True) -> VolumeInfo | None:
    """The volume ``VOLUME@vssN`` (shadow copy N of VOLUME, 1 = the oldest) as a :class:`VolumeInfo` whose
    ``stream`` is the store's bytes (and ``fs`` its file system, unless ``filesystem`` is False); None when
    ``volume_id`` names no shadow copy. Opened on the first ask and kept in ``volumes`` under its id.

    Raises :class:`VolumeError` naming the volume when VOLUME is missing, locked or has no such shadow copy,
    or when the store's metadata is damaged.
    """
    split = split_store_id(volume_id)
    if split is None:
        return None
    known = volumes.get(volume_id)
    if known is not None and (known.fs is not None or not filesystem):
        return known
    base_id, number = split
    base = volumes.get(base_id)
    if base is None:
        raise VolumeError(f"no volume {base_id!r} in this recovery point", volume=volume_id,
                          hint="see restorekit inspect for the volume ids and their shadowCopies")
    if base.locked:
        raise locked_error(base)
    if base.shadow is None and base.stream is not None:  # not read by a scan that left its file system closed
        elsewhere: list[tuple[VolumeInfo, Stream, DiffAreaElsewhere]] = []
        _read_shadow_catalog(base, base.stream, elsewhere)
        for info, stream, exc in elsewhere:
            _read_foreign_catalog(info, stream, exc, list(volumes.values()))
    copies = base.shadow
    if copies is None:
        raise VolumeError("has no shadow copies (no VSS header at offset 0x1e00)", volume=base_id,
                          hint="shadow copies are read from NTFS volumes; see the shadowCopies of restorekit inspect")
    stream = copies.open(number)
    info = VolumeInfo(volume_id, base.disk, base.offset, stream.size, base.partition_type, parent=base.id,
                      partition=base.partition, pool=base.pool, pool_name=base.pool_name)
    info.stream = stream
    if filesystem:
        fs = _guard(info, open_filesystem, stream, volume_id)
        if fs is not None:
            info.fs, info.filesystem, info.label, info.uuid, info.used = (fs, fs.variant, fs.label, fs.uuid,
                                                                          fs.used)
            info.warnings += fs.warnings
    volumes[volume_id] = info
    return info
