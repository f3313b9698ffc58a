"""ls and find as users of GNU ls/find expect them: -R/--long/--human, size suffixes, --type, -0, -l, brace
globs, escaped control characters and UTC labels; on ext4 images made by mke2fs -d."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from restorekit.cli.files import short_size
from restorekit.files import glob_regex, name_filter
from tests.test_extract import ext4_image, write
from tests.test_files import run


def tree(src: Path) -> None:
    write(src / "docs" / "a.docx", b"d" * 3000)
    write(src / "docs" / "b.xlsx", b"x" * 10)
    write(src / "docs" / "c.pdf", b"p" * 5000)
    write(src / "docs" / "sub" / "d.docx", b"d" * 2_000_000)
    write(src / "line\nbreak\x1b[31m.txt", b"evil name\n")
    os.symlink("docs/a.docx", src / "link")
    for path in src.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000), follow_symlinks=False)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(ext4_image(tmp_path_factory.mktemp("lsfind"), tree))


def lines(*args: str) -> list[str]:
    code, out, err = run(*args)
    assert code == 0, err
    return out.decode().splitlines()


def test_brace_globs(image: str) -> None:
    assert sorted(lines("find", image, "d0:/**/*.{docx,xlsx}")) == ["d0:/docs/a.docx", "d0:/docs/b.xlsx",
                                                                  "d0:/docs/sub/d.docx"]
    assert lines("find", image, "d0:/docs/{sub/*.docx,c.pdf}") == ["d0:/docs/c.pdf", "d0:/docs/sub/d.docx"]
    # nested, unpaired and single braces (as bash: literal)
    regex = glob_regex("**/*.{doc{x,m},{pdf,txt}}", False)
    assert [bool(regex.match(p)) for p in ("/a.docx", "/a.docm", "/b/a.txt", "/a.doc", "/a.{x}")] == [
        True, True, True, False, False]
    assert glob_regex("/a{b", False).match("/a{b") and glob_regex("/{x}", False).match("/{x}")
    assert glob_regex("/[{,]x", False).match("/,x") and not glob_regex("/[{,]x", False).match("/[x")


def test_names_are_tried_before_paths_only_where_that_is_exact() -> None:
    """``find`` on a table walk tries the names against the glob's last part before it makes paths: a path the
    glob matches must have a name that passes, and where the last part cannot be told apart there is no test."""
    paths = ["/a/file00001.txt", "/a/b/FILE00000.TXT", "/x/y.docx", "/a/b", "/a/[b]", "/q/file0.txt", "/a/b/c.d",
             "/a/new\nline.txt", "/a/x\nfile00000.txt", "/x/ya"]
    for pattern in ("/**/file0000[01].txt", "*.docx", "/a/?", "/a/[ab]", "/**/c.*", "/a/*", "/x/y.doc[!a]",
                    "/x/y[!b]", "/**/*.txt"):
        for ignore_case in (False, True):
            pick = name_filter(pattern, ignore_case)
            assert pick is not None, pattern
            full = glob_regex(pattern if pattern.startswith(("/", "**")) else "**/" + pattern, ignore_case)
            for names in ([p.rsplit("/", 1)[1] for p in paths], [p.rsplit("/", 1)[1] for p in paths[:7]]):
                picked = set(pick(names))
                for i, name in enumerate(names):
                    if any(full.match(p) for p in paths if p.rsplit("/", 1)[1] == name):
                        assert i in picked, (pattern, name)
    assert name_filter("/**/FILE*", True)(["file0", "x", "FILE"]) == [0, 2]  # type: ignore[misc]
    assert name_filter("/**/FILE*", False)(["file0", "x", "FILE"]) == [2]  # type: ignore[misc]
    for pattern in ("/a/**", "/a/{b,c/d}", "/a[/]b", "/a/", "**"):
        assert name_filter(pattern, False) is None, pattern


def test_find_sizes_types_and_long_output(image: str) -> None:
    assert lines("find", image, "d0:/**", "--min-size", "4K") == ["d0:/docs/c.pdf", "d0:/docs/sub/d.docx"]
    assert lines("find", image, "d0:/**", "--min-size", "1.5M") == ["d0:/docs/sub/d.docx"]
    assert lines("find", image, "d0:/docs/**", "--max-size", "3000") == ["d0:/docs/a.docx", "d0:/docs/b.xlsx"]
    assert lines("find", image, "d0:/**", "--type", "l") == ["d0:/link"]
    assert set(lines("find", image, "d0:/**", "--type", "d")) >= {"d0:/docs", "d0:/docs/sub"}
    assert "d0:/link" in lines("find", image, "d0:/**", "--type", "f,l")
    code, _o, err = run("find", image, "d0:/**", "--type", "x")
    assert code == 2 and "give f (files), d (folders) or l (symbolic links)" in err
    code, _o, err = run("find", image, "d0:/**", "--min-size", "12Q")
    assert code == 2 and "is not a size like 1000, 64K, 1.5M or 2G" in err
    long = lines("find", image, "d0:/**/d.docx", "-l", "--human")
    assert re.fullmatch(r"-rw-r--r--\s+2\.0M 2023-11-14 22:13:20 UTC d0:/docs/sub/d.docx", long[0]), long


def test_print0_keeps_names_whole(image: str) -> None:
    code, out, _err = run("find", image, "d0:/*.txt", "-0")
    assert code == 0 and out == b"d0:/line\nbreak\x1b[31m.txt\0"
    code, _o, _err = run("find", image, "d0:/*.txt", "-0", "--json")
    assert code == 2


def test_control_characters_are_escaped_in_text_output(image: str) -> None:
    assert "line\\nbreak\\x1b[31m.txt" in lines("ls", image, "d0:/")
    assert lines("find", image, "d0:/*.txt") == ["d0:/line\\nbreak\\x1b[31m.txt"]
    code, out, _err = run("ls", image, "d0:/", "--json")
    assert code == 0
    assert b"line\\nbreak\\u001b[31m.txt" in out  # JSON escapes it its own way: the name as it is


def test_ls_recursive_long_human(image: str) -> None:
    assert lines("ls", image, "d0:/", "-R") == lines("ls", image, "d0:/", "--recursive") == lines(
        "ls", image, "d0:/", "-r")
    long = lines("ls", image, "d0:/docs/sub", "--long", "--human")
    assert long[0].split()[1] == "2.0M" and long[0].split()[4] == "UTC"
    assert lines("ls", image, "d0:/docs/sub", "-l")[0].split()[1] == "2000000"
    assert any(line.endswith(" link -> docs/a.docx") for line in lines("ls", image, "d0:/", "-l"))
    code, out, _err = run("ls", "-h")
    assert code == 0 and b"--human" in out


def test_short_size_rounds_as_ls_h() -> None:
    assert [short_size(n) for n in (0, 1023, 1024, 1025, 1536, 10 * 1024 - 1, 10 * 1024 + 1, 3 << 30)] == [
        "0", "1023", "1.0K", "1.1K", "1.5K", "10K", "11K", "3.0G"]
