"""JSON documents (recoverypoint.json, config-*.json, --target-vm, --storage-account): edits on the parsed tree
(type swaps, removed keys, huge and negative numbers, deep nesting, lone surrogates, names with ``/``), written
back in the file's own encoding (UTF-16 with BOM as Azure writes config files, or UTF-8), and byte-level damage
(invalid UTF-8, truncation)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from tests.fuzz.ops import Files, Op, Patch, Truncate

Path = tuple[str | int, ...]
SWAPS: list[Any] = [None, True, 0, -1, 2**63, 1e308, "", "x" * 5000, [], {}, "\ud800", "../../etc/passwd",
                    "a/b\\c", "é" * 300, [[[[[]]]]], "0", "-1", "NaN"]


def _decode(raw: bytes) -> tuple[Any, str]:
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    return json.loads(raw.decode(encoding)), encoding


def _paths(node: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


DEEP = "\x00deep\x00"  # stands for the nesting, which json.dumps cannot write (recursion)
NESTING = "[" * 100_000 + "{}" + "]" * 100_000


@dataclass(frozen=True)
class JsonEdit:
    """Set (``value``), delete (``delete``) or deepen the node at ``path``; a no-op if the file is no longer JSON."""

    file: str
    path: Path
    action: str
    value: Any = None

    def apply(self, files: Files) -> None:
        try:
            doc, encoding = _decode(bytes(files[self.file]))
        except (UnicodeDecodeError, ValueError, RecursionError):  # no longer a document this edit can change
            return
        if not self.path:
            doc = self.value if self.action == "set" else DEEP
        else:
            parent = doc
            try:
                for key in self.path[:-1]:
                    parent = parent[key]
                if self.action == "delete":
                    del parent[self.path[-1]]
                elif self.action == "deepen":
                    parent[self.path[-1]] = DEEP
                else:
                    parent[self.path[-1]] = self.value
            except (KeyError, IndexError, TypeError):
                return
        text = json.dumps(doc, indent=2).replace(json.dumps(DEEP), NESTING)
        files[self.file][:] = text.encode(encoding if encoding != "utf-8-sig" else "utf-8", "surrogatepass")

    def describe(self) -> dict[str, Any]:
        return {"op": "json", "file": self.file, "path": list(self.path), "action": self.action,
                "value": repr(self.value)[:200]}


def mutate(file: str, raw: bytes, rng: random.Random) -> list[Op]:
    """One to three edits of the document in ``raw``, sometimes followed by byte-level damage."""
    try:
        doc, _ = _decode(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return [Patch(file, rng.randrange(max(len(raw), 1)), bytes([rng.randrange(256)]))]
    paths = _paths(doc)
    ops: list[Op] = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(paths)
        roll = rng.random()
        if roll < 0.55:
            ops.append(JsonEdit(file, path, "set", rng.choice(SWAPS)))
        elif roll < 0.8 and path:
            ops.append(JsonEdit(file, path, "delete"))
        elif roll < 0.88:
            ops.append(JsonEdit(file, path, "deepen"))
        else:
            ops.append(JsonEdit(file, path, "set", {"unexpected": [1, {"a": None}], "": "", "/": "/"}))
    roll = rng.random()
    if roll < 0.08:
        ops.append(Truncate(file, rng.randrange(max(len(raw), 1))))
    elif roll < 0.14:
        ops.append(Patch(file, rng.randrange(max(len(raw), 1)), rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]),
                         "invalid UTF-8"))
    return ops
