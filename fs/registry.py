"""Format registries whose format modules are imported only when a format is found.

Every image, volume and file system is run past each format of a layer, so detection must not cost the import of
every format's parser (together ~20 ms, mostly dataclasses, json and crypto helpers, paid by every command). A
registry lists its formats as :class:`LazyFormat` entries instead of classes: the name, a check that needs none
of the format's code (the magic bytes and where they lie, kept in the layer's ``signatures`` module), and where
the format's class is; :meth:`LazyFormat.load` imports that module once the check has matched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.stream import ImageSource, Stream

T = TypeVar("T")


class LazyFormat(Generic[T]):
    """One format of a registry: its name, its cheap check, and its class, imported on first :meth:`load`."""

    __slots__ = ("detect", "name", "where")

    def __init__(self, name: str, detect: Callable[..., bool], where: str) -> None:
        #: The format's ``type_name`` (``lvm2``, ``ntfs``, ``vhdx``).
        self.name = name
        #: True when the format's signature is on the stream: the layer's detection arguments, no import.
        self.detect = detect
        #: ``"module:Class"`` of the format's class.
        self.where = where

    def load(self) -> type[T]:
        """The format's class, its module imported now if it was not yet."""
        module, _, attr = self.where.partition(":")
        cls: type[T] = getattr(importlib.import_module(module), attr)
        return cls

    def __repr__(self) -> str:
        return f"LazyFormat({self.name!r}, {self.where!r})"


def has_signature(stream: Stream | ImageSource, signatures: tuple[tuple[bytes, int], ...]) -> bool:
    """True when one of the ``(magic, offset)`` pairs is on ``stream``; a negative offset counts from the end."""
    for magic, offset in signatures:
        at = offset if offset >= 0 else stream.size + offset
        if at >= 0 and at + len(magic) <= stream.size and stream.pread(len(magic), at) == magic:
            return True
    return False


def signature_check(*signatures: tuple[bytes, int]) -> Callable[..., bool]:
    """A detection that is :func:`has_signature` with these ``(magic, offset)`` pairs (other arguments ignored)."""

    def detect(stream: Stream | ImageSource, *_hints: Any) -> bool:
        return has_signature(stream, signatures)

    return detect
