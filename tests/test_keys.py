"""Keys given without putting them on the command line: ``--password-file``, ``--keys`` (a keychain, one key per
volume or ``*``), ``RESTOREKIT_PASSWORD`` and a terminal prompt (``--ask-password``, or by itself when a command
that reads files meets a locked volume), on the shared BitLocker and LUKS images and the LUKS fixtures.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from restorekit.cli import cli
from restorekit.fs.errors import KeyFileError
from restorekit.fs.keys import KeyEntry, Keys, read_keychain, read_password_file
from tests.conftest import shared
from tests.fs.volume_images import (
    BITLOCKER_PASSWORD,
    BITLOCKER_RECOVERY,
    LUKS1_PASSWORD,
    LUKS2_PASSWORD,
    LUKS2_SHARED_PASSWORD,
    shared_image,
    volume_fixture,
)

RESTOREKIT = Path(sys.executable).with_name("restorekit")


def run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env={"RESTOREKIT_PASSWORD": "", **(env or {})}).invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


# -- the keychain file -------------------------------------------------------------------------------------------


def test_keychain_lines_types_comments_and_relative_bek(tmp_path: Path) -> None:
    keys = write(tmp_path / "keys.txt", "# volume type key\n\n   # indented comment\n"
                                        "os-p3 recovery_key 284867-596541\n"
                                        "lun0-p1\tpassphrase correct horse  battery \n"
                                        "* BEK sub/6A2B.BEK\n")
    assert read_keychain(keys) == [
        KeyEntry("os-p3", "recovery-password", "284867-596541", f"{keys}:4"),
        KeyEntry("lun0-p1", "password", "correct horse  battery", f"{keys}:5"),
        KeyEntry("*", "bek", str(tmp_path / "sub" / "6A2B.BEK"), f"{keys}:6"),
    ]


@pytest.mark.parametrize(("line", "message"), [
    ("hunter2", "keys.txt:2: expected VOLUME TYPE KEY, found 1 field."),
    ("os-p3 hunter2", "keys.txt:2: expected VOLUME TYPE KEY, found 2 fields."),
    ("os-p3 pasword hunter2", "keys.txt:2: unknown key type 'pasword'. Use one of bek, password, recovery-password"),
])
def test_a_bad_keychain_line_names_file_and_line_never_the_secret(tmp_path: Path, line: str, message: str) -> None:
    keys = write(tmp_path / "keys.txt", f"# ok\n{line}\n")
    with pytest.raises(KeyFileError) as caught:
        read_keychain(keys)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")
    assert "hunter2" not in str(caught.value)


def test_password_file_first_line_and_its_errors(tmp_path: Path) -> None:
    assert read_password_file(write(tmp_path / "pw", "s3cret word\nignored\n")) == "s3cret word"
    with pytest.raises(KeyFileError, match="holds no password"):
        read_password_file(write(tmp_path / "empty", "\n"))
    with pytest.raises(KeyFileError, match="cannot be read: No such file or directory"):
        read_password_file(tmp_path / "absent")


def test_keys_for_a_volume() -> None:
    keys = Keys(["everyone"], entries=[KeyEntry("d0", "password", "mine"), KeyEntry("*", "bek", "k.BEK"),
                                       KeyEntry("d1", "recovery-password", "theirs")])
    d0 = keys.for_volume("d0")
    assert (d0.passwords, d0.recovery_passwords, d0.bek_files) == (["everyone", "mine"], [], ["k.BEK"])
    assert d0.derived is keys.derived  # one key derivation per password for the whole command
    assert [e.volume for e in keys.unknown_volumes(["d0"])] == ["d1"]
    assert not Keys().for_volume("d0")
    assert "mine" not in repr(keys) and "everyone" not in repr(keys)  # a repr or traceback shows no secret


# -- each way unlocks -------------------------------------------------------------------------------------------


def test_password_file_unlocks_bitlocker(tmp_path: Path) -> None:
    image = shared_image("bitlocker/aes-xts_128.bin.gz", tmp_path)
    code, out, err = run("inspect", image, "--password-file", write(tmp_path / "pw", BITLOCKER_PASSWORD + "\n"))
    assert code == 0, err
    assert "bitlocker AES-128-XTS (unlocked)" in out


def test_restorekit_password_unlocks_luks1_and_files_read(tmp_path: Path) -> None:
    image = volume_fixture("luks1", tmp_path)
    code, out, err = run("ls", image, "d0:/", env={"RESTOREKIT_PASSWORD": LUKS1_PASSWORD})
    assert (code, out) == (0, "lost+found/\nsecret.txt\n"), err
    code, out, err = run("ls", image, "d0:/")  # nothing given, no terminal: the volume stays locked
    assert code == 1
    assert err.startswith("Error: d0: LUKS1")


def test_keychain_unlocks_each_volume_with_its_own_key(tmp_path: Path) -> None:
    images = [shared_image(f"bitlocker/{n}.bin.gz", tmp_path) for n in ("aes-xts_128", "recovery_password")]
    bek = shared("bitlocker/recovery_key.bek")
    images.append(shared_image("bitlocker/recovery_key.bin.gz", tmp_path))
    keys = write(tmp_path / "keys.txt", f"d0 password {BITLOCKER_PASSWORD}\n"
                                        f"d1 recovery-password {BITLOCKER_RECOVERY}\n"
                                        f"d2 bek {bek}\n")
    code, out, err = run("inspect", *images, "--keys", keys, "--json")
    assert code == 0, err
    assert out.count('"locked": false') == 3 and '"locked": true' not in out


def test_keychain_with_the_shared_luks2_argon2_image(tmp_path: Path) -> None:
    image = shared_image("luks/aes-xts-plain64.bin.gz", tmp_path)
    keys = write(tmp_path / "keys.txt", f"* passphrase {LUKS2_SHARED_PASSWORD}\n")
    code, out, err = run("inspect", image, "--keys", keys)
    assert code == 0, err
    assert "luks2 aes-xts-plain64 (unlocked)" in out


def test_a_keychain_line_for_another_volume_does_not_apply(tmp_path: Path) -> None:
    luks1, luks2 = volume_fixture("luks1", tmp_path), volume_fixture("luks2-pbkdf2", tmp_path)
    keys = write(tmp_path / "keys.txt", f"d1 password {LUKS1_PASSWORD}\n")
    code, out, err = run("inspect", luks1, luks2, "--keys", keys)
    assert code == 1
    assert "luks1 aes-xts-plain64 (locked)" in out  # the key was for d1: d0 is not tried with it
    assert err.startswith("Error: d1: the password given did not unlock d1 (LUKS2")
    assert LUKS1_PASSWORD not in out + err
    write(keys, f"d0 password {LUKS1_PASSWORD}\nd1 password {LUKS2_PASSWORD}\n")
    code, out, err = run("inspect", luks1, luks2, "--keys", keys)
    assert code == 0, err
    assert "(locked)" not in out


def test_wrong_keys_say_so_and_never_show_the_secret(tmp_path: Path) -> None:
    image = volume_fixture("luks2-pbkdf2", tmp_path)
    code, out, err = run("inspect", image, "--password-file", write(tmp_path / "pw", "Wr0ng-s3cret\n"))
    assert code == 1
    assert err.startswith("Error: d0: the password given did not unlock d0 (LUKS2")
    code, out2, err2 = run("ls", image, "d0:/", env={"RESTOREKIT_PASSWORD": "Wr0ng-s3cret"})
    assert code == 1
    assert "the password given did not unlock d0" in err2
    code, out3, err3 = run("plan", image, "--keys", write(tmp_path / "k", "d0 password Wr0ng-s3cret\n"), "--json")
    assert '"--password/--recovery-password": "(given)"' in out3
    assert "Wr0ng-s3cret" not in out + err + out2 + err2 + out3 + err3


def test_a_keychain_naming_a_volume_the_recovery_point_lacks(tmp_path: Path) -> None:
    image = volume_fixture("luks1", tmp_path)
    keys = write(tmp_path / "keys.txt", f"d0 password {LUKS1_PASSWORD}\nos-p3 password other\n")
    code, _out, err = run("inspect", image, "--keys", keys)
    assert code == 1
    assert err == (f"Error: {keys}:2: no volume 'os-p3' in this recovery point. Volume ids are those "
                   "`restorekit inspect` prints: d0\n")


def test_ask_password_needs_a_terminal(tmp_path: Path) -> None:
    code, _out, err = run("inspect", volume_fixture("luks1", tmp_path), "--ask-password")
    assert code == 2
    assert "--ask-password needs a terminal on standard input" in err


# -- the terminal prompt ----------------------------------------------------------------------------------------


class Terminal:
    """restorekit run on a pseudo-terminal, as a person at a shell runs it."""

    def __init__(self, *args: str | Path, cwd: Path) -> None:
        self.master, slave = os.openpty()
        env = {k: v for k, v in os.environ.items() if k != "RESTOREKIT_PASSWORD"}
        self.proc = subprocess.Popen([str(RESTOREKIT), *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                                     cwd=cwd, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while self.seen.count(text.encode()) < count:
            assert time.monotonic() < end, f"no {text!r} on the terminal: {self.seen!r}"
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    break

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(60)
        while select.select([self.master], [], [], 0.2)[0]:  # what is still buffered
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        os.close(self.master)
        return code, self.seen.decode()


PROMPT = "Password or recovery password for d0 (luks), empty to skip: "


def test_ls_asks_for_the_password_of_a_locked_volume_on_a_terminal(tmp_path: Path) -> None:
    image = volume_fixture("luks1", tmp_path)
    term = Terminal("ls", image, "d0:/", cwd=tmp_path)
    term.wait_for(PROMPT)
    term.type("not-it")
    term.wait_for(PROMPT, 2)
    term.type(LUKS1_PASSWORD)
    term.wait_for("secret.txt")
    code, seen = term.finish()
    assert code == 0, seen
    assert "That key did not unlock d0." in seen
    assert LUKS1_PASSWORD not in seen and "not-it" not in seen  # never echoed


def test_ask_password_after_a_wrong_key_and_giving_up(tmp_path: Path) -> None:
    image = volume_fixture("luks1", tmp_path)
    term = Terminal("inspect", image, "--password", "wrong", "--ask-password", cwd=tmp_path)
    term.wait_for(PROMPT)
    assert "That key did not unlock d0." in term.seen.decode()
    term.type("")  # empty: skip
    code, seen = term.finish()
    assert code == 1
    assert "Error: d0: the password given did not unlock d0 (LUKS1" in seen
