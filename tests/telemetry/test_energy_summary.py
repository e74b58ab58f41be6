"""summarize(): gross/net energy per inference, power source choice, coverage, temperature, throttling."""

import numpy as np
import pyarrow as pa
import pytest

from harness.analysis.energy import power_source, summarize, summarize_timeline, telemetry_series
from harness.errors import HarnessError
from harness.store.record import TELEMETRY_SCHEMA

S = 1_000_000_000
T0 = 10_000 * S


def rows_for(channel, unit, times_s, values):
    return [(T0 + int(round(t * S)), channel, float(v), unit) for t, v in zip(times_s, values)]


def idle_then_busy(rate_hz=50.0):
    """2 W idle for 0-2 s and 8-10 s, 6 W while working 2-8 s (steady 3-7 s)."""
    t = np.arange(0, 10 + 1e-9, 1 / rate_hz)
    p = np.where((t >= 2) & (t <= 8), 6.0, 2.0)
    return rows_for("power/VDD_IN", "W", t, p) + rows_for("power/VDD_SOC", "W", t, p / 3)


TIMELINE = {"baseline_start_ns": T0, "workload_start_ns": T0 + 2 * S, "steady_start_ns": T0 + 3 * S,
            "steady_end_ns": T0 + 7 * S, "workload_end_ns": T0 + 8 * S, "baseline_end_ns": T0 + 10 * S}


def test_gross_net_and_mean_power_from_input_rail():
    out = summarize_timeline(idle_then_busy(), TIMELINE, iterations=400)
    assert out["energy_j_per_inference"] == pytest.approx(6.0 * 4 / 400)  # 24 J over 400 inferences
    # each baseline window ends/starts on a sample 20 ms from the 2 W -> 6 W step: the trapezoid
    # rule gives that interval 4 W, so idle = (2 W × 4 s + 2 × 0.02 s × 2 W) / 4 s = 2.02 W
    assert out["energy"]["baseline_power_w"] == pytest.approx(2.02)
    assert out["energy_j_per_inference_net"] == pytest.approx((24.0 - 2.02 * 4) / 400)
    assert out["power_w_mean"] == pytest.approx(6.0)
    e = out["energy"]
    assert e["channels"] == ["power/VDD_IN"] and e["chosen_because"] == "module input rail"
    assert e["coverage"] == pytest.approx(1.0)
    assert e["sample_rate_hz"] == pytest.approx(50.25, abs=0.3)
    assert e["baseline_s"] == pytest.approx(4.0) and e["baseline_coverage"] == pytest.approx(1.0)
    assert out["temp_c_max"] is None and out["throttled"] is None  # no such channels: unknown, not False


def test_table_input_equals_row_input():
    rows = idle_then_busy()
    table = pa.Table.from_pylist([dict(zip(TELEMETRY_SCHEMA.names, r)) for r in rows], schema=TELEMETRY_SCHEMA)
    a = summarize_timeline(rows, TIMELINE, 400)
    b = summarize_timeline(table, TIMELINE, 400)
    assert a["energy_j_per_inference"] == b["energy_j_per_inference"]


def test_rapl_counter_difference_and_sparse_coverage_warning():
    t = np.arange(0, 10.01, 0.5)
    joules = 15.0 * t  # 15 W package power as a cumulative counter
    rows = rows_for("energy/package-0", "J", t, joules) + rows_for("energy/package-0.core", "J", t, joules / 2)
    out = summarize(rows, T0 + int(2.25 * S), T0 + int(6.25 * S), iterations=8)
    assert out["energy_j_per_inference"] == pytest.approx(15.0 * 4 / 8)
    assert out["energy"]["channels"] == ["energy/package-0"]
    # gap: samples stop at 5 s for a window running to 9.5 s
    keep = t <= 5
    out = summarize(rows_for("energy/psys", "J", t[keep], joules[keep]), T0 + 3 * S, T0 + int(9.5 * S), 1)
    assert out["energy"]["coverage"] == pytest.approx(2 / 6.5)
    assert any("cover only" in w for w in out["energy"]["warnings"])


def test_source_priority_and_explicit_rails():
    series = telemetry_series(idle_then_busy())
    assert power_source(series)[1] == ["power/VDD_IN"]
    del series["power/VDD_IN"]
    kind, chans, why = power_source(series)
    assert chans == ["power/VDD_SOC"] and why.startswith("sum of rails")
    assert power_source(series, ["VDD_SOC"])[1] == ["power/VDD_SOC"]
    with pytest.raises(HarnessError, match="VDD_GHOST"):
        power_source(series, ["VDD_GHOST"])
    out = summarize([(T0, "thermal/cpu", 40.0, "C")], T0, T0 + S, 10)
    assert out["energy_j_per_inference"] is None and out["power_w_mean"] is None
    assert out["temp_c_max"] == 40.0


def test_temperature_max_within_run_window_only():
    rows = idle_then_busy() + rows_for("thermal/cpu", "C", [1.0, 2.5, 5.0, 9.0], [90.0, 50.0, 61.5, 95.0])
    assert summarize_timeline(rows, TIMELINE, 1)["temp_c_max"] == 61.5


def test_throttling_from_bits_and_from_a_busy_clock_drop():
    t = np.arange(0, 10, 0.1)
    big = np.where(t < 5, 2.4e9, 1.8e9)  # busy core capped mid-run
    little = np.where(t < 5, 0.6e9, 0.3e9)  # idle core wandering: ignored
    rows = idle_then_busy() + rows_for("freq/cpu4", "Hz", t, big) + rows_for("freq/cpu0", "Hz", t, little)
    out = summarize_timeline(rows, TIMELINE, 1)
    assert out["throttled"] is True
    assert out["energy"]["throttle_reasons"] == ["freq/cpu4 dropped from 2400 to 1800 MHz during the steady state"]

    steady_clock = rows_for("freq/cpu4", "Hz", t, np.full(t.size, 2.4e9))
    assert summarize_timeline(idle_then_busy() + steady_clock, TIMELINE, 1)["throttled"] is False
    bits = rows_for("throttled/soft_temp_limit", "1", [1.0, 4.0, 9.0], [0, 1, 0])
    out = summarize_timeline(idle_then_busy() + steady_clock + bits, TIMELINE, 1)
    assert out["throttled"] is True and out["energy"]["throttle_reasons"] == ["throttled/soft_temp_limit set during the run"]


def test_charging_battery_is_flagged_and_bad_window_refused():
    t = np.arange(0, 5, 0.1)
    out = summarize(rows_for("power/battery", "W", t, np.full(t.size, -1.5)), T0, T0 + 4 * S, 10)
    assert any("charging" in w for w in out["energy"]["warnings"])
    with pytest.raises(HarnessError, match="before it starts"):
        summarize(idle_then_busy(), T0 + 5 * S, T0 + 4 * S, 1)
    with pytest.raises(HarnessError, match="steady_end_ns"):
        summarize_timeline(idle_then_busy(), {"steady_start_ns": T0}, 1)
