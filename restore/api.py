"""The Python API: what the ``restorekit`` commands do, for scripts and notebooks (see ``docs/api.md``).

::

    import restorekit

    with restorekit.open("fixtures/demo") as rp:          # a folder, manifest, config-*.json, images or URLs
        for volume in rp.volumes():                       # as `restorekit inspect` lists them
            print(volume.id, volume.filesystem, volume.label)
        for entry in rp.walk("os-p3:/Users"):              # as `restorekit ls -r`
            print(entry.path, entry.size)
        with rp.open("os-p3:/Windows/System32/drivers/etc/hosts") as f:   # a seekable binary file
            print(f.read().decode())
        report = rp.extract(["lun0-p1:/srv/data"], "restored/", verify=True)   # as `restorekit extract`
        assert report.complete, report.failed + report.skipped

A :class:`Session` opens the recovery point's images once and scans them (unlocking with its
:class:`~restorekit.fs.keys.Keys`) at most once for listing and once for file access, so an unlock that costs
seconds (LUKS2 Argon2) is paid once per session. Every failure is a
:class:`~restorekit.fs.errors.RestoreKitError` whose ``str()`` is the one line the CLI prints; nothing here
prints, prompts (unless the keys carry a prompt) or exits. Files are read, never written: only :meth:`Session.extract`
and :meth:`Session.template` write, and only to the output they are given.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from restorekit.disks import opened_disks
from restorekit.facts import apply_facts
from restorekit.files import (
    FindFilter,
    Target,
    copy_to_fd,
    file_volumes,
    find_batches,
    is_drive_letter,
    list_batches,
    list_entries,
    open_data,
    parse_target,
    resolve,
    searched_volumes,
    volume_filesystem,
)
from restorekit.fs.errors import FilesystemError, UnlockError
from restorekit.fs.keys import KeyEntry, Keys
from restorekit.fs.scan import open_volume_filesystem, raise_if_keys_failed, scan
from restorekit.recoverypoint import open_recovery_point

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
    from types import TracebackType

    from restorekit.disks import OpenedDisk
    from restorekit.evidence import Evidence
    from restorekit.extract import ExtractReport, Progress
    from restorekit.extract import Plan as OutputPlan
    from restorekit.files import Found
    from restorekit.fs.entry import Entry, EntryBatch
    from restorekit.fs.filesystem import Filesystem
    from restorekit.fs.scan import VolumeInfo
    from restorekit.fs.table import Window
    from restorekit.plan import Plan
    from restorekit.recoverypoint import RecoveryPoint
    from restorekit.request import RestoreRequest
    from restorekit.template.build import Built

__all__ = ["Session", "TemplateResult", "open"]

#: A file or folder of a volume: ``"os-p3:/Users/alice"`` (``"file:stream"`` for an NTFS alternate data stream),
#: or a parsed :class:`~restorekit.files.Target`.
Where: TypeAlias = str | Target


def open(*paths: str | os.PathLike[str], keys: Keys | None = None,
         facts: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), need_images: bool = True) -> Session:
    """Open a recovery point: a restore-disks folder, a ``recoverypoint.json`` (or its folder), a
    ``config-*.json``, disk images, or the URLs of blobs and containers in Azure Storage.

    ``keys`` unlock encrypted volumes (BitLocker, LUKS). ``facts`` set the recovery point's facts beside (and
    over) the manifest's, as ``--fact KEY=VALUE``. With ``need_images=False`` a restore job's config whose VHDs
    were not downloaded still opens, for :meth:`Session.describe`, :meth:`Session.plan` and
    :meth:`Session.template` (those disks are not scanned). Use the session as a context manager, or
    :meth:`Session.close` it, to close the images.
    """
    pairs = facts.items() if isinstance(facts, Mapping) else facts
    return Session([os.fspath(p) for p in paths], keys if keys is not None else Keys(), list(pairs), need_images)


@dataclass
class TemplateResult:
    """What :meth:`Session.template` wrote: the template and its parameters, and the command that deploys them."""

    built: Built
    template_file: Path
    parameters_file: Path
    deploy_command: str


class Session:
    """An opened recovery point: its disks, volumes and files (see the module docstring)."""

    def __init__(self, paths: Sequence[str], keys: Keys, facts: Sequence[tuple[str, Any]] = (),
                 need_images: bool = True) -> None:
        self.keys = keys
        #: What the recovery point declares: its form, disks, VM, vault, facts (the JSON it came with).
        self.recovery_point: RecoveryPoint = open_recovery_point(paths, need_images=need_images)
        apply_facts(self.recovery_point, facts)
        self._stack = contextlib.ExitStack()
        self._disks: list[OpenedDisk] | None = None
        self._volumes: list[VolumeInfo] | None = None  # the full scan (with OS evidence)
        self._files: dict[str, VolumeInfo] | None = None  # the scan for file access
        self._letters: dict[str, str] | None = None  # drive letter -> volume id, read once asked for
        self._closed = False

    # -- lifetime ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the images; the session cannot read them any more (``ValueError``, as a closed file)."""
        self._stack.close()
        self._closed = True
        self._disks, self._volumes, self._files, self._letters = None, None, None, None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- disks and volumes ------------------------------------------------------------------------------------

    @property
    def disks(self) -> list[OpenedDisk]:
        """Every disk, its image opened (or the error that kept it closed), as ``restorekit inspect`` lists them;
        the images are opened on first use."""
        if self._closed:
            raise ValueError("the restorekit session is closed")
        if self._disks is None:
            self._disks = self._stack.enter_context(opened_disks(self.recovery_point))
        return self._disks

    @property
    def remote(self) -> bool:
        """True when a disk is read where it lives in Azure Storage (by threads, over connections)."""
        return any(isinstance(ref.image, str) for ref in self.recovery_point.disks)

    def volumes(self) -> list[VolumeInfo]:
        """Every volume, as ``restorekit inspect`` lists them (partitions, containers, file systems, OS evidence);
        a locked one has ``locked`` set and says why in ``warnings``."""
        if self._volumes is None:
            self._volumes = scan([(d.ref.id, d.image) for d in self.disks if d.image is not None], self.keys)
            self._files = {v.id: v for v in self._volumes}
        return self._volumes

    def volume(self, volume_id: str) -> VolumeInfo:
        """One volume by id; :class:`FilesystemError` lists the ids there are."""
        for info in self.volumes():
            if info.id == volume_id:
                return info
        raise FilesystemError(f"no volume {volume_id!r} in this recovery point", volume=volume_id,
                              hint=f"volumes: {', '.join(v.id for v in self.volumes())}")

    def check_keys(self) -> None:
        """Raise :class:`UnlockError` when a key given did not unlock the volume it was for (the CLI's exit 1)."""
        raise_if_keys_failed(self.volumes(), self.keys)

    def unlock(self, volume: str = "*", *, password: str | None = None, recovery_password: str | None = None,
               bek: str | os.PathLike[str] | None = None) -> list[VolumeInfo]:
        """Add a key for ``volume`` (``*``: every volume) and scan again; returns the volumes it unlocked.

        Raises :class:`UnlockError` when the key opens none of them (it is kept out of the session then).
        """
        given = [KeyEntry(volume, kind, os.fspath(value), "unlock()") for kind, value in
                 (("password", password), ("recovery-password", recovery_password), ("bek", bek)) if value]
        if not given:
            raise UnlockError("no key given", volume=volume, hint="pass password=, recovery_password= or bek=")
        before = {v.id for v in self.volumes() if v.encryption and not v.locked}
        self.keys.entries += given
        self._volumes, self._files, self._letters = None, None, None
        opened = [v for v in self.volumes() if v.encryption and not v.locked and v.id not in before]
        if not opened:
            for entry in given:
                self.keys.entries.remove(entry)
            candidates = [v for v in self.volumes() if v.encryption and v.locked and volume in ("*", v.id)]
            if volume != "*" and not candidates:
                self.volume(volume)  # no such volume: that error
            errors = [v.unlock_error for v in candidates if v.unlock_error is not None]
            if len(errors) == 1:
                raise errors[0]
            raise UnlockError(f"the key given did not unlock {volume if volume != '*' else 'any locked volume'}",
                              volume=None if volume == "*" else volume,
                              hint="; ".join(map(str, errors)) or "no locked volume is left")
        return opened

    def evidence(self) -> Evidence:
        """What the disks show, as data (what ``show`` and ``plan`` read): volumes, disk sizes, disk errors."""
        from restorekit.evidence import evidence_of  # ~0.5 ms: only show, plan and template read evidence

        return evidence_of(self.disks, self.volumes())

    def _evidence(self, scan_images: bool) -> Evidence:
        """:meth:`evidence`, or none at all when ``scan_images`` is False (the JSON alone is read)."""
        from restorekit.evidence import Evidence  # see evidence()

        return self.evidence() if scan_images else Evidence()

    def describe(self, *, scan_images: bool = True) -> dict[str, Any]:
        """What is known about the recovery point and what is not, as ``restorekit show --json`` prints it;
        ``scan_images=False`` reads the JSON only."""
        from restorekit.show import describe

        return describe(self.recovery_point, self._evidence(scan_images))

    # -- files ------------------------------------------------------------------------------------------------

    def prepare(self, targets: Sequence[Where]) -> None:
        """Open the file systems of the volumes ``targets`` name (every volume when one names none) in one scan,
        as the CLI does before it reads; optional, the other methods open what they need."""
        self._file_access([self._where(t) for t in targets])

    def filesystem(self, volume_id: str) -> Filesystem:
        """The file system of a volume; :class:`FilesystemError` (or :class:`UnlockError`) says why it cannot
        be read and lists the readable volumes."""
        volume_id = self._where(Target(volume_id, "/")).volume or volume_id  # a drive letter: its volume
        return volume_filesystem(self._file_access([Target(volume_id, "/")]), volume_id)

    def readable_volumes(self) -> list[str]:
        """The volumes a search of every volume covers (those with files, and those that may hold files but
        cannot be read, so a search can name them as skipped)."""
        return searched_volumes(self._file_access(None))

    def stat(self, where: Where) -> Entry:
        """The entry of a file or folder (``os-p3:/Windows``); :class:`EntryNotFoundError` when there is none."""
        return self.resolve(where)[1]

    def ls(self, where: Where, *, recursive: bool = False,
           onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[Entry]:
        """The entries of a folder (a file lists itself), as ``restorekit ls``; with ``recursive``, every entry
        below it, parents before children. A folder that cannot be read goes to ``onerror`` and the listing goes
        on (without ``onerror``, it raises)."""
        fs, target = self._fs(where)
        return list_entries(fs, target.path, recursive, onerror)

    def ls_batches(self, where: Where, *, recursive: bool = False,
                   onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[EntryBatch | Window]:
        """:meth:`ls` a batch at a time, for listings of millions of entries: batches of entries read one by one,
        or windows of the volume's file table (:class:`restorekit.fs.table.Window`), both with ``paths``,
        ``names``, ``is_dir()``, ``select(keep)``, ``entries()``, ``json_lines(volume, dumps)`` and, as UTF-8
        bytes, ``json_bytes(volume, dumps)`` and ``text_bytes(escape, encode, paths=True)``; a window makes its
        entries and lines in bulk, from columns."""
        fs, target = self._fs(where)
        return list_batches(fs, target.path, recursive, onerror)

    def walk(self, where: Where, onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[Entry]:
        """Every entry below a folder, as ``restorekit ls -r``: :meth:`ls` with ``recursive``."""
        return self.ls(where, recursive=True, onerror=onerror)

    def find(self, pattern: Where, *, newer: int | None = None, older: int | None = None, min_size: int | None = None,
             max_size: int | None = None, types: Collection[str] | None = None,
             onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[tuple[str, Entry]]:
        """``(volume id, entry)`` of each path matching a glob (``**`` spans folders, ``{a,b}`` alternatives), as
        ``restorekit find``: ``"os-p3:/Users/**/*.docx"`` searches one volume, ``"**/*.docx"`` every readable
        one. ``newer``/``older`` are mtimes in ns since 1970; ``min_size``/``max_size`` (bytes) keep files only;
        ``types`` keeps entries of those types (``file``, ``dir``, ``symlink``). ``onerror`` gets each folder or
        volume that cannot be searched (without it, that raises)."""
        for vid, found in self.find_batches(pattern, newer=newer, older=older, min_size=min_size,
                                            max_size=max_size, types=types, onerror=onerror):
            for entry in found.entries():
                yield vid, entry

    def find_batches(self, pattern: Where, *, newer: int | None = None, older: int | None = None,
                     min_size: int | None = None, max_size: int | None = None, types: Collection[str] | None = None,
                     onerror: Callable[[FilesystemError], None] | None = None) -> Iterator[tuple[str, Found]]:
        """:meth:`find` a batch of the walk at a time, for searches of millions of entries: ``(volume id, batch)``,
        whose ``entries()`` picks the batch's matches when called (``bulk``: a window of a file table)."""
        target = self._where(pattern)
        condition = FindFilter(newer, older, min_size, max_size, frozenset(types) if types is not None else None)

        def report(exc: FilesystemError) -> None:
            if onerror is None:
                raise exc
            onerror(exc)

        for vid in [target.volume] if target.volume else self.readable_volumes():
            try:
                for found in find_batches(self.filesystem(vid), target.path, condition, report):
                    yield vid, found
            except (FilesystemError, UnlockError) as exc:
                if target.volume:
                    raise
                report(FilesystemError(f"{exc}; volume skipped"))  # one unreadable volume hides nothing

    def open(self, where: Where) -> io.BufferedReader:
        """A file's bytes (or an NTFS alternate data stream's, ``file:stream``) as a seekable binary file."""
        return io.BufferedReader(open_data(*self.resolve(where)), 1 << 20)

    def copy(self, where: Where, fd: int, hasher: Any = None) -> int:
        """Write a file's bytes to the open file descriptor ``fd`` (at its position when it is a regular file),
        copied in the kernel where the image allows, feeding ``hasher`` (a ``hashlib`` object) as they go, as
        ``restorekit cat``; returns the byte count."""
        fs, entry, stream = self.resolve(where)
        return copy_to_fd(fs, entry, stream, fd, hasher)

    def resolve(self, where: Where) -> tuple[Filesystem, Entry, str | None]:
        """The file system, the entry and the alternate data stream (or None) that ``where`` names."""
        fs, target = self._fs(where)
        entry, stream = resolve(fs, target.path)
        return fs, entry, stream

    def plan_extract(self, sources: Sequence[Where], *, tar: bool = False, streams: bool = False,
                     parents: bool = False, overwrite: bool = False, verify: bool = False,
                     windows_metadata: bool = False, progress: Progress | None = None) -> OutputPlan:
        """Where every file of ``sources`` would go, decided before anything is written; raises
        :class:`OutputError` when two sources would get one output name (see :meth:`extract`)."""
        from restorekit.extract import ExtractOptions, plan_outputs  # ~2 ms, and hashlib: only runs that extract

        targets = [self._where(s) for s in sources]
        self._file_access(targets)
        by_volume: dict[str, tuple[Filesystem, list[tuple[Entry, str | None]]]] = {}
        for target in targets:
            fs, entry, stream = self.resolve(target)
            by_volume.setdefault(fs.volume, (fs, []))[1].append((entry, stream))
        options = ExtractOptions(streams=streams, overwrite=overwrite, verify=verify, parents=parents,
                                 windows_metadata=windows_metadata, progress=progress,
                                 protected=self.recovery_point.protected_files())
        return plan_outputs(list(by_volume.values()), options, tar=tar)

    def extract(self, sources: Sequence[Where], output: str | os.PathLike[str] | None = None, *,
                tar: str | os.PathLike[str] | int | None = None, streams: bool = False, parents: bool = False,
                overwrite: bool = False, verify: bool = False, windows_metadata: bool = False,
                progress: Progress | None = None) -> ExtractReport:
        """Copy files and folders into the folder ``output``, or as a tar stream into the file ``tar`` (a path,
        written whole and renamed, or an open file descriptor), with the guarantees of ``restorekit extract``.

        Every output name is decided first (:meth:`plan_extract`): two sources claiming one name raise
        :class:`OutputError` before anything is written. The report lists each file skipped or failed with why;
        ``report.complete`` is True exactly when the CLI would exit 0.
        """
        if (output is None) == (tar is None):
            raise ValueError("give exactly one of output (a folder) or tar (a file or a file descriptor)")
        if windows_metadata and tar is None:
            raise ValueError("windows_metadata goes with tar: a folder has no place for NTFS creation times and "
                             "attributes")
        if isinstance(tar, str | os.PathLike):
            self.recovery_point.refuse_output(Path(tar), "a --tar file")
        plan = self.plan_extract(sources, tar=tar is not None, streams=streams, parents=parents,
                                 overwrite=overwrite, verify=verify, windows_metadata=windows_metadata,
                                 progress=progress)
        return self.write(plan, output, tar=tar)

    def write(self, plan: OutputPlan, output: str | os.PathLike[str] | None = None, *,
              tar: str | os.PathLike[str] | int | None = None) -> ExtractReport:
        """Write what :meth:`plan_extract` planned into the folder ``output`` or the tar ``tar`` (see
        :meth:`extract`)."""
        if output is not None:
            from restorekit.extract import extract_to_folder  # see plan_extract: only runs that extract

            return extract_to_folder(plan, output)
        from restorekit.outfile import write_whole_file
        from restorekit.tarout import write_tar  # tarfile and the PAX writer load only for a tar

        if isinstance(tar, int):
            return write_tar(plan, tar)
        path = Path(os.fspath(tar or ""))
        self.recovery_point.refuse_output(path, "a --tar file")
        return write_whole_file(path, lambda fd: write_tar(plan, fd), what="tar file",
                                overwrite=plan.options.overwrite)

    # -- restores ---------------------------------------------------------------------------------------------

    def plan(self, option: str = "all", request: RestoreRequest | None = None, *, scan_images: bool = True) -> Plan:
        """A verdict per restore option (``create-vm``, ``restore-disks``, ``replace-disks``, ``files``, or
        ``all``), each finding citing its rule, as ``restorekit plan``. ``plan.exit_code(option)`` is the CLI's."""
        from restorekit.plan import plan as make_plan
        from restorekit.request import OPTIONS, RestoreRequest

        return make_plan(self.recovery_point, request or RestoreRequest(keys=self.keys), self._evidence(scan_images),
                         OPTIONS if option == "all" else (option,))

    def template(self, output: str | os.PathLike[str], request: RestoreRequest | None = None, *,
                 disk_source: str | None = None, overwrite: bool = False, scan_images: bool = True) -> TemplateResult:
        """Write ``azuredeploy.json`` and ``azuredeploy.parameters.json`` into the folder ``output`` (never over
        the recovery point's files, nor over existing files unless ``overwrite``), as ``restorekit template``."""
        from restorekit.request import RestoreRequest  # the request and its JSON shapes: only plan and template
        from restorekit.template.build import build_template
        from restorekit.template.output import deploy_command, write_template

        request = request or RestoreRequest(keys=self.keys)
        built = build_template(self.recovery_point, request, self._evidence(scan_images),
                               disk_source)
        files = write_template(built, self.recovery_point, Path(output), overwrite=overwrite)
        template_file, parameters_file = files
        return TemplateResult(built, template_file, parameters_file,
                              deploy_command(template_file, parameters_file, request.target_resource_group))

    # -- inside -----------------------------------------------------------------------------------------------

    def _file_access(self, targets: Sequence[Target] | None) -> dict[str, VolumeInfo]:
        """The volumes, with the file systems ``targets`` name opened (all: None, or a target without a volume).

        One scan serves the session: a file system it left closed is opened later from the plaintext it kept, so
        no key is tried twice.
        """
        if self._files is None:
            self._files = file_volumes(self.disks, self.keys, targets)
        wanted = None if targets is None or any(t.volume is None for t in targets) else {t.volume for t in targets}
        for info in self._files.values():
            if info.fs_deferred and (wanted is None or info.id in wanted):
                open_volume_filesystem(info)
        return self._files

    def drive_letters(self) -> dict[str, str]:
        """Drive letter → volume id, from the ``MountedDevices`` of the SYSTEM hive on the Windows volume (a
        disk signature and offset, or a GPT partition GUID); without one, ``C`` is the only Windows volume."""
        if self._letters is None:
            from restorekit.browse import drive_letters

            volumes = self._file_access(None)
            self._letters = drive_letters(volumes, {v.id: v.fs for v in volumes.values() if v.fs is not None})[0]
        return self._letters

    def _where(self, where: Where) -> Target:
        """``where`` as a target on a volume id: a drive letter (``C:\\Users``) becomes the volume it maps to."""
        target = _target(where)
        if target.volume is None or not is_drive_letter(target.volume):
            return target
        letters = self.drive_letters()
        if target.volume not in letters:
            mapped = ", ".join(f"{k}: {v}" for k, v in letters.items()) or "none"
            raise FilesystemError(f"drive {target.volume}: is not a volume of this recovery point",
                                  volume=target.volume, hint=f"drive letters here: {mapped}; or use a volume id "
                                  "(restorekit inspect)")
        return Target(letters[target.volume], target.path)

    def _fs(self, where: Where) -> tuple[Filesystem, Target]:
        target = self._where(where)
        if target.volume is None:
            raise FilesystemError("names no volume: write VOLUME:/path, e.g. os-p3:/Users", path=target.path)
        return self.filesystem(target.volume), target


def _target(where: Where) -> Target:
    return where if isinstance(where, Target) else parse_target(where)
