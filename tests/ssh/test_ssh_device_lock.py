"""One device, one session over ssh (issue 11, item 7): the lock lives on the board (a
symbolic link in its work folder), so sessions on any host see it; a stale one (holder gone,
heartbeat old, board rebooted) is taken over, a live one refuses or makes the run wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness.device_lock as device_lock
from harness.device_lock import TARGET_LOCK, DeviceLock
from harness.errors import DeviceBusy
from harness.owner import Owner, boot_id
from harness.store.store import RunStore
from tests.conftest import assert_one_line_error
from tests.ssh.test_run_over_ssh import board_profile, model  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(240)


def _link(sshd) -> Path:
    return sshd.dir / "work" / TARGET_LOCK


def _plant(sshd, owner: Owner, age_s: float = 0.0, boot: str | None = None) -> Path:
    """A lock on the board as another session would have left it, its heartbeat `age_s` old."""
    link = _link(sshd)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(f"{boot_id() if boot is None else boot}|{owner.model_dump_json()}", link)
    when = time.time() - age_s
    os.utime(link, (when, when), follow_symlinks=False)
    return link


def _elsewhere(**kw) -> Owner:
    return Owner(hostname="bench-host-7", pid=4242, boot_id="b", started="1", what="harness run nightly", **kw)


def test_two_sessions_on_one_board(sshd, tmp_path, model):  # noqa: F811
    prof = board_profile(sshd, tmp_path, "board-a")
    env = {**os.environ, "HARNESS_DEVICE_WAIT_S": "0"}
    first = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "-d", str(prof), "-m", str(model), "--stop", "fixed", "--time", "120",
         "--baseline", "0.2", "--no-thermal-gate", "--results", str(tmp_path / "results"), "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _link(sshd).is_symlink():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        boot, _, holder = os.readlink(_link(sshd)).partition("|")
        assert boot == boot_id() and Owner.model_validate_json(holder).pid == first.pid
        second = subprocess.run(
            [sys.executable, "-m", "harness", "run", "-d", str(prof), "-m", str(model), "--baseline", "0.2",
             "--no-thermal-gate", "--results", str(tmp_path / "results")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert first.poll() is None
        assert_one_line_error(second, "device ssh:board-a", "is in use by harness run", f"pid {first.pid}")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    (run,) = json.loads(out)
    assert run["status"] == "aborted" and run["latency"]["n"] > 0, err
    assert not _link(sshd).is_symlink()  # let go at the end of the run
    assert len(RunStore(tmp_path / "results").manifests()) == 1


def test_a_live_lock_from_another_host_refuses(ssh, sshd):
    _plant(sshd, _elsewhere(), age_s=5)
    with pytest.raises(DeviceBusy, match=r"in use by harness run nightly, pid 4242 on bench-host-7"):
        DeviceLock(ssh, wait_s=0).acquire()
    assert "bench-host-7" in os.readlink(_link(sshd))  # left alone


@pytest.mark.parametrize("case", ["holder gone on this host", "heartbeat old", "board rebooted", "left by us"])
def test_a_stale_lock_is_taken_over(ssh, sshd, case):
    if case == "left by us":  # a run of this process whose connection dropped before it let go
        _plant(sshd, Owner.me("harness run"))
        why = "this process left it when its connection to the target was lost"
    elif case == "holder gone on this host":
        dead = subprocess.Popen(["true"])
        dead.wait()
        _plant(sshd, Owner.me("harness run").model_copy(update={"pid": dead.pid}))
        why = "its holder (harness run, pid"
    elif case == "heartbeat old":
        _plant(sshd, _elsewhere(), age_s=device_lock.STALE_S + 30)
        why = "its holder (harness run nightly, pid 4242 on bench-host-7) is gone"
    else:
        _plant(sshd, _elsewhere(), boot="00000000-dead-beef-0000-000000000000")
        why = "the target rebooted since it was taken"
    with DeviceLock(ssh, what="taker", wait_s=0) as lock:
        assert any(n.startswith("took over a stale device lock") and why in n for n in lock.notes), lock.notes
        assert Owner.model_validate_json(os.readlink(_link(sshd)).partition("|")[2]).what == "taker"
    assert not _link(sshd).is_symlink()


def test_the_holder_renews_its_heartbeat_and_a_lost_lock_is_said(ssh, sshd, monkeypatch):
    monkeypatch.setattr(device_lock, "HEARTBEAT_S", 0.3)
    lock = DeviceLock(ssh, what="holder", wait_s=0).acquire()
    try:
        old = time.time() - 1000
        os.utime(_link(sshd), (old, old), follow_symlinks=False)
        deadline = time.monotonic() + 30
        while os.lstat(_link(sshd)).st_mtime < old + 500:
            assert time.monotonic() < deadline, "the heartbeat never renewed the lock"
            time.sleep(0.1)
        assert "holder" in os.readlink(_link(sshd))
        # someone takes it over (as if this holder had looked dead): the holder says so, leaves it be
        os.unlink(_link(sshd))
        _plant(sshd, _elsewhere())
        deadline = time.monotonic() + 30
        while lock.lost is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        lock.release()
    assert "taken over by another session" in lock.lost
    assert "bench-host-7" in os.readlink(_link(sshd))
