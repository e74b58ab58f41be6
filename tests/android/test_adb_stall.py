"""adb pushes that stalled 60 s (issue 11): the cause, and back-to-back pushes that never stall.

The cause: a device may answer a host WRTE before it acknowledges it (the two directions
of a stream are flow-controlled apart). adb-shell's reader threw away a packet of its own
stream that was not the one it was waiting for, so a sync reply that overtook its OKAY was
lost and the push waited out its 60 s read timeout. The emulated phone answered first
whenever its sync thread ran before its connection thread sent the OKAY — more often with
concurrent shell streams (a telemetry sampler, a tool's output) competing for the CPU.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from harness.errors import TransportError
from harness.runners.toolrun import model_remote, push_files
from harness.transports import open_transport
from harness.transports.adb import STALL_S
from tests.adb_emulator.fixtures import emulated_phone

pytestmark = pytest.mark.timeout(300)


def _fresh(path, size: int):
    path.write_bytes(os.urandom(size))
    old = time.time() - 10  # a past mtime second: the push records its sidecar
    os.utime(path, (old, old))
    return path


def _chatty_streams(t, n: int = 2):
    """Shell streams printing all the time, as a telemetry sampler and a tool's output do."""
    procs = [t.start(["sh", "-c", "while :; do echo tick; sleep 0.002; done"]) for _ in range(n)]
    for p in procs:
        threading.Thread(target=lambda p=p: [None for _ in p.lines()], daemon=True).start()
    return procs


def test_a_reply_that_overtakes_its_ack_is_not_lost(tmp_path, harness_config):
    """The phone answers before it acknowledges: stat, sidecar, push and pull all go through."""
    with emulated_phone(tmp_path, answer_before_ack=True) as phone, open_transport(phone.profile) as t:
        src = _fresh(tmp_path / "model.bin", 200_000)
        remote = t.path("m", "model.bin")
        t0 = time.monotonic()
        assert t.push(src, remote) is True
        assert t.push(src, remote) is False  # skipped through the sidecar: stat + read over sync
        assert t.read_file(remote) == src.read_bytes()
        assert time.monotonic() - t0 < STALL_S


def test_50_back_to_back_pushes_with_streams_running(tmp_path, harness_config):
    """The benchmark_model runner's push sequence (tool + model, sidecars) 50 times over, with
    shell streams running meanwhile: no push stalls (a stall fails after STALL_S)."""
    with emulated_phone(tmp_path) as phone, open_transport(phone.profile) as t:
        procs = _chatty_streams(t)
        tool = _fresh(tmp_path / "benchmark_model", 200_000)
        slowest = 0.0
        for i in range(50):
            model = _fresh(tmp_path / f"model{i}.tflite", 200_000 if i % 10 else 5_000_000)
            t0 = time.monotonic()
            sent = push_files(t, [(tool, t.path("bin", "benchmark_model")),
                                  (model, model_remote(t, f"{i:016d}", model))])
            slowest = max(slowest, time.monotonic() - t0)
            assert sent[model_remote(t, f"{i:016d}", model)] is True
        for p in procs:
            p.terminate(1.0)
        assert slowest < STALL_S
        assert phone.device_path(model_remote(t, f"{49:016d}", model)).read_bytes() == model.read_bytes()


def test_a_wedged_transfer_is_detected_well_before_60_s(tmp_path, harness_config):
    with emulated_phone(tmp_path) as phone, open_transport(phone.profile) as t:
        src = _fresh(tmp_path / "model.bin", 100_000)
        t.run(["true"], timeout=10)
        phone.emulator.stall_sync = True
        t0 = time.monotonic()
        with pytest.raises(TransportError, match="stalled: no reply from the phone"):
            t.upload(src, t.path("model.bin"))
        assert time.monotonic() - t0 < 30
        phone.emulator.stall_sync = False
        assert t.run(["echo", "still here"], timeout=10).stdout == "still here\n"  # the link survives
