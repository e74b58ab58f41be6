"""Power monitors: each driver's parsing against its documented output format, energy
between timestamp edges on simulated streams of known energy, and energy mode end to end
with a PowerShield speaking UM2269's serial protocol."""

from __future__ import annotations

import numpy as np
import pytest

from harness.store.results import MlperfTinyResult, MonitorEnergy
from harness.errors import HarnessError
from harness.mcu.energy_mode import window_energies
from harness.telemetry.monitors import falling_edges, open_monitor
from harness.telemetry.monitors.base import MonitorTrace
from harness.telemetry.monitors.joulescope import parse_samples
from harness.telemetry.monitors.lpm01a import Lpm01aStream, decode_value
from harness.telemetry.monitors.ppk2 import (
    ADC_MULT,
    DEFAULT_MODIFIERS,
    SAMPLE_RATE_HZ,
    decode_samples,
    trace_from_bytes,
)
from tests.mcu.fake_lpm01a import ascii_dec

pytestmark = pytest.mark.timeout(60)

# A simulated DUT: idle, then 3 windows of inferences at a higher power; the edges of
# window k are at START[k] and END[k] (s).
IDLE_W, ACTIVE_W = 0.0021, 0.0409
START = np.array([0.2034, 1.5017, 2.8006])
END = START + np.array([1.0003, 1.0011, 0.9987])
N = 7


def power_at(t: np.ndarray) -> np.ndarray:
    active = np.zeros_like(t, dtype=bool)
    for a, b in zip(START, END):
        active |= (t >= a) & (t < b)
    return np.where(active, ACTIVE_W, IDLE_W)


def known_energy(k: int) -> float:
    return (END[k] - START[k]) * ACTIVE_W  # per window


# -- LPM01A (UM2269: "6409-07 <=> 6409 x 10^-7 = 640.9uA") ------------------------------


def test_lpm01a_ascii_dec_values_and_lines():
    assert decode_value("6409-07") == pytest.approx(640.9e-6)
    assert decode_value("1234+00") == 1234.0
    with pytest.raises(HarnessError):
        decode_value("640-07")
    s = Lpm01aStream(freq_hz=1000, output="current", voltage_v=3.0)
    assert s.feed("PowerShield > ack htc") == "ack htc"
    assert s.feed("6409-07 6410-07") is None
    assert s.feed("event 1 ris") is None
    assert s.feed("TimeStamp: 001s 250ms, buff 03%") is None
    assert s.feed("6411-07") is None
    assert s.feed("PowerShield > error volt 9000m") == "error volt 9000m"
    assert s.values == pytest.approx([640.9e-6, 641.0e-6, 641.1e-6])
    assert s.events == [(2, 1, "ris")] and s.progress == [(2, 1.25)]
    tr = s.trace()
    assert tr.edges_s.tolist() == pytest.approx([0.002])
    assert tr.power_w.tolist() == pytest.approx([640.9e-6 * 3, 641.0e-6 * 3, 641.1e-6 * 3])


def test_lpm01a_energy_stream_of_known_energy():
    """'output energy' at 1 kHz: each value is the energy of one millisecond."""
    f = 1000.0
    s = Lpm01aStream(freq_hz=f, output="energy")
    edges = np.sort(np.concatenate([START, END]))
    n_samples = int(3.9 * f)
    fine = 100  # integrate the true power finely inside each sample
    e_next = 0
    line: list[str] = []
    for k in range(n_samples):
        while e_next < edges.size and edges[e_next] < k / f:
            s.feed(" ".join(line))
            line = []
            s.feed(f"event {e_next + 1} ris")
            e_next += 1
        t = k / f + (np.arange(fine) + 0.5) / (fine * f)
        line.append(ascii_dec(float(power_at(t).mean() / f)))
        if len(line) == 10:
            s.feed(" ".join(line))
            line = []
    s.feed(" ".join(line))
    rows = window_energies(s.trace(), [N] * 3)
    for k, row in enumerate(rows):
        assert row["energy_j"] == pytest.approx(known_energy(k), rel=0.005)
        assert row["energy_j_per_inference"] == pytest.approx(known_energy(k) / N, rel=0.005)


# -- PPK2 (Nordic's 32-bit sample word) ---------------------------------------------------


def ppk2_words(current_a: np.ndarray, logic: np.ndarray, rng: int = 2) -> bytes:
    """Encode currents as the PPK2 does: adc in bits 0-13, range 14-16, logic 24-31."""
    r = DEFAULT_MODIFIERS["R"][str(rng)]
    adc = np.clip(np.round(current_a * r / ADC_MULT / 4), 0, 0x3FFF).astype(np.uint32)
    counter = (np.arange(adc.size, dtype=np.uint32) & 0x3F) << 18
    words = adc | (np.uint32(rng) << 14) | counter | (logic.astype(np.uint32) << 24)
    return words.astype("<u4").tobytes()


LINEAR = {k: dict(v) for k, v in DEFAULT_MODIFIERS.items()}
LINEAR["GS"] = dict.fromkeys("01234", 0.0)  # no second-order gain term: current = x


def test_ppk2_words_decode_to_current_and_logic():
    cur = np.array([0.001, 0.010, 0.0])
    logic = np.array([0b00000001, 0b10000000, 0], dtype=np.uint8)
    buf = ppk2_words(cur, logic)
    got, bits = decode_samples(buf + b"\x01\x02", LINEAR, 3.0)  # a partial word is ignored
    step = 4 * ADC_MULT / DEFAULT_MODIFIERS["R"]["2"]
    assert got == pytest.approx(cur, abs=step)
    assert bits.tolist() == logic.tolist()
    # ppk2-api's formula with its default modifiers (GS = GI = 1): x · (x + 1)
    word = (1000 | (2 << 14)).to_bytes(4, "little")
    x = 4000 * ADC_MULT / DEFAULT_MODIFIERS["R"]["2"]
    assert decode_samples(word, DEFAULT_MODIFIERS, 3.0)[0][0] == pytest.approx(x * (x + 1))
    # calibration terms (offset O, gain UG) apply per range
    mods = {k: dict(v) for k, v in DEFAULT_MODIFIERS.items()}
    mods["O"]["2"], mods["UG"]["2"] = 8.0, 2.0
    mods["GS"] = LINEAR["GS"]
    got2, _ = decode_samples(buf, mods, 3.0)
    assert got2[1] == pytest.approx(2 * (got[1] - 8.0 * ADC_MULT / DEFAULT_MODIFIERS["R"]["2"]))


def test_ppk2_stream_of_known_energy():
    t = np.arange(int(3.9 * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    vdd = 3.0
    current = power_at(t) / vdd
    pin = np.ones(t.size, dtype=np.uint8)  # timestamp pin idles high; each edge is a short low pulse
    for e in np.concatenate([START, END]):
        i = int(np.ceil(e * SAMPLE_RATE_HZ))
        pin[i:i + 5] = 0
    logic = (pin << 3).astype(np.uint8)  # wired to D3
    trace = trace_from_bytes(ppk2_words(current, logic), LINEAR, vdd, logic_bit=3)
    assert trace.edges_s.size == 6
    rows = window_energies(trace, [N] * 3)
    for k, row in enumerate(rows):
        assert row["energy_j"] == pytest.approx(known_energy(k), rel=0.005)


# -- Joulescope (stream_buffer.samples_get result) --------------------------------------


def test_joulescope_samples_get_result_and_known_energy():
    fs = 100_000.0
    first_id = 12_345  # sample ids start wherever the stream buffer is
    t_true = np.arange(int(3.9 * fs)) / fs
    voltage = np.full(t_true.size, 1.8, dtype=np.float32)
    current = (power_at(t_true) / 1.8).astype(np.float32)
    gpi = np.ones(t_true.size, dtype=np.uint8)
    for e in np.concatenate([START, END]):
        i = int(np.ceil(e * fs))
        gpi[i:i + 3] = 0
    result = {
        "time": {"sample_id_range": {"value": [first_id, first_id + t_true.size], "units": "samples"},
                 "sampling_frequency": {"value": fs, "units": "Hz"}},
        "signals": {"current": {"value": current, "units": "A"}, "voltage": {"value": voltage, "units": "V"},
                    "current_lsb": {"value": gpi, "units": ""}},
    }
    t, p, level = parse_samples(result, gpi=0)
    assert t[0] == pytest.approx(first_id / fs) and p[0] == pytest.approx(IDLE_W, rel=1e-5)
    trace = MonitorTrace(t_s=t - first_id / fs, power_w=p, edges_s=falling_edges(t - first_id / fs, level))
    rows = window_energies(trace, [N] * 3)
    for k, row in enumerate(rows):
        assert row["energy_j"] == pytest.approx(known_energy(k), rel=0.005)
    with pytest.raises(HarnessError):
        parse_samples({"time": {}, "signals": {}})


def test_wrong_edge_count_names_the_wiring():
    trace = MonitorTrace(t_s=np.linspace(0, 1, 100), power_w=np.ones(100), edges_s=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(HarnessError, match="3 timestamp edges, expected 4"):
        window_energies(trace, [5, 5])


def test_unknown_monitor_and_missing_extras_are_clear():
    with pytest.raises(HarnessError, match="unknown power monitor"):
        open_monitor("multimeter", "/dev/null")
    with pytest.raises(HarnessError, match="no serial port"):
        open_monitor("lpm01a", None)


def test_energy_mode_end_to_end_with_a_powershield(fake_dut, tmp_path):
    """The runner drives a DUT in energy mode while the LPM01A driver acquires over its
    serial protocol; energy per inference = monitor energy between the two pin edges / N."""
    from harness.runners.tinyml import TinymlRunner
    from harness.transports.serial import SerialTransport
    from tests.mcu.conftest import make_ctx, serial_profile
    from tests.mcu.fake_lpm01a import FakeLpm01a

    lpm = FakeLpm01a(idle_w=0.002, active_w=0.040)
    try:
        dut = fake_dut(input_bytes=490, energy_board=lpm, seconds_per_inference=0.05)
        profile = serial_profile(dut.url, sensors={"power_monitor": "lpm01a", "power_monitor_port": lpm.url})
        with SerialTransport(profile) as t:
            ctx = make_ctx(profile, t, mode="energy", relaxed=True, windows=3, inferences=4, warmups=0)
            TinymlRunner().run(ctx)
    finally:
        lpm.close()
    assert [c for c in lpm.commands if c in ("htc", "start", "stop", "eventsrc d7 fal", "output energy")] == [
        "htc", "output energy", "eventsrc d7 fal", "start", "stop"]
    rec = ctx.recorder
    energy = rec.result(MonitorEnergy)  # where the summary picks it up
    rows = energy.windows
    assert len(rows) == 3
    for row in rows:
        # the DUT drew 40 mW while inferring; edges are quantized to the 1 ms samples
        assert row.elapsed_s == pytest.approx(4 * 0.05, abs=0.02)
        assert row.power_w == pytest.approx(0.040, rel=0.03)
    score = rec.result(MlperfTinyResult)
    assert score.mode == "energy"
    assert score.median_energy_j_per_inference == pytest.approx(0.040 * 0.05, rel=0.1)
    assert energy.j_per_inference_median == score.median_energy_j_per_inference
    assert energy.power_w_mean == pytest.approx(0.040, rel=0.03)
    assert energy.source == "lpm01a"
    samples = rec.table("samples").to_pylist()
    assert [s["inferences"] for s in samples] == [4, 4, 4]
    channels = set(rec.table("telemetry").column("channel").to_pylist())
    assert {"power/lpm01a", "gpio/timestamp"} <= channels
    assert not any(c.startswith("m-lap") for c in dut.commands)
    # the record's summary carries the monitor's figures (run --json, results, report)
    import datetime as dt

    from harness.session import write_record
    from harness.store.store import RunStore

    m = write_record(RunStore(tmp_path / "results"), rec, profile, ctx.model, ctx.config, "ok", None,
                     dt.datetime.now(dt.timezone.utc), None)
    assert m.summary.energy_j_per_inference == energy.j_per_inference_median
    assert m.summary.power_w_mean == energy.power_w_mean
    assert m.brief()["energy_j_per_inference"] == energy.j_per_inference_median


def test_a_monitor_that_fails_to_start_is_still_released(fake_dut):
    import time

    from harness.runners.tinyml import TinymlRunner
    from harness.transports.serial import SerialTransport
    from tests.mcu.conftest import make_ctx, serial_profile
    from tests.mcu.fake_lpm01a import FakeLpm01a

    lpm = FakeLpm01a(refuse=("volt",))
    try:
        dut = fake_dut(input_bytes=490, energy_board=lpm, seconds_per_inference=0.05)
        profile = serial_profile(dut.url, sensors={"power_monitor": "lpm01a", "power_monitor_port": lpm.url})
        with SerialTransport(profile) as t:
            ctx = make_ctx(profile, t, mode="energy", relaxed=True, windows=1, inferences=1, warmups=0)
            with pytest.raises(HarnessError, match="LPM01A refused 'volt 3000m'"):
                TinymlRunner().run(ctx)
        deadline = time.monotonic() + 5
        while "hrc" not in lpm.commands and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lpm.commands[:2] == ["htc", "volt 3000m"] and "hrc" in lpm.commands  # control handed back
    finally:
        lpm.close()


def test_ppk2_close_releases_its_serial_port():
    import serial

    from harness.telemetry.monitors.ppk2 import Ppk2Monitor

    class Ppk2Api:  # the part of ppk2-api's PPK2_API that close() uses (an extra, not installed here)
        def __init__(self):
            self.ser = serial.serial_for_url("loop://")
            self.power: list[str] = []

        def toggle_DUT_power(self, state):
            self.power.append(state)

    mon = Ppk2Monitor("/dev/ttyACM0")
    mon._ppk = api = Ppk2Api()
    mon.close()
    assert api.power == ["OFF"] and not api.ser.is_open
    mon.close()  # twice is harmless


def test_ppk2_supply_voltage_is_given_in_volts():
    mon = open_monitor("ppk2", "/dev/ttyACM0", voltage_v=3.3)
    assert mon.voltage_v == 3.3
    with pytest.raises(HarnessError, match="3300 V is outside its 0.8-5 V source range"):
        open_monitor("ppk2", "/dev/ttyACM0", voltage_v=3300)  # millivolts by mistake
    with pytest.raises(HarnessError, match="unknown option.*voltage_mv.*known: voltage_v, logic_bit"):
        open_monitor("ppk2", "/dev/ttyACM0", voltage_mv=3000)
