"""One device, one session (issue 11, item 7), on the local host: a second `harness run` on
a device another session is measuring waits for it or fails in one line naming the device
and its holder; a lock whose holder was killed is taken at once."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.device_lock import DeviceLock, HostLock
from harness.errors import DeviceBusy
from harness.owner import Owner
from harness.profiles import load_profile
from harness.store.store import RunStore
from harness.transports import open_transport
from tests.conftest import assert_one_line_error

pytestmark = pytest.mark.timeout(300)

QUICK = ["--baseline", "0.2", "--no-thermal-gate"]


def _env(lock_dir: Path, wait_s: float) -> dict:
    return {**os.environ, "HARNESS_LOCK_DIR": str(lock_dir), "HARNESS_DEVICE_WAIT_S": str(wait_s)}


def _session(tmp_path: Path, lock_dir: Path, seconds: float, wait_s: float = 60) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "-d", "local", "-m", "kws01", "--stop", "fixed", "--time",
         str(seconds), *QUICK, "--results", str(tmp_path / "results"), "--json"],
        cwd=tmp_path, env=_env(lock_dir, wait_s), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def _holder_pid(lock_dir: Path, timeout: float = 120) -> int:
    """The pid holding the local device's lock, once a session has taken it (probing holds it an
    instant: the sessions wait a little for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in lock_dir.glob("*.lock"):
            with open(f, "rb+") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(fh, fcntl.LOCK_UN)
                except BlockingIOError:
                    return Owner.model_validate_json(f.read_text()).pid
        time.sleep(0.1)
    raise AssertionError("no session took the device lock")


def test_a_second_session_on_a_busy_device_fails_in_one_line_naming_the_holder(tmp_path):
    locks = tmp_path / "locks"
    first = _session(tmp_path, locks, seconds=120)  # long enough for the second to start on a busy host
    try:
        holder = _holder_pid(locks)
        assert holder == first.pid
        second = subprocess.run(
            [sys.executable, "-m", "harness", "run", "-d", "local", "-m", "kws01", *QUICK,
             "--results", str(tmp_path / "results")],
            cwd=tmp_path, env=_env(locks, 0), capture_output=True, text=True, timeout=120)
        assert first.poll() is None  # still measuring while the second was refused
        line = assert_one_line_error(second, "device local:local is in use by harness run", f"pid {first.pid}")
        assert "session stopped after 0 recorded runs" in line
        first.send_signal(signal.SIGTERM)  # enough: stop the first cleanly
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    (run,) = json.loads(out)
    assert run["status"] == "aborted" and run["latency"]["n"] > 0, err  # what it measured is kept
    assert [m.run_id for m in RunStore(tmp_path / "results").manifests()] == [run["run_id"]]  # no record of the refused one


def test_a_second_session_waits_for_the_device_and_then_measures(tmp_path):
    locks = tmp_path / "locks"
    first = _session(tmp_path, locks, seconds=25)
    try:
        _holder_pid(locks)
        second = _session(tmp_path, locks, seconds=1, wait_s=240)
        out2, err2 = second.communicate(timeout=240)
        out1, err1 = first.communicate(timeout=60)
    finally:
        for p in (first,):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert "note: device local:local is in use by harness run" in err2 and "waiting up to 240 s" in err2
    (run1,), (run2,) = json.loads(out1), json.loads(out2)
    store = RunStore(tmp_path / "results")
    m1, m2 = store.load(run1["run_id"]).manifest, store.load(run2["run_id"]).manifest
    assert any(n.startswith("waited ") and "another session held it" in n for n in m2.notes)
    # the second measured only after the first had finished measuring
    assert m2.finished_at >= m1.finished_at


def test_a_lock_whose_holder_was_killed_is_taken_at_once(tmp_path):
    locks = tmp_path / "locks"
    first = _session(tmp_path, locks, seconds=60)
    try:
        _holder_pid(locks)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # harness, agent and all: no chance to let go
        first.wait(10)
    second = subprocess.run(
        [sys.executable, "-m", "harness", "run", "-d", "local", "-m", "kws01", *QUICK,
         "--results", str(tmp_path / "results"), "--json"],
        cwd=tmp_path, env=_env(locks, 0), capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "in use" not in second.stderr
    statuses = sorted(m.status for m in RunStore(tmp_path / "results").manifests())
    assert statuses == ["aborted", "ok"]  # the killed run's record was finished from its journal


def test_host_lock_in_one_process_names_its_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LOCK_DIR", str(tmp_path))
    t = open_transport(load_profile("local")).open()
    with DeviceLock(t, what="first", wait_s=0):
        with pytest.raises(DeviceBusy, match=rf"local:local is in use by first, pid {os.getpid()}"):
            DeviceLock(t, what="second", wait_s=0.3, on_wait=lambda m: None).acquire()
    with DeviceLock(t, what="third", wait_s=0) as lock:
        assert lock.notes == []
    assert HostLock("serial-/dev/tty ACM0").path.name == "serial-_dev_tty_ACM0.lock"
