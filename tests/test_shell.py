"""``restorekit shell`` driven as people drive it: typed at a terminal (a pty, with Tab and history), piped on
standard input, and with ``-c``; on the demo, the file fixtures and a LUKS1 volume."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES, ReadOnlyGuard, fixture_file, gunzip_to
from tests.fs.volume_images import LUKS1_PASSWORD

DEMO = FIXTURES / "demo"


def shell(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "restorekit", "shell", *args], input=stdin, capture_output=True,
                          text=True, check=False, timeout=300, env=env)


def test_piped_commands_and_an_error_that_does_not_end_the_shell() -> None:
    lines = ["cd C:\\Windows\\System32", "pwd", "bogus", "ls /nope", "cd /lun0-p1/srv/data", "ls",
             "cat README.txt", "hexdump README.txt -n 16", "cd ..", "pwd", "find '*.csv'", "volumes"]
    proc = shell(str(DEMO), stdin="\n".join(lines) + "\n")
    out = proc.stdout.splitlines()
    assert out[0] == "/os-p3/Windows/System32"
    assert out[1:5] == ["README.txt", "backups/", "customers.csv", "logs/"]
    assert out[5] == "Application data of demo-vm. Mounted at /srv/data."
    assert out[6] == "00000000  41 70 70 6c 69 63 61 74  69 6f 6e 20 64 61 74 61  |Application data|"
    assert out[7:10] == ["00000010", "/lun0-p1/srv", "/lun0-p1/srv/data/customers.csv"]
    assert out[10].split() == ["os-p1", "fat", "34.0", "MiB", "SYSTEM"]
    assert out[11].split() == ["os-p3", "ntfs", "4.0", "MiB", "Windows", "C:"]
    assert "Error: unknown command 'bogus' (help lists the commands)" in proc.stderr
    assert "Error: /nope: no such volume folder. The volumes are os-p1, os-p3, lun0-p1" in proc.stderr
    assert proc.returncode == 1, proc.stderr  # the last command that failed was `ls /nope`
    assert "Traceback" not in proc.stderr


def test_exit_status_is_the_last_failure() -> None:
    assert shell(str(DEMO), "-c", "pwd").returncode == 0
    assert shell(str(DEMO), "-c", "ls --bogus", "-c", "pwd").returncode == 2
    assert shell(str(DEMO), "-c", "ls --bogus", "-c", "cat /os-p3/missing", "-c", "pwd").returncode == 1
    proc = shell(str(DEMO), "-c", "cat 'unbalanced")
    assert proc.returncode == 2 and "No closing quotation" in proc.stderr


def test_get_writes_what_extract_writes(tmp_path: Path) -> None:
    got = tmp_path / "got"
    proc = shell(str(DEMO), "-c", "cd C:/Users", "-c", f"get Administrator os-p1:/EFI/Boot -o {got} --verify")
    assert proc.returncode == 0, proc.stderr
    assert "files, " in proc.stderr and "0 skipped, 0 failed" in proc.stderr
    ref = subprocess.run([sys.executable, "-m", "restorekit", "extract", str(DEMO), "os-p3:/Users/Administrator",
                          "os-p1:/EFI/Boot", "-o", str(tmp_path / "ref"), "--verify"], capture_output=True,
                         check=True)
    assert ref.returncode == 0
    got = {p.relative_to(tmp_path / "got"): p.read_bytes() for p in (tmp_path / "got").rglob("*") if p.is_file()}
    want = {p.relative_to(tmp_path / "ref"): p.read_bytes() for p in (tmp_path / "ref").rglob("*") if p.is_file()}
    assert got == want and len(got) > 2
    again = shell(str(DEMO), "-c", f"get os-p1:/EFI/Boot -o {tmp_path / 'got'}", "--json")
    assert again.returncode == 0 and '"unchanged": 1' in again.stdout


def test_get_never_writes_over_the_recovery_point(tmp_path: Path) -> None:
    # the image is called hello.txt, as the file get would write beside it
    folder = tmp_path / "rp"
    folder.mkdir()
    image = gunzip_to(fixture_file("images/files/ext4.img.gz"), folder, "hello.txt")
    guard = ReadOnlyGuard([image])
    proc = shell(str(image), "-c", f"get d0:/hello.txt -o {folder}")
    assert proc.returncode == 1 and "Error: d0:/hello.txt:" in proc.stderr, proc.stderr
    guard.check()


def test_unlock_once_then_read(tmp_path: Path) -> None:
    image = gunzip_to(fixture_file("images/volumes/luks1.img.gz"), tmp_path)
    proc = shell(str(image), "-c", "ls /", "-c", "ls /d0", "-c", "unlock --password wrong",
                 "-c", f"unlock --password {LUKS1_PASSWORD}", "-c", "ls /d0", "-c", "volumes")
    assert "Error: /d0: the volume is not readable: d0: LUKS1 volume is locked" in proc.stderr
    assert "Warning: no volume was unlocked" in proc.stderr and "Unlocked: d0" in proc.stdout
    assert "secret1" in proc.stdout  # the label of the unlocked ext2
    assert proc.returncode == 1  # the wrong password failed; the rest ran


def test_json_output() -> None:
    import json

    proc = shell(str(DEMO), "--json", "-c", "stat /lun0-p1/srv/data/customers.csv")
    doc = json.loads(proc.stdout)
    assert doc[0]["volume"] == "lun0-p1" and doc[0]["size"] == 808 and doc[0]["mtime"].endswith("Z")
    proc = shell(str(DEMO), "--json", "-c", "volumes")
    os_p3 = json.loads(proc.stdout)["volumes"][1]
    assert {k: os_p3[k] for k in ("id", "filesystem", "label", "driveLetter")} == {
        "id": "os-p3", "filesystem": "ntfs", "label": "Windows", "driveLetter": "C"}


class Terminal:
    """The shell in a pseudo-terminal: type keys, wait for text on the screen."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "restorekit", "shell", *args], stdin=follower,
                                     stdout=follower, stderr=follower, env=env, close_fds=True)
        os.close(follower)
        self.screen = ""

    def type(self, keys: str) -> None:
        os.write(self.leader, keys.encode())

    def wait_for(self, text: str, timeout: float = 60, count: int = 1) -> str:
        end = time.monotonic() + timeout
        while self.screen.count(text) < count:
            ready, _w, _x = select.select([self.leader], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise AssertionError(f"{text!r} did not appear; the screen:\n{self.screen}")
            try:
                self.screen += os.read(self.leader, 4096).decode(errors="replace")
            except OSError:  # the shell ended
                raise AssertionError(f"{text!r} did not appear; the screen:\n{self.screen}") from None
        return self.screen

    def close(self) -> int:
        code = self.proc.wait(60)
        os.close(self.leader)
        return code


def test_a_terminal_session_with_tab_completion_and_history(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm"}
    term = Terminal([str(DEMO)], env)
    term.wait_for("restorekit:/> ")
    term.type("cd lun\t")  # a volume id
    term.wait_for("cd lun0-p1/")
    term.type("sr\t")  # a folder of it
    term.wait_for("cd lun0-p1/srv/")
    term.type("da\t\r")
    term.wait_for("restorekit:/lun0-p1/srv/data> ")
    term.type("ca\t")  # a command
    term.wait_for("cat ")
    term.type("cus\t\r")
    term.wait_for("Customer 001")  # a line of customers.csv
    term.type("cd C:\\Prog\t")  # a Windows path, a name with a space
    term.wait_for("cd C:\\Program\\ Files/")
    term.type("\rpwd\r")
    term.wait_for("/os-p3/Program Files\r\n")
    term.type("unlock --password hunter2\r")
    term.wait_for("no volume was unlocked")
    term.type("\x03")  # Ctrl-C at the prompt: a new prompt, the shell goes on
    term.type("pwd\r")
    term.wait_for("\n/os-p3/Program Files\r\n", count=2)
    term.type("exit\r")
    assert term.close() == 1  # the unlock failed
    history = (tmp_path / "state" / "restorekit" / "shell_history").read_text()
    assert "pwd" in history and "cat customers.csv" in history and "hunter2" not in history
    assert oct((tmp_path / "state" / "restorekit" / "shell_history").stat().st_mode & 0o777) == "0o600"
    term = Terminal([str(DEMO)], env)  # the history is there in the next session
    term.wait_for("restorekit:/> ")
    term.type("\x1b[A")  # arrow up: the last command
    term.wait_for("exit")
    term.type("\r")
    assert term.close() == 0


def test_a_truncated_image_is_said_at_start_and_its_lost_files_fail(tmp_path: Path) -> None:
    image = gunzip_to(fixture_file("images/files/ext4.img.gz"), tmp_path)
    os.truncate(image, 1_900_000)
    proc = shell(str(image), "-c", "cat /d0/big.bin", "-c", "ls /d0")
    assert proc.stderr.startswith("Warning: d0: ext4 says it is 8388608 bytes but the volume holds only 1900000")
    assert "Error: d0: /big.bin: bytes 0-614400 of the file are stored at volume offsets" in proc.stderr
    assert "\nbig.bin\n" in proc.stdout and "\nhello.txt\n" in proc.stdout  # the root folder still lists
    assert proc.returncode == 1
