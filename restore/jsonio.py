"""Reading the JSON that Azure and users hand us: odd encodings, flattened and case-varying keys."""

from __future__ import annotations

import codecs
import json
import re
from typing import TYPE_CHECKING, Any

from restorekit.fs.errors import RecoveryPointError

if TYPE_CHECKING:
    from pathlib import Path


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


def load_json(path: Path) -> Any:
    """Parse a JSON file in any encoding Azure writes; errors name the file, line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecoveryPointError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    return parse_json_bytes(raw, where=str(path))


def parse_json_bytes(raw: bytes, *, where: str) -> Any:
    """Parse a JSON document (a file's or a blob's bytes) in any encoding Azure writes; errors name ``where``."""
    try:
        return json.loads(decode_json_bytes(raw))
    except UnicodeDecodeError as exc:
        raise RecoveryPointError("is neither UTF-8 nor UTF-16 text", path=where, offset=exc.start) from exc
    except json.JSONDecodeError as exc:
        raise RecoveryPointError(f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                 path=where) from exc


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
