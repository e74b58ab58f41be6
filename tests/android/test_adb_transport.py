"""The adb transport (adb-shell) against the emulated phone: commands, files, kills, faults."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time

import pytest

from harness.errors import CommandTimeout, TransportError
from harness.profiles import DeviceProfile
from harness.transports import open_transport
from harness.transports.adb import AdbTransport, default_adbkey_path
from harness.digest import sha256_of
from tests.adb_emulator.fixtures import emulated_phone

pytestmark = pytest.mark.timeout(60)

HOSTILE = "a b;touch pwned$(id).tflite"


def _adb_profile(address: str, **transport) -> DeviceProfile:
    spec = {"kind": "adb", "address": address, "connect_timeout_s": 2, **transport}
    return DeviceProfile.model_validate({"id": "phone", "name": "Phone", "transport": spec})


def test_open_transport_picks_adb(adb_phone):
    t = open_transport(adb_phone.profile)
    assert isinstance(t, AdbTransport)
    with t:
        assert t.run(["true"], timeout=10).returncode == 0


def test_key_generated_in_config_folder_and_reused(adb_phone, harness_config):
    key = default_adbkey_path()
    assert key.parent == harness_config and not key.exists()
    with open_transport(adb_phone.profile):
        pass
    assert key.is_file() and (key.parent / "adbkey.pub").is_file()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_bytes()
    # the phone now trusts that key: the second connection authenticates by signature
    adb_phone.emulator.events.clear()
    with open_transport(adb_phone.profile):
        pass
    assert key.read_bytes() == first
    assert "AUTH signature accepted" in adb_phone.emulator.events


def test_exit_status_output_cwd_env(adb_phone):
    with open_transport(adb_phone.profile) as t:
        r = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
        assert (r.returncode, r.stdout, r.stderr) == (3, "out\nerr\n", "")
        assert t.run(["printf", "no newline"], timeout=10).stdout == "no newline"
        assert t.run(["printf", "two\n\n"], timeout=10).stdout == "two\n\n"
        assert t.run(["true"], timeout=10).stdout == ""
        r = t.run(["pwd"], timeout=10, cwd="/data/local/tmp")
        assert r.stdout.strip() == str(adb_phone.device_path("/data/local/tmp"))
        r = t.run(["sh", "-c", 'printf "%s" "$GREETING"'], timeout=10, env={"GREETING": "a b; $(id)"})
        assert r.stdout == "a b; $(id)"
        missing = t.run(["no-such-program-here"], timeout=10)
        assert missing.returncode == 127 and "not found" in missing.stdout


def test_arguments_are_never_interpreted(adb_phone):
    with open_transport(adb_phone.profile) as t:
        r = t.run(["echo", HOSTILE, "`id`", "'quoted'", '"dq"', "$HOME", "*"], timeout=10)
        assert r.stdout == f"{HOSTILE} `id` 'quoted' \"dq\" $HOME *\n"
        t.run(["mkdir", "-p", t.workdir], timeout=10).check()
        t.run(["touch", t.path(HOSTILE)], timeout=10).check()
    assert adb_phone.device_path(f"/data/local/tmp/harness/{HOSTILE}").is_file()
    assert not [p for p in adb_phone.sandbox.rglob("pwned*") if p.name != HOSTILE]


def test_push_skips_identical_content_and_pull_round_trips(adb_phone, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(300_000))
    with open_transport(adb_phone.profile) as t:
        remote = t.path("models", "x", "model.bin")
        assert t.push(src, remote) is True
        assert adb_phone.device_path(remote).read_bytes() == src.read_bytes()
        assert t.push(src, remote) is False  # same sha256 on the phone: skipped
        src.write_bytes(os.urandom(300_000))
        assert t.push(src, remote) is True  # changed: sent again
        assert t.read_file(remote) == src.read_bytes()
        out = tmp_path / "back.bin"
        t.pull(remote, out)
        assert out.read_bytes() == src.read_bytes()
        with pytest.raises(TransportError, match="pull of /data/local/tmp/harness/nope"):
            t.read_file(t.path("nope"))


def test_push_sidecar_skips_without_a_shell_and_notices_changes_on_the_phone(adb_phone, tmp_path):
    emu = adb_phone.emulator
    src = tmp_path / "model.bin"
    src.write_bytes(b"A" * 4096)
    os.utime(src, (time.time() - 60,) * 2)  # as model files usually are: not seconds old
    with open_transport(adb_phone.profile) as t:
        remote = t.path("m.bin")
        assert t.push(src, remote) is True
        assert adb_phone.device_path(remote + ".sha256").read_text().startswith(sha256_of(src))
        shells = sum(e.startswith("OPEN shell:") for e in emu.events)
        assert t.push(src, remote) is False
        assert sum(e.startswith("OPEN shell:") for e in emu.events) == shells  # sync requests only
        # same size, new content, written on the phone: its mtime changes, the sidecar is not trusted
        t.run(["sh", "-c", 'printf "%4096s" B > "$1"', "sh", remote], timeout=10).check()
        assert t.push(src, remote) is True
        assert adb_phone.device_path(remote).read_bytes() == src.read_bytes()
        adb_phone.device_path(remote + ".sha256").write_text("garbage")
        assert t.push(src, remote) is False  # no usable sidecar: the phone hashes its copy
        fresh = tmp_path / "fresh.bin"
        fresh.write_bytes(b"C" * 10)
        assert t.push(fresh, t.path("fresh.bin")) is True
        assert not adb_phone.device_path(t.path("fresh.bin.sha256")).exists()  # mtime is "now": no sidecar


def test_push_keeps_the_executable_bit(adb_phone, tmp_path):
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\necho tool ran\n")
    exe.chmod(0o755)
    with open_transport(adb_phone.profile) as t:
        t.push(exe, t.path("tool"))
        assert t.run([t.path("tool")], timeout=10).stdout == "tool ran\n"


def test_hung_command_is_killed_at_its_timeout_with_its_children(adb_phone):
    emu = adb_phone.emulator
    with open_transport(adb_phone.profile) as t:
        t0 = time.monotonic()
        with pytest.raises(CommandTimeout, match="timeout"):
            t.run(["sh", "-c", "sleep 300 & sleep 301 & wait"], timeout=1.0)
        elapsed = time.monotonic() - t0
        assert elapsed < 6.0
        deadline = time.monotonic() + 3
        while emu.leftover_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emu.leftover_pids() == []
        assert t.run(["echo", "still fine"], timeout=10).stdout == "still fine\n"


def test_start_streams_lines_as_they_come_and_terminate_kills(adb_phone):
    with open_transport(adb_phone.profile) as t:
        proc = t.start(["sh", "-c", "echo first; sleep 30; echo never"])
        t0 = time.monotonic()
        lines = proc.lines()
        assert next(lines) == "first"
        assert time.monotonic() - t0 < 5  # streamed, not held until exit
        proc.terminate(grace_s=1.0)
        assert "never" not in list(lines)  # (the killed shell may say "Terminated")
        assert proc.wait(5) == -15
        assert adb_phone.emulator.leftover_pids() == []
        counted = t.start(["sh", "-c", "for i in 1 2 3; do echo line $i; done; exit 4"])
        assert list(counted.lines()) == ["line 1", "line 2", "line 3"]
        assert counted.wait(5) == 4


def test_concurrent_streams_share_the_connection(adb_phone):
    with open_transport(adb_phone.profile) as t:
        slow = t.start(["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.2; done"])
        got = []
        reader = threading.Thread(target=lambda: got.extend(slow.lines()))
        reader.start()
        for i in range(5):
            assert t.run(["echo", str(i)], timeout=10).stdout == f"{i}\n"
        reader.join(10)
        assert got == [f"tick {i}" for i in range(1, 7)]
        assert slow.wait(5) == 0


def test_dropped_connection_fails_promptly_and_close_cleans_up(adb_phone):
    emu = adb_phone.emulator
    t = open_transport(adb_phone.profile).open()
    proc = t.start(["sh", "-c", "echo started; sleep 60"])
    lines = proc.lines()
    assert next(lines) == "started"
    emu.drop_connections()
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="connection lost"):
        list(lines)
    assert time.monotonic() - t0 < 3
    with pytest.raises(TransportError):
        t.run(["true"], timeout=5)
    assert emu.leftover_pids()  # the phone kept running it, as a real one would
    t.close()  # reconnects to kill what it started
    deadline = time.monotonic() + 3
    while emu.leftover_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emu.leftover_pids() == []


def test_phone_that_does_not_authorise_the_key(tmp_path, harness_config):
    with emulated_phone(tmp_path, accept_new_keys=False) as phone:
        t = AdbTransport(_adb_profile(phone.emulator.address, connect_timeout_s=1))
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="did not authorise this computer") as exc:
            t.open()
        assert str(default_adbkey_path()) + ".pub" in str(exc.value)
        assert time.monotonic() - t0 < 5


def test_nothing_listening(harness_config):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="connection refused"):
        AdbTransport(_adb_profile(f"127.0.0.1:{port}")).open()


def test_usb_without_the_extra_says_how_to_get_it(harness_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "usb1", None)  # as if libusb1 were not installed
    monkeypatch.delitem(sys.modules, "adb_shell.transport.usb_transport", raising=False)
    profile = DeviceProfile.model_validate(
        {"id": "p", "name": "P", "transport": {"kind": "adb", "serial": "ABC123"}}
    )
    with pytest.raises(TransportError, match=r"harness\[usb\]"):
        AdbTransport(profile).open()


def test_devices_check_info(adb_phone):
    with open_transport(adb_phone.profile) as t:
        info = t.info()
    assert info.reachable
    assert info.os and info.os.startswith("Android 14")
    assert info.board == "Harness Emulated Phone"
    assert "taskset" in info.tools
    assert info.free_bytes and info.free_bytes > 0
