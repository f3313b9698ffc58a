r"""Reading the JSON that Azure and users hand us: odd encodings, flattened and case-varying keys, documents
checked against their shape (:mod:`restorekit.schema`) before anything reads them, and JSON written safely.

Every document is parsed by :func:`parse_json`, which refuses nesting deeper than :data:`MAX_DEPTH` before the
decoder could recurse that far, then checked by :func:`restorekit.shapes.check_shape`: a field of the wrong type is
reported by its JSON path, so the code that reads the documents can trust every type it meets. Keys are matched
case-insensitively, as :func:`ci_get` reads them.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit.fs.errors import RestoreKitError

#: Deepest nesting of arrays and objects accepted. Azure's documents nest about 10 deep; the limit keeps every
#: recursive reader (the decoder, :func:`unflatten`, :func:`~restorekit.shapes.check_shape`) far below Python's
#: recursion limit.
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
