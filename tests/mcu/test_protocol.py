"""The host runner against a device written from the protocol table (tests/mcu/fake_dut.py),
over a real TCP socket opened with pyserial's socket:// URL."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from harness.store.results import MlperfTinyResult
from harness.errors import TransportError
from harness.mcu.protocol import (
    DeviceErrorReply,
    DeviceReset,
    DeviceTimeout,
    MalformedLine,
    parse_lap,
    parse_results,
)
from harness.runners.tinyml import ModelMismatch, TinymlRunner
from harness.transports.serial import SerialTransport
from tests.mcu.conftest import make_ctx, serial_profile

pytestmark = pytest.mark.timeout(60)

KWS_INPUT = 490  # bytes of kws01's int8 input tensor (49 x 10 x 1)


def run(dut, timeout_s: float = 3.0, **options):
    profile = serial_profile(dut.url, infer_timeout_s=timeout_s, line_timeout_s=timeout_s)
    with SerialTransport(profile) as t:
        ctx = make_ctx(profile, t, **options)
        error = None
        t0 = time.monotonic()
        try:
            TinymlRunner().run(ctx)
        except Exception as e:  # noqa: BLE001 - the failure is what some tests look at
            error = e
        return ctx, error, time.monotonic() - t0


def test_windows_follow_the_table_and_survive_timer_wraparound(fake_dut):
    # the µs counter starts 4 ms before 2^32: the first window wraps
    dut = fake_dut(input_bytes=KWS_INPUT, start_us=(1 << 32) - 4000, us_per_inference=1500)
    ctx, error, _ = run(dut, relaxed=True, inferences=3, warmups=2)
    assert error is None, error
    samples = ctx.recorder.table("samples").to_pylist()
    assert [s["phase"] for s in samples] == ["steady"] * 5
    assert all(s["inferences"] == 3 and s["latency_ns"] == 1_500_000 for s in samples)
    starts = [s["start_ns"] for s in samples]
    assert starts == sorted(starts) and starts[1] > (1 << 32) * 1000  # unwrapped past the wrap
    # the wire: W always explicit, db lines of at most 31 bytes, commands under 80 characters
    infers = [c for c in dut.commands if c.startswith("infer")]
    assert infers == ["infer 3 2"] * 5
    db_lines = [c for c in dut.commands if re.fullmatch(r"db [0-9a-f]+", c)]
    assert max(len(c) - 3 for c in db_lines) == 62 and sum((len(c) - 3) // 2 for c in db_lines) == KWS_INPUT
    assert dut.commands.count(f"db load {KWS_INPUT}") == 1  # one seeded input, loaded once
    score = ctx.recorder.result(MlperfTinyResult)
    assert score.median_throughput_per_s == pytest.approx(1 / 1.5e-3)
    assert score.valid is False and score.window_rule == "relaxed" and len(score.windows) == 5
    assert ctx.recorder.runtime.details["device_name"] == "fake-dut"
    assert ctx.recorder.runtime.version == "ULPMark for tinyML Firmware V0.0.1"
    transcript = ctx.recorder.raw["serial"]
    assert any("tensor_arena is 16 bytes aligned" in line for line in transcript)  # noise kept, not parsed
    assert any("> infer 3 2%" in line for line in transcript)


def test_bare_newlines_and_dribbled_lines(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT, newline="\n", dribble=True, noise=True)
    ctx, error, _ = run(dut, relaxed=True, windows=2, inferences=1, warmups=0)
    assert error is None, error
    assert ctx.recorder.rows("samples") == 2


def test_strict_rule_calibrates_windows_to_ten_seconds(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT, us_per_inference=50_000)  # 70 reference inferences: 3.5 s
    ctx, error, _ = run(dut, warmups=1)
    assert error is None, error
    samples = ctx.recorder.table("samples").to_pylist()
    warm = [s for s in samples if s["phase"] == "warmup"]
    steady = [s for s in samples if s["phase"] == "steady"]
    assert warm and warm[0]["inferences"] == 1  # one inference timed first
    assert len(steady) == 5
    assert all(s["inferences"] * s["latency_ns"] >= 10e9 for s in steady)
    assert ctx.recorder.result(MlperfTinyResult).valid is True
    assert not ctx.recorder.warnings


def test_explicit_short_windows_are_flagged_invalid(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT)
    ctx, error, _ = run(dut, inferences=2, warmups=0, windows=3)
    assert error is None, error
    assert ctx.recorder.result(MlperfTinyResult).valid is False
    assert len(ctx.recorder.warnings) == 3 and "invalid" in ctx.recorder.warnings[0]


@pytest.mark.parametrize(
    ("fault", "error_type", "needle"),
    [
        ("malformed_lap", MalformedLine, "m-lap-us-"),
        ("malformed_results", MalformedLine, "0.2x0"),
        ("error_on_infer", DeviceErrorReply, "arena too small"),
        ("reset_on_infer", DeviceReset, "m-init-done"),
        ("close_on_infer", TransportError, "connection lost"),
        ("hang_on_infer", DeviceTimeout, "no m-ready"),
    ],
)
def test_faults_fail_clearly_and_keep_what_was_measured(fake_dut, fault, error_type, needle):
    dut = fake_dut(input_bytes=KWS_INPUT, fault=fault, fault_after_infers=2)
    ctx, error, took = run(dut, timeout_s=2.0, relaxed=True, inferences=1, warmups=0)
    assert isinstance(error, error_type), repr(error)
    assert needle in str(error)
    assert took < 10  # every read has a deadline: never a hang
    assert ctx.recorder.rows("samples") == 2  # the two windows before the fault are kept
    assert ctx.recorder.raw["serial"][-1]  # the transcript up to the failure is kept


def test_another_model_on_the_device_is_refused(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT, fault="model:vww01")
    _, error, _ = run(dut, relaxed=True)
    assert isinstance(error, ModelMismatch) and "vww01" in str(error) and "kws01" in str(error)
    assert not any(c.startswith("infer") for c in dut.commands)


def test_device_error_on_db_load_names_the_reply(fake_dut):
    dut = fake_dut(input_bytes=100)  # smaller buffer than kws01's 490-byte input
    _, error, _ = run(dut, relaxed=True)
    assert isinstance(error, DeviceErrorReply) and "db load" in str(error)


def test_cancel_returns_promptly_with_what_was_measured(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT, fault="hang_on_infer", fault_after_infers=1)
    cancel = threading.Event()
    profile = serial_profile(dut.url, infer_timeout_s=30, line_timeout_s=30)
    with SerialTransport(profile) as t:
        ctx = make_ctx(profile, t, cancel=cancel, relaxed=True, inferences=1, warmups=0)
        threading.Timer(1.0, cancel.set).start()
        t0 = time.monotonic()
        TinymlRunner().run(ctx)
        assert time.monotonic() - t0 < 5
    assert ctx.recorder.stop_reason == "cancelled by the user"
    assert ctx.recorder.rows("samples") == 1


def test_inputs_file_is_sent_byte_for_byte(fake_dut, tmp_path):
    x = np.arange(KWS_INPUT, dtype=np.int64).astype(np.int8).reshape(1, 49, 10, 1)
    np.save(tmp_path / "x.npy", x)
    dut = fake_dut(input_bytes=KWS_INPUT)
    _, error, _ = run(dut, relaxed=True, windows=1, inputs=str(tmp_path / "x.npy"))
    assert error is None, error
    sent = bytes.fromhex("".join(c[3:] for c in dut.commands if re.fullmatch(r"db [0-9a-f]+", c)))
    assert sent == x.tobytes()


def test_line_parsers_follow_the_table():
    assert parse_lap("m-lap-us-4294967295") == (1 << 32) - 1
    for bad in ("m-lap-us-", "m-lap-us-12a", "m-lap-us--5", "m-lap-us-4294967296"):
        with pytest.raises(MalformedLine):
            parse_lap(bad)
    assert parse_results("m-results-[0.000,0.003,-1.250]") == [0.0, 0.003, -1.25]
    assert parse_results("m-results-[]") == []
    for bad in ("m-results-0.1,0.2", "m-results-[0.1,,0.2]", "m-results-[0.1;0.2]"):
        with pytest.raises(MalformedLine):
            parse_results(bad)


@pytest.mark.parametrize(("fault", "needle"), [
    ("reset_on_infer", "reset"),
    ("malformed_lap", "malformed timestamp"),
    ("error_on_infer", "arena too small"),
    ("close_on_infer", "connection lost"),
])
def test_each_fault_becomes_a_failed_record_with_the_transcript(fake_dut, tmp_path, fault, needle):
    from harness.session import PlannedRun, run_planned
    from harness.store.record import RunConfig
    from harness.store.store import RunStore
    from tests.mcu.conftest import model_ref

    dut = fake_dut(input_bytes=KWS_INPUT, fault=fault, fault_after_infers=3)
    profile = serial_profile(dut.url)
    ref, path = model_ref("kws01-int8-tflite")
    config = RunConfig(runtime="tinyml", telemetry=False, thermal_gate=False,
                       options={"relaxed_windows": True, "inferences": 1, "warmups": 0})
    store = RunStore(tmp_path / "results")
    manifest = run_planned(PlannedRun(profile, ref, path, config), store)
    assert manifest.status == "failed"
    assert needle in manifest.error.message and manifest.error.stage == "run"
    run = store.load(manifest.run_id)
    assert run.manifest.tables["samples"] == 3  # the windows before the fault
    raw = {p.stem: p for p in (run.path / "raw").iterdir()}
    assert "> infer 1 0%" in raw["serial"].read_text()


def test_through_an_energy_interface_board(fake_dut):
    """Commands go out as `dut <cmd>%`, device lines come back as `[dut]: ...`, the
    board's own acknowledgements (and its m-ready) are not the device's, and `db`
    lines carry at most 26 bytes."""
    dut = fake_dut(input_bytes=KWS_INPUT, relay=True)
    ctx, error, _ = run(dut, relay=True, relaxed=True, windows=2, inferences=2, warmups=1)
    assert error is None, error
    assert ctx.recorder.rows("samples") == 2
    db_lines = [c for c in dut.commands if re.fullmatch(r"db [0-9a-f]+", c)]
    assert max(len(c) - 3 for c in db_lines) == 52
    assert any("m-dut-passthrough" in line for line in ctx.recorder.raw["serial"])


@pytest.mark.parametrize("port", ["socket://127.0.0.1:1", "/dev/ttyHARNESS_NO_SUCH_PORT"])
def test_a_port_that_cannot_be_opened_is_a_transport_error(port):
    profile = serial_profile(port)
    with pytest.raises(TransportError, match="cannot open serial port"):
        SerialTransport(profile).open()


def test_energy_mode_on_an_emulated_board_is_refused_before_starting_it():
    from harness.errors import HarnessError
    from harness.profiles import load_profile

    profile = load_profile("mps2-an386")
    t = SerialTransport(profile)
    ctx = make_ctx(profile, t, mode="energy", fit_check=False)
    with pytest.raises(HarnessError, match="energy mode needs a real board"):
        TinymlRunner().run(ctx)
    assert t._board is None


def test_devices_check_says_hello_over_the_protocol(fake_dut):
    dut = fake_dut(input_bytes=KWS_INPUT)
    with SerialTransport(serial_profile(dut.url)) as t:
        info = t.info()
    assert info.reachable and info.runtimes == {"tinyml": "ULPMark for tinyML Firmware V0.0.1"}
    assert "fake-dut" in info.notes[0] and "kws01" in info.notes[0]
    assert dut.commands[:2] == ["name", "profile"]
