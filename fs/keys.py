"""The keys that unlock encrypted volumes (BitLocker, LUKS): given for every volume, or per volume in a keychain.

A keychain file (``--keys FILE``) has one key a line: the volume id as ``restorekit inspect`` prints it (or ``*``
for every volume), the key type, and the key::

    # volume   type               key
    os-p3      recovery-password  284867-596541-514998-422114-660297-261613-215424-199408
    lun0-p1    password           correct horse battery staple
    *          bek                6A2B0C.BEK

The key is the rest of the line without the blanks around it (a password may hold spaces); a BEK file's path
is relative to the keychain's folder. Blank lines and lines starting with ``#`` are skipped. A bad line is a
:class:`KeyFileError` naming ``file:line``, never the line itself (it may hold a secret). No key ever appears in
a message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from restorekit.fs.errors import KeyFileError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["KEY_TYPES", "KeyEntry", "Keys", "PasswordPrompt", "read_keychain", "read_password_file"]

#: Key types a keychain line may name (as Dissect's keychain and the tools admins know spell them), and the
#: kind of key each is.
KEY_TYPES = {
    "password": "password", "passphrase": "password",
    "recovery-password": "recovery-password", "recovery_password": "recovery-password",
    "recovery-key": "recovery-password", "recovery_key": "recovery-password",
    "bek": "bek", "key-file": "bek", "key_file": "bek", "startup-key": "bek", "startup_key": "bek", "file": "bek",
}
#: Every volume.
ANY_VOLUME = "*"
#: Wrong answers to a password prompt before the volume is left locked (as cryptsetup does).
PROMPT_TRIES = 3


@dataclass(frozen=True)
class KeyEntry:
    """One key for one volume (``*``: every volume); ``source`` says where it came from (``keys.txt:3``)."""

    volume: str
    kind: str  #: ``password``, ``recovery-password`` or ``bek``
    value: str = field(repr=False)
    source: str = ""


class PasswordPrompt(Protocol):
    """Asks a person for the key of a locked volume: ``what`` describes it (``luks2``, ``bitlocker``); ``retry``
    is True after a wrong answer. Returns None when the person gives up (end of input)."""

    def __call__(self, volume: str, what: str, retry: bool) -> str | None: ...


@dataclass
class Keys:
    """The keys the user passed: ``passwords``, ``recovery_passwords`` and ``bek_files`` are tried on every
    encrypted volume, ``entries`` (a keychain) on the volumes they name."""

    passwords: list[str] = field(default_factory=list, repr=False)  # secrets: never in a repr or a traceback
    recovery_passwords: list[str] = field(default_factory=list, repr=False)
    bek_files: list[str] = field(default_factory=list)
    entries: list[KeyEntry] = field(default_factory=list)
    #: Asks for the key of a volume that stays locked (the CLI's terminal prompt); None: never ask.
    prompt: PasswordPrompt | None = field(default=None, repr=False, compare=False)
    #: Ask also when the keys given did not fit (``--ask-password``), not only when none was given.
    prompt_after_failure: bool = False
    #: Volumes already asked for, so a second scan of one command does not ask again.
    asked: set[str] = field(default_factory=set, repr=False, compare=False)
    #: What a key derivation made of a password, by (password, KDF parameters): a command that scans twice
    #: (file access rescans to list the readable volumes) pays for a LUKS2 Argon2 run (seconds, ~1 GB) once.
    derived: dict[tuple[Any, ...], bytes] = field(default_factory=dict, repr=False, compare=False)
    #: ``--force-assemble``: read arrays whose members disagree on their event counts from the freshest members
    #: (as ``mdadm --assemble --force``) instead of refusing them.
    force_assemble: bool = False

    def __bool__(self) -> bool:
        return bool(self.passwords or self.recovery_passwords or self.bek_files or self.entries)

    def for_volume(self, volume: str) -> Keys:
        """The keys tried on ``volume``: those for every volume, then the keychain's for it or for ``*``."""
        mine = [e for e in self.entries if e.volume in (volume, ANY_VOLUME)]
        return Keys([*self.passwords, *(e.value for e in mine if e.kind == "password")],
                    [*self.recovery_passwords, *(e.value for e in mine if e.kind == "recovery-password")],
                    [*self.bek_files, *(e.value for e in mine if e.kind == "bek")],
                    derived=self.derived)

    def answered(self, secret: str) -> Keys:
        """The keys to try for a prompt's answer: a password, and a BitLocker recovery password when it has the
        shape of one (48 digits)."""
        recovery = [secret] if len(re.sub(r"[-\s]", "", secret)) == 48 and re.fullmatch(r"[\d\s-]+", secret) else []
        return Keys([secret], recovery, derived=self.derived)

    def remember(self, volume: str, keys: Keys) -> None:
        """Keep the keys a prompt's answer gave for ``volume``, so a second scan unlocks it without asking."""
        self.entries += [KeyEntry(volume, "password", p, "prompt") for p in keys.passwords]
        self.entries += [KeyEntry(volume, "recovery-password", p, "prompt") for p in keys.recovery_passwords]

    def unknown_volumes(self, volume_ids: Iterable[str]) -> list[KeyEntry]:
        """Keychain entries naming a volume that is not among ``volume_ids`` (a typo, or another recovery point)."""
        known = set(volume_ids) | {ANY_VOLUME}
        return [e for e in self.entries if e.volume not in known]


def read_keychain(path: str | os.PathLike[str]) -> list[KeyEntry]:
    """The keys of a keychain file (see the module docstring); :class:`KeyFileError` names ``file:line`` of the
    first bad line."""
    file = Path(path)
    text = _read_text(file, "--keys", "one line per key: VOLUME TYPE KEY")
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{file}:{number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.strip(" \t").split(None, 2)
        if len(fields) < 3:
            raise KeyFileError(f"expected VOLUME TYPE KEY, found {len(fields)} field{'s' * (len(fields) != 1)}",
                               path=where, hint="write e.g. `os-p3 password <the password>` (`*` for every "
                                                "volume); the line itself is not shown, it may hold a secret")
        volume, kind, value = fields
        if kind.lower() not in KEY_TYPES:
            raise KeyFileError(f"unknown key type {kind!r}", path=where,
                               hint=f"use one of {', '.join(sorted(set(KEY_TYPES.values())))} (also "
                                    f"{', '.join(k for k in KEY_TYPES if k not in KEY_TYPES.values())})")
        kind = KEY_TYPES[kind.lower()]
        if kind == "bek":
            value = str(file.parent / value)
        entries.append(KeyEntry(volume, kind, value, where))
    return entries


def read_password_file(path: str | os.PathLike[str]) -> str:
    """The password in the first line of ``path`` (``-``: standard input), without its line end."""
    if os.fspath(path) == "-":
        import sys

        text = sys.stdin.read()
        what = "standard input"
    else:
        text = _read_text(Path(path), "--password-file", "a file whose first line is the password")
        what = os.fspath(path)
    first = text.splitlines()[0] if text else ""
    if not first:
        raise KeyFileError("holds no password (its first line is empty)", path=what,
                           hint="write the password on the first line of the file")
    return first


def _read_text(file: Path, option: str, what: str) -> str:
    try:
        return file.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"is not UTF-8 text (byte {exc.start})", path=str(file), hint=f"{option} takes {what}") \
            from None
    except OSError as exc:
        raise KeyFileError(f"cannot be read: {exc.strerror}", path=str(file), hint=f"{option} takes {what}") from None
