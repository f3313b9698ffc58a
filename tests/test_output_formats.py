"""-f/--format json|table|tsv and --query (JMESPath) as the az CLI has them, on the demo recovery point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from restorekit.cli.output import render_rows
from tests.conftest import on_a_terminal

DEMO = str(Path(__file__).resolve().parents[1] / "fixtures" / "demo")


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_query_selects_from_the_json_of_each_list_command() -> None:
    code, out, _err = run("ls", DEMO, "lun0-p1:/srv/data", "--query", "[?type=='file'].name")
    assert code == 0 and json.loads(out) == ["README.txt", "customers.csv"]
    code, out, _err = run("find", DEMO, "**/*.csv", "--query", "[0].{v: volume, s: size}")
    assert json.loads(out) == {"v": "lun0-p1", "s": 808}
    code, out, _err = run("inspect", DEMO, "--query", "volumes[?fileAccess].id")
    assert json.loads(out) == ["os-p1", "os-p3", "lun0-p1"]
    code, out, _err = run("plan", DEMO, "--no-scan", "--query", "options[?option=='files'].verdict | [0]")
    assert json.loads(out) == "allowed-with-warnings"


def test_table_and_tsv() -> None:
    code, out, _err = run("inspect", DEMO, "-f", "table")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["id", "disk", "offset"] and set(lines[1]) <= {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == ["os-p1", "os-p2", "os-p3", "lun0-p1"]
    assert "family" not in out  # the nested OS object is left out, as az leaves nested values out
    code, out, _err = run("find", DEMO, "lun0-p1:/srv/**/*.csv", "-f", "tsv", "--query", "[].[volume, path, size]")
    assert out == "lun0-p1\t/srv/data/customers.csv\t808\n"
    code, out, _err = run("plan", DEMO, "--no-scan", "--option", "files", "-f", "table")
    assert out.splitlines()[0].split()[:3] == ["option", "verdict", "rule"]
    code, out, _err = run("ls", DEMO, "lun0-p1:/srv/data", "-f", "json")
    assert [e["name"] for e in json.loads(out)] == ["README.txt", "backups", "customers.csv", "logs"]


def test_a_bad_query_is_a_usage_error() -> None:
    code, _out, err = run("ls", DEMO, "lun0-p1:/", "--query", "[?")
    assert code == 2 and "not a JMESPath expression" in err and "Traceback" not in err


def test_render_rows_pure() -> None:
    rows = [{"a": 1, "b": "x\ty", "n": {"deep": 1}}, {"a": None, "b": True, "c": "z"}]
    assert render_rows(rows, tsv=True) == "1\tx y\t\n\tTrue\tz\n"
    assert render_rows(rows, tsv=False).splitlines() == ["a  b     c", "-  ----  -", "1  x y", "   True  z"]
    assert render_rows(["p", "q"], tsv=False).splitlines() == ["Result", "------", "p", "q"]
    assert render_rows([], tsv=False) == ""


def test_text_wraps_at_the_terminal_and_colours_severities() -> None:
    import re

    args = ["plan", DEMO, "--no-scan"]
    text = on_a_terminal(*args, env={"COLUMNS": "72"})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    # every line fits, but for a single token longer than the width (never broken inside a word)
    assert all(len(line) <= 72 or len(line.split()) == 1 for line in plain.splitlines()), plain
    assert "\x1b[36munknown\x1b[0m" in text and "\x1b[33mwarn\x1b[0m" in text
    for line in plain.splitlines():  # never a break inside a word: every line ends on a whole token
        assert not line.endswith("-") or line.endswith("--"), line
    assert "\x1b[" not in on_a_terminal(*args, env={"COLUMNS": "72", "NO_COLOR": "1"})
    _code, piped, _err = run(*args)
    assert "\x1b[" not in piped and max(len(line) for line in piped.splitlines()) > 72  # a pipe gets it as it is
    words = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert words(plain) == words(piped)
