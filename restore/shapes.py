"""Shapes of JSON documents, and the check that a document has its shape.

:mod:`restorekit.schema` declares the shape of every document restorekit reads with these; :func:`check_shape`
reports the first field of the wrong type by its JSON path (``storageProfile.dataDisks: expected a list, got a
number``), so the code that reads a document can trust every type it meets. ``null`` is accepted for every field
(Azure prints it for what is not set), and keys are matched case-insensitively, as
:func:`restorekit.jsonio.ci_get` reads them; fields nobody reads are not checked. Only runs that read JSON
documents import this module (its dataclasses cost ~1 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError
from restorekit.jsonio import FLAG_WORDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit.fs.errors import RestoreKitError


@dataclass(frozen=True)
class Value:
    """A JSON scalar (or anything): ``name`` says what is expected, ``accepts`` tests a value."""

    name: str
    accepts: Callable[[Any], bool]


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose items have one shape."""

    item: Shape


@dataclass(frozen=True)
class Obj:
    """A JSON object. Known keys (matched case-insensitively) have their shape; other keys may hold anything.
    ``deep``: the known keys are checked wherever they appear below, for documents read with
    :func:`restorekit.model.deep_find`."""

    fields: dict[str, Shape] = field(default_factory=dict)
    deep: bool = False

    def field_shape(self, key: Any) -> Shape | None:
        """The shape of ``key``, or None when nothing reads it."""
        if not isinstance(key, str):
            return None
        lower = key.lower()
        return next((shape for name, shape in self.fields.items() if name.lower() == lower), None)


Shape = Value | ListOf | Obj

STR = Value("a string", lambda v: isinstance(v, str))
INT = Value("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
NUM = Value("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool))
BOOL = Value("true or false", lambda v: isinstance(v, bool))
FLAG = Value('true or false (or "Enabled"/"Disabled")',
             lambda v: isinstance(v, bool) or (isinstance(v, str) and v.lower() in FLAG_WORDS))
STR_OR_INT = Value("a string or a whole number", lambda v: STR.accepts(v) or INT.accepts(v))
ANY = Value("anything", lambda v: True)


class ShapeError(ValueError):
    """A field of a document does not have its shape; ``str()`` is ``path: expected ..., got ...``."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path or 'the document'}: expected {expected}, got {describe_value(value)}")


def describe_value(value: Any) -> str:
    """``a number (5)``, ``a list``, ``an object``: what a JSON value is, for error messages."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"a number ({_short(repr(value), 20)})"
    if isinstance(value, str):
        return f"a string ({_short(repr(value), 40)})"
    return "a list" if isinstance(value, list) else "an object"


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def find_shape_error(doc: Any, shape: Shape, path: str = "") -> ShapeError | None:
    """The first field of ``doc`` (in document order) that does not have its shape, or None. ``null`` fits any
    shape."""
    if doc is None:
        return None
    if isinstance(shape, Value):
        return None if shape.accepts(doc) else ShapeError(path, shape.name, doc)
    if isinstance(shape, ListOf):
        if not isinstance(doc, list):
            return ShapeError(path, "a list", doc)
        return next((e for i, item in enumerate(doc) if (e := find_shape_error(item, shape.item, f"{path}[{i}]"))),
                    None)
    if not isinstance(doc, dict):
        return ShapeError(path, "an object", doc)
    for key, value in doc.items():
        inner = shape.field_shape(key)
        where = _join(path, str(key))
        found = find_shape_error(value, inner, where) if inner is not None else (
            _find_below(value, shape, where) if shape.deep else None)
        if found is not None:
            return found
    return None


def _find_below(doc: Any, shape: Obj, path: str) -> ShapeError | None:
    """A ``deep`` object's fields anywhere in ``doc``: in the objects it holds, and the objects of its lists."""
    if isinstance(doc, dict):
        return find_shape_error(doc, shape, path)
    if isinstance(doc, list):
        return next((e for i, item in enumerate(doc) if (e := _find_below(item, shape, f"{path}[{i}]"))), None)
    return None


def check_shape(doc: Any, shape: Shape, *, where: str, hint: str, at: str = "",
                error: type[RestoreKitError] = RecoveryPointError) -> None:
    """Raise ``error`` naming the file (``where``) and the first field of ``doc`` (below the path ``at``) that
    does not have its shape; ``hint`` says what the document should be."""
    found = find_shape_error(doc, shape, at)
    if found is not None:
        raise error(str(found), path=where, hint=hint)
