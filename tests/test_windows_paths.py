"""Windows paths as admins type them: ``os-p3:\\Windows\\System32``, ``C:\\Users\\alice``, ``C:/Users``; drive letters
from the SYSTEM hive's MountedDevices (MBR signature + offset, GPT partition GUID), or ``C`` for the only Windows
volume when no hive maps it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from restorekit.files import Target, parse_target
from tests.test_mount import windows_disk

DEMO = str(Path(__file__).resolve().parents[1] / "fixtures" / "demo")


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "restorekit", *args], capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_targets_parse_windows_spellings() -> None:
    assert parse_target("os-p3:\\Windows\\System32") == Target("os-p3", "/Windows/System32")
    assert parse_target("c:\\Users\\alice") == Target("C", "/Users/alice")
    assert parse_target("C:/Users") == Target("C", "/Users")
    assert parse_target("C:") == Target("C", "/")
    assert parse_target("lun0-p1:/odd\\name") == Target("lun0-p1", "/odd\\name")  # a / says it is a POSIX path


def test_the_demo_by_windows_paths(tmp_path: Path) -> None:
    code, out, _err = run("cat", DEMO, "C:\\Windows\\System32\\drivers\\etc\\hosts")
    assert code == 0 and "Microsoft Corp" in out
    code, out, _err = run("ls", DEMO, "os-p3:\\Users\\Administrator")
    assert out.split() == ["Desktop/", "Documents/"]
    code, out, _err = run("ls", DEMO, "c:/Users", "--json")
    assert [(e["volume"], e["name"]) for e in json.loads(out)] == [("os-p3", "Administrator")]
    code, out, _err = run("find", DEMO, "C:\\Users\\**\\*.docx")
    assert out.splitlines() == ["os-p3:/Users/Administrator/Documents/report.docx"]
    code, _out, err = run("extract", DEMO, "C:\\Users\\Administrator\\Documents", "-o", str(tmp_path / "out"))
    assert code == 0 and (tmp_path / "out" / "Documents" / "report.docx").stat().st_size == 958, err
    code, _out, err = run("ls", DEMO, "E:\\")
    assert code == 1 and "drive E: is not a volume of this recovery point" in err and "C: os-p3" in err


@pytest.mark.parametrize("table", ["mbr", "gpt"])
def test_drive_letters_come_from_mounted_devices(tmp_path: Path, table: str) -> None:
    disk = str(windows_disk(tmp_path, table))
    code, out, err = run("cat", disk, "D:\\Data.txt")
    assert (code, out) == (0, "Data"), err
    code, out, _err = run("cat", disk, "C:/Windows.txt")
    assert out == "Windows"
    code, _out, err = run("ls", disk, "E:")  # the hive maps E: to a CD drive, not to a volume here
    assert code == 1 and "drive E: is not a volume" in err and "C: d0-p1, D: d0-p2" in err
