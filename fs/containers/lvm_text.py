"""The LVM2 metadata text format: ``name = value`` pairs and ``name { ... }`` sections.

Values are strings, integers or ``[ ... ]`` lists of them; ``#`` starts a comment. The result is nested
dicts, which :mod:`fs.containers.lvm2` reads; :func:`number` and :func:`sections` read values out of them.
"""

from __future__ import annotations

import re
from typing import Any

from restorekit.fs.errors import VolumeError

#: The deepest nesting of sections accepted; LVM writes 4 levels (VG, logical_volumes, LV, segment).
MAX_NESTING = 32
TOKEN = re.compile(r'\s*(?:#[^\n]*|("(?:[^"\\]|\\.)*")|(-?\d+)|([A-Za-z_.][\w.+\-]*)|([={}\[\],]))', re.S)


def number(section: dict[str, Any], key: str, where: str, volume: str) -> int:
    """The non-negative integer ``key`` of a metadata section (0 when absent); VolumeError when it is not one."""
    value = section.get(key, 0)
    if not isinstance(value, int) or value < 0:
        raise VolumeError(f"LVM2 metadata: {where}: {key} = {value!r} is not a non-negative integer", volume=volume,
                          hint="the PV's metadata area is damaged; another PV of the VG may hold a good copy")
    return value


def sections(section: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The subsections of ``section[key]`` (PVs, LVs), ignoring values that are not sections."""
    value = section.get(key)
    if not isinstance(value, dict):
        return {}
    return {name: sub for name, sub in value.items() if isinstance(sub, dict)}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"unexpected character {text[pos]!r} at {pos}")
        pos = match.end()
        string, number, name, punct = match.groups()
        if string is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", string[1:-1])))
        elif number is not None:
            out.append(("int", int(number)))
        elif name is not None:
            out.append(("name", name))
        elif punct is not None:
            out.append((punct, punct))
    return out


def parse_lvm_text(text: str, *, volume: str = "") -> dict[str, Any]:
    """Parse LVM2 metadata text into nested dicts; raise :class:`VolumeError` when it is malformed."""
    try:
        return _parse(_tokens(text))
    except ValueError as exc:
        raise VolumeError(f"LVM2 metadata text is malformed: {exc}", volume=volume,
                          hint="the PV's metadata area is damaged; another PV of the VG may hold a good copy") from exc


def _at(tokens: list[tuple[str, Any]], pos: int) -> tuple[str, Any]:
    if pos >= len(tokens):
        raise ValueError("the text ends inside a section or value")
    return tokens[pos]


def _parse(tokens: list[tuple[str, Any]]) -> dict[str, Any]:
    """The sections and values of ``tokens``, walked with a stack of open sections (no recursion)."""
    root: dict[str, Any] = {}
    open_sections = [root]
    pos = 0
    while pos < len(tokens):
        kind, value = tokens[pos]
        if kind == "}":
            if len(open_sections) == 1:
                raise ValueError("unbalanced '}'")
            open_sections.pop()
            pos += 1
            continue
        if kind != "name":
            raise ValueError(f"expected a name, found {value!r}")
        nxt = _at(tokens, pos + 1)[0]
        if nxt == "{":
            if len(open_sections) > MAX_NESTING:
                raise ValueError(f"sections are nested more than {MAX_NESTING} deep (LVM writes 4)")
            section: dict[str, Any] = {}
            open_sections[-1][value] = section
            open_sections.append(section)
            pos += 2
        elif nxt == "=":
            open_sections[-1][value], pos = _value(tokens, pos + 2)
        else:
            raise ValueError(f"expected '=' or '{{' after {value}")
    if len(open_sections) > 1:
        raise ValueError("unterminated section")
    return root


def _value(tokens: list[tuple[str, Any]], pos: int) -> tuple[Any, int]:
    """A string, an integer or a flat list of them (LVM lists never nest)."""
    kind, value = _at(tokens, pos)
    if kind in ("str", "int"):
        return value, pos + 1
    if kind != "[":
        raise ValueError(f"unexpected {value!r} as a value")
    items: list[Any] = []
    pos += 1
    while True:
        kind, value = _at(tokens, pos)
        if kind == "]":
            return items, pos + 1
        if kind in ("str", "int"):
            items.append(value)
        elif kind != ",":
            raise ValueError(f"unexpected {value!r} in a list")
        pos += 1
