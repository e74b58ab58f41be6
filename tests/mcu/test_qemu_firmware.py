"""The reference firmware on an emulated Cortex-M4 (QEMU mps2-an386, -icount), driven
through the full protocol by the tinyml runner, for the four MLPerf Tiny int8 models."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pytest

from harness.store.results import AccuracyResult, MlperfTinyResult
from harness.errors import TransportError
from harness.mcu.protocol import DutClient
from harness.profiles import load_profile
from harness.runners.tinyml import TinymlRunner
from harness.transports.serial import SerialTransport, open_serial_target
from tests.mcu.conftest import MLPERF_TINY, make_ctx, model_ref

pytestmark = pytest.mark.timeout(300)

QUICK = {"relaxed": True, "windows": 3, "inferences": 1, "warmups": 1}


def run_on_qemu(zoo_id: str, **options):
    profile = load_profile("mps2-an386")
    with SerialTransport(profile) as t:
        ctx = make_ctx(profile, t, zoo_id, **options)
        TinymlRunner().run(ctx)
    return ctx


@pytest.mark.parametrize("model", MLPERF_TINY)
def test_mlperf_tiny_models_run_the_full_protocol(model):
    from harness.mcu.inputs import model_io

    ctx = run_on_qemu(f"{model}-int8-tflite", **QUICK)
    rec = ctx.recorder
    details = rec.runtime.details
    assert details["device_model"] == model == details["firmware_model"]
    assert details["device_name"] == "harness-ref"
    assert details["s_per_instruction"] == pytest.approx(32e-9)  # -icount shift=5: 2^5 ns, in seconds
    samples = rec.table("samples").to_pylist()
    assert [s["phase"] for s in samples] == ["steady"] * 3
    assert all(s["latency_ns"] > 0 and s["inferences"] == 1 for s in samples)
    _, out = model_io(ctx.model_path)
    n_out = 1
    for d in out.shape:
        n_out *= d
    score = rec.result(MlperfTinyResult)
    for w in score.windows:
        assert len(w.results) == n_out
        # under -icount shift=5 a device µs is 1000/32 instructions
        elapsed_us = (w.lap_us[1] - w.lap_us[0]) % (1 << 32)
        assert w.instructions == elapsed_us * 1000 // 32 > 0
    assert score.median_throughput_per_s > 0
    assert any("icount" in n for n in rec.notes)
    assert rec.timeline["steady_end_ns"] > rec.timeline["steady_start_ns"]


def test_latency_scales_with_the_model_work():
    lat = {}
    for model in ("ad01", "kws01"):
        ctx = run_on_qemu(f"{model}-int8-tflite", relaxed=True, windows=1, inferences=1, warmups=0)
        lat[model] = ctx.recorder.table("samples").to_pylist()[0]["latency_ns"]
    # kws01 has ~10x the MACs of ad01 (2.66 M vs 0.26 M)
    assert lat["kws01"] > 5 * lat["ad01"]


def test_icount_runs_repeat_to_the_instruction():
    runs = [run_on_qemu("kws01-int8-tflite", relaxed=True, windows=2, inferences=2, warmups=1) for _ in range(2)]
    first, second = ([(w.lap_us, w.instructions) for w in r.recorder.result(MlperfTinyResult).windows] for r in runs)
    assert first == second
    assert all(instr > 1_000_000 for _, instr in first)


@pytest.mark.parametrize("model", MLPERF_TINY)
def test_accuracy_mode_matches_litert_bit_for_bit(model):
    from harness.mcu.inputs import model_io

    ctx = run_on_qemu(f"{model}-int8-tflite", mode="accuracy", samples=2)
    report = ctx.recorder.result(AccuracyResult)
    n_out = int(np.prod(model_io(ctx.model_path)[1].shape))
    assert report.inputs == 2 and report.outputs == 2 * n_out
    # the int8 kernels follow TFLite's reference arithmetic: equal up to the 3-decimal print
    assert report.exact == report.outputs, report
    assert report.top1_agreement == 1.0
    assert not ctx.recorder.warnings


def test_killed_emulator_is_a_clear_transport_error():
    profile = load_profile("mps2-an386")
    with SerialTransport(profile) as t:
        ctx = make_ctx(profile, t, "ic01-int8-tflite", relaxed=True, windows=50, inferences=3, warmups=0)
        errors: list[BaseException] = []

        def go():
            try:
                TinymlRunner().run(ctx)
            except BaseException as e:  # noqa: BLE001 - the test inspects it
                errors.append(e)

        th = threading.Thread(target=go)
        th.start()
        assert _wait(lambda: ctx.recorder.rows("samples") >= 1, 120)
        os.kill(t._board._proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        th.join(30)
        assert not th.is_alive() and time.monotonic() - t0 < 10
    assert errors and isinstance(errors[0], TransportError), errors
    assert "emulator" in str(errors[0]) or "connection lost" in str(errors[0])
    assert (errors[0].kind, errors[0].transient) == ("link_lost", True)
    assert ctx.recorder.rows("samples") >= 1


def test_a_serial_port_that_does_not_answer_is_offline():
    import socket

    from tests.mcu.conftest import serial_profile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as exc:
        SerialTransport(serial_profile(f"socket://127.0.0.1:{port}")).open()
    assert (exc.value.kind, exc.value.transient) == ("device_offline", True)


def test_energy_build_pulses_instead_of_printing_timestamps(tmp_path):
    from harness.mcu.build import build_firmware
    from harness.transports.qemu import QemuBoard

    _, path = model_ref("ad01-int8-tflite")
    build = build_firmware(path, energy=True)
    profile = load_profile("mps2-an386")
    board = QemuBoard(profile.transport.emulator, build.elf, build.details())
    board.start()
    try:
        t = SerialTransport(profile, url=board.url)
        t.open()
        transcript: list[str] = []
        dut = DutClient(t, transcript)
        banner = dut.drain_boot(2.0)
        assert "m-timestamp-mode-energy" in banner
        assert dut.command("timestamp") == []  # a GPIO pulse only, no m-lap-us line
        dut.load(bytes(640))
        reply = dut.infer(2, 0, expect_laps=False, timeout_s=30)
        assert reply.laps_us == [] and len(reply.results) == 640
        t.close()
    finally:
        board.stop()


def test_open_serial_target_starts_and_stops_the_emulator():
    profile = load_profile("mps2-an386")
    with open_serial_target(profile) as t:  # synthetic model firmware
        board = t._board
        assert board.running
        dut = DutClient(t, [])
        dut.drain_boot(1.0)
        assert dut.name() == "harness-ref"
        assert dut.profile()[1] == "synthetic"
    assert not board.running


def test_harness_run_on_the_emulated_board_gives_a_standard_record(cli, tmp_path):
    proc = cli("run", "--device", "mps2-an386", "--model", "kws01-int8-tflite", "--relaxed-windows", "--json",
               "--no-thermal-gate")
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)
    assert run["status"] == "ok" and run["runtime"] == "tinyml"
    from harness.store.store import RunStore

    stored = RunStore(tmp_path / "results").load(run["run_id"])
    assert stored.manifest.summary.latency.n == 5
    assert stored.manifest.runtime.details["device_model"] == "kws01"
    import pyarrow.parquet as pq

    from harness.store.record import SAMPLES_SCHEMA

    assert set(SAMPLES_SCHEMA.names) <= set(pq.read_schema(stored.path / "samples.parquet").names)
    raw = {p.stem: p for p in (stored.path / "raw").iterdir()}
    assert "m-lap-us" in raw["serial"].read_text()


def _wait(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False
