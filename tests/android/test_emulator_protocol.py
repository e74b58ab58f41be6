"""Protocol fidelity: Debian's `adb` client (and its adb server) drive the emulated phone.

The client talks to a local adb server that it starts itself; each test gives it its
own server port (ANDROID_ADB_SERVER_PORT) and HOME (so ~/.android/adbkey is the
test's), and kills that server at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.adb_emulator import AdbEmulator

pytestmark = pytest.mark.timeout(90)

ADB = shutil.which("adb") or "/usr/bin/adb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdbClient:
    def __init__(self, home: Path):
        self.home = home
        self.env = {
            **os.environ,
            "HOME": str(home),
            "ANDROID_ADB_SERVER_PORT": str(_free_port()),
            "ADB_VENDOR_KEYS": "",
        }
        (home / ".android").mkdir(parents=True)
        self("keygen", str(self.key))

    @property
    def key(self) -> Path:
        return self.home / ".android" / "adbkey"

    def __call__(self, *args: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([ADB, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"adb {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc

    def state(self, serial: str) -> str | None:
        for line in self("devices").stdout.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] == serial:
                return parts[1]
        return None


@pytest.fixture
def adb(tmp_path):
    client = AdbClient(tmp_path / "adb-home")
    client("start-server")
    try:
        yield client
    finally:
        client("kill-server", check=False)


def test_debian_adb_connects_with_a_trusted_key_then_shells_pushes_and_pulls(adb, tmp_path):
    pub = Path(f"{adb.key}.pub").read_text()
    with AdbEmulator(tmp_path / "phone", authorized_keys=[pub], accept_new_keys=False) as emu:
        out = adb("connect", emu.address).stdout
        assert f"connected to {emu.address}" in out
        assert "AUTH signature accepted" in emu.events  # the client signed the token with that key
        listing = adb("devices", "-l").stdout
        assert f"{emu.address}" in listing and "model:Emulated_Phone" in listing

        shell = adb("-s", emu.address, "shell", "echo hello; echo $((6*7)); getprop ro.product.model")
        assert shell.stdout == "hello\n42\nEmulated Phone\n"

        blob = tmp_path / "blob.bin"
        blob.write_bytes(os.urandom(1_500_000))
        pushed = adb("-s", emu.address, "push", str(blob), "/data/local/tmp/new/dir/blob.bin")
        assert "1 file pushed" in pushed.stdout
        on_phone = emu.sandbox / "data/local/tmp/new/dir/blob.bin"
        assert on_phone.read_bytes() == blob.read_bytes()
        listed = adb("-s", emu.address, "shell", "ls -l /data/local/tmp/new/dir").stdout
        assert "blob.bin" in listed and "1500000" in listed

        back = tmp_path / "back.bin"
        adb("-s", emu.address, "pull", "/data/local/tmp/new/dir/blob.bin", str(back))
        assert back.read_bytes() == blob.read_bytes()
        assert any(e.startswith("OPEN sync:") for e in emu.events)

        # a directory pull lists it (sync LIST) and fetches each file
        (emu.sandbox / "data/local/tmp/new/dir/second.txt").write_text("two\n")
        adb("-s", emu.address, "pull", "/data/local/tmp/new/dir", str(tmp_path / "copy"))
        assert (tmp_path / "copy/second.txt").read_text() == "two\n"
        assert (tmp_path / "copy/blob.bin").read_bytes() == blob.read_bytes()
        missing = adb("-s", emu.address, "pull", "/data/local/tmp/nope.bin", str(tmp_path / "x"), check=False)
        assert missing.returncode != 0 and "nope.bin" in missing.stderr + missing.stdout


def test_debian_adb_with_an_unknown_key_stays_unauthorized(adb, tmp_path):
    with AdbEmulator(tmp_path / "phone", accept_new_keys=False) as emu:
        adb("connect", emu.address, check=False)
        deadline = time.monotonic() + 10
        while adb.state(emu.address) != "unauthorized" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert adb.state(emu.address) == "unauthorized"
        assert "AUTH signature rejected" in emu.events
        denied = adb("-s", emu.address, "shell", "echo hi", check=False)
        assert denied.returncode != 0 and "hi" not in denied.stdout


def test_debian_adb_key_accepted_at_the_prompt(adb, tmp_path):
    with AdbEmulator(tmp_path / "phone", accept_new_keys=True) as emu:
        adb("connect", emu.address, check=False)  # the first attempt offers the public key
        deadline = time.monotonic() + 10
        while adb.state(emu.address) != "device" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert adb.state(emu.address) == "device"
        assert any(e.startswith("AUTH new key") and e.endswith("allowed") for e in emu.events)
        assert adb("-s", emu.address, "shell", "echo ok").stdout == "ok\n"
