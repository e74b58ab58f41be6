"""One conformance suite for every command transport, against the real peers: the local
host, a real OpenSSH sshd on loopback, the ADB protocol emulator. The same tests: run,
stream, push/pull with hash skip, process-group kill, timeouts, hostile arguments, and
the failure kinds each fault is classified as (`harness.errors`)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import CommandTimeout, TransportError
from harness.profiles import DeviceProfile
from harness.transports import open_transport
from harness.transports.base import CommandTransport
from tests.processes import live_pids

pytestmark = pytest.mark.timeout(120)

KINDS = ("local", "ssh", "adb")
HOSTILE = ["a b;touch pwned$(id)", "$HOME", "`id`", "'\"", "back\\slash", "new\nline", "*", "-n"]


@dataclass
class Peer:
    """A command target and what the test needs to know about its far side."""

    kind: str
    profile: Callable[..., DeviceProfile]  # profile(workdir=None) -> a profile for this peer
    host_path: Callable[[str], Path]  # a target path as a path on this host (all peers run here)
    drop: Callable[[], None] | None = None  # cut the link, as a crash or a pulled cable would
    offline: Callable[[], DeviceProfile] | None = None  # a profile whose device does not answer


@pytest.fixture(params=KINDS)
def peer(request, tmp_path, monkeypatch) -> Iterator[Peer]:
    if request.param == "local":
        def local_profile(workdir: str | None = None) -> DeviceProfile:
            spec = {"kind": "local", "workdir": workdir or str(tmp_path / "local-work")}
            return DeviceProfile.model_validate({"id": "local-t", "name": "local", "transport": spec})

        yield Peer("local", local_profile, Path)
    elif request.param == "ssh":
        from tests.ssh.sshd import start_sshd

        server = start_sshd(tmp_path, "conformance")

        def ssh_offline() -> DeviceProfile:
            return server.profile(port=_closed_port(), connect_timeout_s=2)

        try:
            yield Peer("ssh", lambda workdir=None: server.profile(**({"workdir": workdir} if workdir else {})),
                       Path, server.drop_connections, ssh_offline)
        finally:
            server.stop()
    else:
        from tests.adb_emulator.fixtures import emulated_phone

        monkeypatch.setenv("HARNESS_CONFIG_DIR", str(tmp_path / "config"))
        with emulated_phone(tmp_path) as phone:
            def adb_profile(workdir: str | None = None, address: str | None = None) -> DeviceProfile:
                spec = {"kind": "adb", "address": address or phone.emulator.address, "connect_timeout_s": 2}
                if workdir:
                    spec["workdir"] = workdir
                return DeviceProfile.model_validate({"id": "phone-t", "name": "phone", "transport": spec})

            yield Peer("adb", adb_profile, phone.device_path, phone.emulator.drop_connections,
                       lambda: adb_profile(address=f"127.0.0.1:{_closed_port()}"))


@pytest.fixture
def target(peer) -> Iterator[CommandTransport]:
    t = open_transport(peer.profile())
    t.open()
    try:
        yield t
    finally:
        t.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(token: str) -> list[int]:
    """Processes on this host (every peer runs here) whose command line holds `token`."""
    return live_pids(token.encode())


def _gone(token: str, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while _alive(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(token)


def _sleep_token() -> str:
    return f"{300 + random.random():.6f}"  # `sleep 300.xxxxxx`: unique in every process list


# -- run -------------------------------------------------------------------------------------


def test_run_gives_exit_status_output_env_and_cwd(target):
    res = target.run(["sh", "-c", 'echo "out $FOO"; echo err >&2; pwd; exit 3'], timeout=30, env={"FOO": "bar"},
                     cwd="/")
    assert res.returncode == 3 and not res.ok
    assert res.stdout.splitlines()[0] == "out bar" and "/" in res.stdout.splitlines()
    assert "err" in res.stderr + res.stdout  # adb shell v1 merges stderr into stdout
    assert target.run(["true"], timeout=30).ok


def test_hostile_arguments_reach_the_command_verbatim_and_run_nothing(target, peer):
    target.run(["mkdir", "-p", target.workdir], timeout=30).check()
    res = target.run(["printf", "%s\\0", *HOSTILE], timeout=30, cwd=target.workdir)
    assert res.ok, res.stderr
    assert res.stdout.split("\0")[:-1] == HOSTILE
    assert not list(peer.host_path(target.workdir).glob("pwned*"))


def test_a_failed_command_is_a_runtime_error_naming_it(target):
    res = target.run(["sh", "-c", "echo 'cannot frobnicate' >&2; exit 4"], timeout=30)
    with pytest.raises(TransportError, match="frob step failed with exit status 4: cannot frobnicate") as exc:
        res.check("frob step")
    assert (exc.value.kind, exc.value.transient) == ("runtime_error", False)


# -- stream ----------------------------------------------------------------------------------


def test_start_streams_lines_as_they_are_printed(target):
    proc = target.start(["sh", "-c", "echo first; sleep 1.5; printf 'second\\nno newline'"])
    seen = []
    for line in proc.lines():
        seen.append((line, time.monotonic()))
    assert [s[0] for s in seen] == ["first", "second", "no newline"]
    assert seen[1][1] - seen[0][1] > 1.0  # the first line came while the command still ran
    assert proc.wait(timeout=10) == 0


def test_stream_keeps_utf8_split_across_chunks(target):
    text = "ä€😀" * 5000  # multi-byte characters across every chunk boundary
    proc = target.start(["python3", "-c", f"import sys; sys.stdout.write({text!r} + '\\n')"])
    assert list(proc.lines()) == [text]
    assert proc.wait(timeout=10) == 0


# -- files ------------------------------------------------------------------------------------


def test_push_skips_identical_content_and_pull_round_trips(target, tmp_path):
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(200_000))
    old = time.time() - 60
    os.utime(src, (old, old))
    remote = target.path("conf", "blob.bin")
    assert target.push(src, remote) is True
    assert target.push(src, remote) is False  # same bytes: nothing sent
    src.write_bytes(os.urandom(200_000))
    assert target.push(src, remote) is True  # changed: sent again
    back = tmp_path / "back.bin"
    target.pull(remote, back)
    assert back.read_bytes() == src.read_bytes() == target.read_file(remote)


def test_reading_a_missing_file_names_it(target):
    with pytest.raises(TransportError, match="missing.bin") as exc:
        target.read_file(target.path("missing.bin"))
    assert exc.value.transient is False


# -- kill and timeouts --------------------------------------------------------------------------


def test_terminate_kills_the_whole_process_group(target):
    token = _sleep_token()
    proc = target.start(["sh", "-c", f"sleep {token} & sleep {token} & echo started; wait"])
    assert next(iter(proc.lines())) == "started"
    assert len(_alive(token)) >= 2  # the two sleeps (and the shell, whose command line names them)
    proc.terminate(grace_s=1.0)
    assert _gone(token)
    assert proc.wait(timeout=10) != 0


def test_a_command_over_its_timeout_is_killed_with_its_children(target):
    token = _sleep_token()
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        target.run(["sh", "-c", f"sleep {token} & sleep {token}"], timeout=1.0)
    assert time.monotonic() - t0 < 15
    assert (exc.value.kind, exc.value.transient) == ("timeout", True)
    assert _gone(token)


def test_kill_all_stops_what_the_transport_started(target):
    token = _sleep_token()
    target.start(["sleep", token])
    target.start(["sleep", token])
    deadline = time.monotonic() + 10
    while len(_alive(token)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    target.kill_all()
    assert _gone(token)


# -- faults: the kind each one is ----------------------------------------------------------------


def test_a_lost_link_is_link_lost_and_transient(peer, target):
    if peer.drop is None:
        pytest.skip("the local host has no link to lose")
    token = _sleep_token()
    proc = target.start(["sh", "-c", f"echo up; sleep {token}"])
    lines = proc.lines()
    assert next(lines) == "up"
    peer.drop()
    t0 = time.monotonic()
    with pytest.raises(TransportError) as exc:
        list(lines)
    assert time.monotonic() - t0 < 30
    assert (exc.value.kind, exc.value.transient) == ("link_lost", True)


def test_a_device_that_does_not_answer_is_offline_and_transient(peer):
    if peer.offline is None:
        pytest.skip("the local host is always there")
    with pytest.raises(TransportError) as exc:
        open_transport(peer.offline()).open()
    assert (exc.value.kind, exc.value.transient) == ("device_offline", True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 256 KiB file system (tmpfs) for the target's work folder: a real "No space left"."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_target_disk_is_target_disk_full_and_transient(peer, small_disk, tmp_path):
    if peer.kind == "adb":  # the phone's /data/local/tmp/harness lives in its sandbox: mount there
        workdir = "/data/local/tmp/harness"
        host_dir = peer.host_path(workdir)
        host_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(small_disk), str(host_dir)], check=True)
    else:
        workdir, host_dir = str(small_disk), None
    try:
        big = tmp_path / "model.bin"
        big.write_bytes(os.urandom(1 << 20))
        with open_transport(peer.profile(workdir=workdir)) as t:
            with pytest.raises(TransportError) as exc:
                t.push(big, t.path("models", "model.bin"))
        assert (exc.value.kind, exc.value.transient) == ("target_disk_full", True), exc.value
        assert str(exc.value).startswith("no space left on the target: "), exc.value
        assert "size mismatch" not in str(exc.value)
        leftovers = [p.name for p in small_disk.rglob("*") if p.is_file()]
        assert not [n for n in leftovers if "part" in n], leftovers  # no partial upload keeps the space
    finally:
        if host_dir is not None:
            subprocess.run(["umount", "-l", str(host_dir)], check=False)
