"""The fuzzer's own parts: the classifier, the operations, the JSON edits, the escape check, the layouts."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import fixture_file, gunzip_to
from tests.fuzz.classify import classify
from tests.fuzz.mutators import layout_for
from tests.fuzz.mutators.jsondoc import JsonEdit
from tests.fuzz.ops import Fixup, Patch
from tests.fuzz.runner import _bad_tar, _escapes

ROOT = Path(__file__).resolve().parents[2]
TRACEBACK = f"""Traceback (most recent call last):
  File "{ROOT}/restore/cli/common.py", line 10, in run
    main()
  File "{ROOT}/fs/images/vhd.py", line 99, in _read_bat
    struct.unpack_from(">I", raw, at)
  File "/usr/lib/python3.11/struct.py", line 5, in helper
    pass
struct.error: unpack_from requires a buffer of at least 4 bytes
"""
FAULT = f"""Fatal Python error: Aborted

Current thread 0x00007f (most recent call first):
  File "{ROOT}/fs/filesystems/ext.py", line 42 in walk
  File "{ROOT}/fs/filesystems/ext.py", line 50 in list_all
  File "{ROOT}/restore/cli/files.py", line 7 in ls
"""


def test_classes_and_signatures() -> None:
    assert classify(0, "", timed_out=False).cls == "ok"
    assert classify(1, "Error: x.vhd: bad footer (at offset 0x00000000). Rebuild it\n", timed_out=False).cls \
        == "clean-error"
    assert classify(1, "Warning: d0: /a cannot be read\n", timed_out=False).cls == "clean-error"
    assert classify(1, "", timed_out=False).cls == "unclear-error"
    verdict = classify(1, TRACEBACK, timed_out=False)
    assert (verdict.cls, verdict.signature) == ("traceback", "traceback struct.error @ fs/images/vhd.py:_read_bat")
    assert classify(None, FAULT, timed_out=True).signature == "hang @ fs/filesystems/ext.py:list_all"
    assert classify(-11, FAULT, timed_out=False).signature == "crash SIGSEGV @ fs/filesystems/ext.py:walk"
    assert classify(1, TRACEBACK.replace("struct.error", "MemoryError"), timed_out=False).cls == "memory"
    assert classify(0, "", timed_out=False, wrote_input="in/x changed").cls == "wrote-input"
    endless = TRACEBACK.replace("struct.error: unpack_from", "OSError: [Errno 27] File too large")
    assert classify(1, endless, timed_out=False).signature == "hang (endless output) @ fs/images/vhd.py:_read_bat"
    # A sparse file whose damaged size passes the file-size cap, with little data written, is an ordinary error.
    sparse = "Error: out/files/big.bin: cannot write: File too large\n"
    assert classify(1, sparse, timed_out=False, big_output=False).cls == "clean-error"
    assert classify(1, sparse, timed_out=False, big_output=True).cls == "hang"


def test_patch_narrows_to_changed_bytes() -> None:
    runs = Patch("f", 2, b"xbcy").narrowed(b"01abcd")
    assert [(p.offset, p.data) for p in runs] == [(2, b"x"), (5, b"y")]


def test_json_edits_deepen_and_surrogates() -> None:
    files = {"doc.json": bytearray(b'{"a": {"b": 1}, "c": "x"}')}
    JsonEdit("doc.json", ("a", "b"), "deepen").apply(files)
    with pytest.raises(RecursionError):
        json.loads(files["doc.json"])
    files = {"doc.json": bytearray('{"c": "x"}'.encode("utf-16"))}
    JsonEdit("doc.json", ("c",), "set", "\ud800").apply(files)
    assert files["doc.json"][:2] == b"\xff\xfe" and "\\ud800" in files["doc.json"].decode("utf-16")


def test_escape_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "ok").symlink_to("../d")
    assert _escapes(out) == ""
    (out / "d" / "bad").symlink_to("../../x")
    assert _escapes(out).startswith("symlink: d/bad")
    (out / "d" / "bad").unlink()
    with tarfile.open(out / "files.tar", "w") as tar:
        tar.addfile(tarfile.TarInfo("a/../../etc/x"))
    assert _escapes(out).startswith("tar member")
    with tarfile.open(out / "files.tar", "w") as tar:
        info = tarfile.TarInfo("ok.txt")
        info.size = 2000
        tar.addfile(info, io.BytesIO(bytes(2000)))
    (out / "files.tar").write_bytes((out / "files.tar").read_bytes()[:1200])  # a member cut short
    assert _escapes(out) == "" and _bad_tar(out, 1).startswith("files.tar is not a readable tar")


def test_gpt_fixup_keeps_the_crc_valid(tmp_path: Path) -> None:
    raw = gunzip_to(fixture_file("images/base.raw.gz"), tmp_path)
    files = {"base.raw": bytearray(raw.read_bytes())}
    Patch("base.raw", 512 + 48, struct.pack("<Q", 1 << 40)).apply(files)
    Fixup("base.raw", "gpt", 512).apply(files)
    header = bytearray(files["base.raw"][512:604])
    stored = struct.unpack_from("<I", header, 16)[0]
    header[16:20] = bytes(4)
    assert zlib.crc32(header) == stored


@pytest.mark.skipif(shutil.which("mke2fs") is None, reason="mke2fs missing: apt-get install e2fsprogs")
def test_ext4_layout_finds_directory_entries(tmp_path: Path) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "file.txt").write_text("x")
    image = tmp_path / "ext4.img"
    with open(image, "wb") as f:
        f.truncate(4 << 20)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(tmp_path / "src"), str(image)], check=True,
                   env={**os.environ, "PATH": "/usr/sbin:/sbin:" + os.environ.get("PATH", "")})
    layout = layout_for("ext4.img", image.read_bytes(), ["sub", "file.txt"])
    kinds = {region.kind for region in layout.regions}
    assert {"ext.superblock", "ext.inode", "ext.dirBlock"} <= kinds
    notes = {patch.note for patch in layout.specials}
    assert "entry points at the root (an ancestor: cycle)" in notes
    assert any(note.startswith("name 'file.txt'") for note in notes)
