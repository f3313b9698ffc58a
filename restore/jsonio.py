r"""Reading the JSON that Azure and users hand us: odd encodings, flattened and case-varying keys, documents
checked against their shape (:mod:`restorekit.schema`) before anything reads them, and JSON written safely.

Every document is parsed by :func:`parse_json`, which refuses nesting deeper than :data:`MAX_DEPTH` before the
decoder could recurse that far, then checked by :func:`check_shape`: a field of the wrong type is reported by its
JSON path (``storageProfile.dataDisks: expected a list, got a number``), so the code that reads the documents can
trust every type it meets. ``null`` is accepted for every field (Azure prints it for what is not set), and keys are
matched case-insensitively, as :func:`ci_get` reads them; fields nobody reads are not checked.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from restorekit.fs.errors import RestoreKitError

#: Deepest nesting of arrays and objects accepted. Azure's documents nest about 10 deep; the limit keeps every
#: recursive reader (the decoder, :func:`unflatten`, :func:`check_shape`) far below Python's recursion limit.
MAX_DEPTH = 200
#: A JSON string (skipped whole) or one bracket: what :func:`json_depth` looks at.
_DEPTH_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
#: Lone UTF-16 surrogates: JSON can carry them (``"\ud800"``) but no UTF-8 stream can.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The strings Azure uses for flags, and what they mean.
FLAG_WORDS = {"true": True, "false": False, "enabled": True, "disabled": False}


def decode_json_bytes(raw: bytes) -> str:
    """Text of a JSON file in UTF-8 or UTF-16 (with or without BOM), without trailing NULs."""
    if raw.startswith(codecs.BOM_UTF8):
        text = raw[3:].decode("utf-8")
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16")
    elif len(raw) >= 2 and raw[1] == 0 and raw[0] != 0:
        text = raw.decode("utf-16-le")
    elif len(raw) >= 2 and raw[0] == 0 and raw[1] != 0:
        text = raw.decode("utf-16-be")
    else:
        text = raw.decode("utf-8")
    return text.rstrip("\0 \r\n\t\ufeff")


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, counted without parsing (strings are skipped)."""
    depth = deepest = 0
    for token in _DEPTH_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(text: str) -> Any:
    """Parse JSON text; :class:`ValueError` (one line) for bad JSON, nesting deeper than :data:`MAX_DEPTH`,
    ``NaN``/``Infinity`` and numbers no JSON reader keeps."""
    if json_depth(text) > MAX_DEPTH:
        raise ValueError(f"nests arrays and objects more than {MAX_DEPTH} deep (restorekit reads at most "
                         f"{MAX_DEPTH} levels; Azure documents use about 10)")
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def load_json(path: Path, *, label: str | None = None, error: type[RestoreKitError] = RecoveryPointError,
              hint: str | None = None) -> Any:
    """Parse a JSON file in any encoding Azure writes. Errors are ``error``, name ``label`` (default: the path),
    the line and column, and carry ``hint``."""
    where = label or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", path=where, hint=hint) from exc
    except ValueError as exc:  # a NUL in the path
        raise error(f"cannot read: {exc}", path=where, hint=hint) from exc
    return parse_json_bytes(raw, where=where, error=error, hint=hint)


def parse_json_bytes(raw: bytes, *, where: str, error: type[RestoreKitError] = RecoveryPointError,
                     hint: str | None = None) -> Any:
    """Parse a JSON document (a file's or a blob's bytes) in any encoding Azure writes; errors name ``where``."""
    try:
        text = decode_json_bytes(raw)
    except UnicodeDecodeError as exc:
        raise error("is neither UTF-8 nor UTF-16 text", path=where, offset=exc.start, hint=hint) from exc
    try:
        return parse_json(text)
    except ValueError as exc:
        raise error(f"is not valid JSON: {exc}", path=where, hint=hint) from exc


def dumps(doc: Any, indent: int | None = None) -> str:
    r"""``doc`` as JSON text that any UTF-8 stream takes: non-ASCII kept, lone surrogates (from ``"\ud800"`` in
    an input, or a file name no encoding decodes) written as ``\uXXXX`` escapes, which JSON readers take back."""
    return escape_surrogates(json.dumps(doc, indent=indent, ensure_ascii=False))


def escape_surrogates(text: str) -> str:
    """JSON ``text`` with each lone surrogate written as a ``\\uXXXX`` escape (see :func:`dumps`)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# --- shapes ---------------------------------------------------------------------------------------------------


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


def unflatten(doc: Any) -> Any:
    """Expand dot-flattened keys (``"properties.storageProfile"``) into nested objects, recursively."""
    if isinstance(doc, list):
        return [unflatten(item) for item in doc]
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = {}
    for key, value in doc.items():
        parts = key.split(".") if isinstance(key, str) and "." in key else [key]
        target = out
        for part in parts[:-1]:
            existing = ci_get(target, part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        leaf = unflatten(value)
        old_key = _ci_key(target, parts[-1])
        if old_key is not None and isinstance(target[old_key], dict) and isinstance(leaf, dict):
            target[old_key].update(leaf)
        else:
            target[old_key if old_key is not None else parts[-1]] = leaf
    return out


def _ci_key(doc: dict[str, Any], key: str) -> str | None:
    if key in doc:
        return key
    lower = key.lower()
    return next((k for k in doc if isinstance(k, str) and k.lower() == lower), None)


def ci_get(doc: Any, *path: str | int, default: Any = None) -> Any:
    """Follow ``path`` through nested dicts (keys matched case-insensitively) and lists (indexes)."""
    node = doc
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return default
            node = node[step]
            continue
        if not isinstance(node, dict):
            return default
        key = _ci_key(node, step)
        if key is None:
            return default
        node = node[key]
    return default if node is None else node


def properties(doc: Any) -> Any:
    """``properties`` of an ``az`` resource document, or the document itself when it is already flat."""
    props = ci_get(doc, "properties")
    return props if isinstance(props, dict) else doc


def id_segment(resource_id: Any, name: str) -> str | None:
    """The value after ``/<name>/`` in an ARM resource id (``resourceGroups`` → ``demo-rg``), case-insensitively."""
    if not isinstance(resource_id, str):
        return None
    match = re.search(rf"/{name}/([^/]+)", resource_id, re.IGNORECASE)
    return match.group(1) if match else None
