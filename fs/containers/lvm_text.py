"""The LVM2 metadata text format: ``name = value`` pairs and ``name { ... }`` sections.

Values are strings, integers or ``[ ... ]`` lists of them; ``#`` starts a comment. The result is nested
dicts, which :mod:`fs.containers.lvm2` reads.
"""

from __future__ import annotations

import re
from typing import Any

from restorekit.fs.errors import VolumeError

TOKEN = re.compile(r'\s*(?:#[^\n]*|("(?:[^"\\]|\\.)*")|(-?\d+)|([A-Za-z_.][\w.+\-]*)|([={}\[\],]))', re.S)


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
        tokens = _tokens(text)
        result, _pos = _section(tokens, 0, top=True)
    except (ValueError, IndexError) as exc:
        raise VolumeError(f"LVM2 metadata text is malformed: {exc}", volume=volume,
                          hint="the PV's metadata area is damaged; another PV of the VG may hold a good copy") from exc
    return result


def _section(tokens: list[tuple[str, Any]], pos: int, *, top: bool = False) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while pos < len(tokens):
        kind, value = tokens[pos]
        if kind == "}":
            if top:
                raise ValueError("unbalanced '}'")
            return out, pos + 1
        if kind != "name":
            raise ValueError(f"expected a name, found {value!r}")
        nxt = tokens[pos + 1][0]
        if nxt == "{":
            out[value], pos = _section(tokens, pos + 2)
        elif nxt == "=":
            out[value], pos = _value(tokens, pos + 2)
        else:
            raise ValueError(f"expected '=' or '{{' after {value}")
    if not top:
        raise ValueError("unterminated section")
    return out, pos


def _value(tokens: list[tuple[str, Any]], pos: int) -> tuple[Any, int]:
    kind, value = tokens[pos]
    if kind in ("str", "int"):
        return value, pos + 1
    if kind != "[":
        raise ValueError(f"unexpected {value!r} as a value")
    items: list[Any] = []
    pos += 1
    while tokens[pos][0] != "]":
        if tokens[pos][0] == ",":
            pos += 1
            continue
        item, pos = _value(tokens, pos)
        items.append(item)
    return items, pos + 1
