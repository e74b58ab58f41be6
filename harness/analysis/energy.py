"""Energy from power samples: integration over a window, and the run summary.

Pure functions over arrays and telemetry rows; no I/O.

`integrate_power` is the one place that turns a power trace into joules. It is used
for phone/board rails sampled on the target and for external power-monitor streams
(MCU energy mode, between GPIO edges).
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError
from harness.telemetry.vcgencmd import THROTTLED_NOW


def _clean_trace(t_s, power_w) -> tuple[np.ndarray, np.ndarray]:
    """Finite samples only, sorted by time (stable, so equal times keep their order)."""
    t = np.asarray(t_s, dtype=np.float64).ravel()
    p = np.asarray(power_w, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise HarnessError(f"power trace: {t.size} sample times but {p.size} power values")
    keep = np.isfinite(t) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if t.size and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, p = t[order], p[order]
    return t, p


def integrate_power(t_s: np.ndarray, power_w: np.ndarray, start_s: float, end_s: float) -> float:
    """Energy (J) of a power trace over the window [start_s, end_s].

    - Samples may be unevenly spaced; they are integrated with the trapezoid rule,
      i.e. power is taken as linear between consecutive samples.
    - Window edges that fall between two samples get a linearly interpolated power
      value, so a window edge costs no accuracy beyond the trapezoid rule itself.
    - Gaps: a gap between two samples, however long, is bridged linearly. This
      function does not judge gaps; `coverage` reports how much of a window is
      covered by samples spaced no more than a given maximum apart.
    - Outside the sampled span (window starts before the first sample or ends after
      the last) power is held at the first/last sample's value. Check `coverage` when
      that matters.
    - Non-finite samples (NaN/inf time or power: a missing reading) are dropped
      before integrating. Unsorted times are sorted; duplicate times are kept (a
      zero-width step contributes nothing).
    - `end_s == start_s` gives 0.0; `end_s < start_s` or a trace with no finite
      sample raises `HarnessError`.
    """
    start_s, end_s = float(start_s), float(end_s)
    if not (np.isfinite(start_s) and np.isfinite(end_s)):
        raise HarnessError(f"energy window [{start_s}, {end_s}] s is not finite")
    if end_s < start_s:
        raise HarnessError(f"energy window ends ({end_s} s) before it starts ({start_s} s)")
    t, p = _clean_trace(t_s, power_w)
    if t.size == 0:
        raise HarnessError("power trace has no finite samples to integrate")
    if end_s == start_s:
        return 0.0
    inside = (t > start_s) & (t < end_s)
    edges_p = np.interp([start_s, end_s], t, p)  # holds first/last value outside the span
    tt = np.concatenate(([start_s], t[inside], [end_s]))
    pp = np.concatenate(([edges_p[0]], p[inside], [edges_p[1]]))
    return float(np.trapezoid(pp, tt))


def coverage(t_s: np.ndarray, start_s: float, end_s: float, max_gap_s: float) -> float:
    """Share (0..1) of [start_s, end_s] lying between consecutive samples at most `max_gap_s` apart.

    Time before the first sample, after the last, and inside any longer gap counts as
    uncovered. A window of zero length is fully covered if a sample lies on it.
    """
    t = np.asarray(t_s, dtype=np.float64).ravel()
    t = np.sort(t[np.isfinite(t)])
    if end_s <= start_s:
        return 1.0 if np.any(t == start_s) else 0.0
    if t.size < 2:
        return 0.0
    a, b = t[:-1], t[1:]
    ok = (b - a) <= max_gap_s
    lo = np.clip(a[ok], start_s, end_s)
    hi = np.clip(b[ok], start_s, end_s)
    return float(np.sum(hi - lo) / (end_s - start_s))


# -- run summary ---------------------------------------------------------------------------

#: rails that carry a whole module's input power (Jetson: VDD_IN on Orin/Xavier/TX2, POM_5V_IN on Nano)
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
#: a frequency channel "dropped" when its late-steady median is below this share of its early one
CLOCK_DROP_RATIO = 0.9

Series = dict[str, tuple[np.ndarray, np.ndarray]]


def telemetry_series(telemetry) -> Series:
    """Channel → (t_ns int64, value float64) sorted by time, from a pyarrow Table
    (the record's ``telemetry`` table) or an iterable of (t_ns, channel, value, unit) rows."""
    if hasattr(telemetry, "column_names"):
        t = np.asarray(telemetry.column("t_ns").to_numpy(zero_copy_only=False), dtype=np.int64)
        ch = np.asarray(telemetry.column("channel").to_pylist(), dtype=object)
        v = np.asarray(telemetry.column("value").to_numpy(zero_copy_only=False), dtype=np.float64)
    else:
        rows = list(telemetry)
        t = np.array([r[0] for r in rows], dtype=np.int64)
        ch = np.array([r[1] for r in rows], dtype=object)
        v = np.array([r[2] for r in rows], dtype=np.float64)
    out: Series = {}
    for name in dict.fromkeys(ch.tolist()):
        sel = ch == name
        order = np.argsort(t[sel], kind="stable")
        out[name] = (t[sel][order], v[sel][order])
    return out


def power_source(series: Series, rails: list[str] | None = None) -> tuple[str, list[str], str]:
    """(kind 'power' | 'counter', channels, why) — which channels measure the device's power.

    In order: the `rails` given; a module input rail (VDD_IN, POM_5V_IN); RAPL psys, else
    the RAPL packages (energy counters); the battery; else the sum of every power rail
    seen (partial: conversion losses and unmonitored rails are missing).
    """
    if rails:
        chans = [r if "/" in r else f"power/{r}" for r in rails]
        missing = [c for c in chans if c not in series]
        if missing:
            raise HarnessError(f"energy: rail(s) {', '.join(missing)} not in the telemetry")
        kind = "counter" if all(c.startswith("energy/") for c in chans) else "power"
        return kind, chans, "rails given"
    for rail in INPUT_RAILS:
        if f"power/{rail}" in series:
            return "power", [f"power/{rail}"], "module input rail"
    if "energy/psys" in series:
        return "counter", ["energy/psys"], "RAPL platform (psys)"
    packages = sorted(c for c in series if c.startswith("energy/package-") and "." not in c)
    if packages:
        return "counter", packages, "RAPL packages (CPU package only, not the platform)"
    if "power/battery" in series:
        return "power", ["power/battery"], "battery fuel gauge"
    rails_seen = sorted(c for c in series if c.startswith("power/"))
    if rails_seen:
        return "power", rails_seen, "sum of rails (partial: unmonitored rails and losses missing)"
    return "none", [], "no power or energy channel in the telemetry"


def _energy(kind: str, chans: list[str], series: Series, start_ns: int, end_ns: int, t0: int) -> float:
    a, b = (start_ns - t0) / 1e9, (end_ns - t0) / 1e9
    total = 0.0
    for c in chans:
        t, v = series[c]
        ts = (t - t0) / 1e9
        if kind == "power":
            total += integrate_power(ts, v, a, b)
        else:  # cumulative counter (J): difference of the interpolated counter at the edges
            ok = np.isfinite(v)
            lo, hi = np.interp([a, b], ts[ok], v[ok])
            total += float(hi - lo)
    return total


def _coverage(chans: list[str], series: Series, start_ns: int, end_ns: int, t0: int) -> tuple[float, float]:
    """(worst coverage over the channels, sample rate of the sparsest channel in the window)."""
    covs, rates = [], []
    dur = (end_ns - start_ns) / 1e9
    for c in chans:
        t = series[c][0]
        ts = (t - t0) / 1e9
        dt = np.diff(ts)
        max_gap = 3 * float(np.median(dt)) if dt.size else 0.0
        covs.append(coverage(ts, (start_ns - t0) / 1e9, (end_ns - t0) / 1e9, max_gap))
        inside = np.count_nonzero((t >= start_ns) & (t <= end_ns))
        rates.append(inside / dur if dur > 0 else 0.0)
    return (min(covs), min(rates)) if covs else (0.0, 0.0)


def _throttle_reasons(series: Series, run: tuple[int, int], steady: tuple[int, int]) -> list[str]:
    reasons = []
    for bit in THROTTLED_NOW:
        ch = f"throttled/{bit}"
        if ch in series:
            t, v = series[ch]
            sel = (t >= run[0]) & (t <= run[1])
            if np.any(v[sel] >= 1):
                reasons.append(f"{ch} set during the run")
    # CPU clocks: compare the first and last quarter of the steady window, on the busiest
    # cores only (those running near the top early clock): idle cores wander on their own.
    span = steady[1] - steady[0]
    medians = {}
    for ch, (t, v) in series.items():
        if not (ch.startswith("freq/cpu") or ch == "freq/arm"):
            continue
        early = v[(t >= steady[0]) & (t < steady[0] + span / 4)]
        late = v[(t > steady[1] - span / 4) & (t <= steady[1])]
        if early.size >= 3 and late.size >= 3:
            medians[ch] = float(np.median(early)), float(np.median(late))
    top = max((e for e, _ in medians.values()), default=0.0)
    for ch, (e, lt) in medians.items():
        if e >= 0.95 * top and e > 0 and lt < CLOCK_DROP_RATIO * e:
            reasons.append(f"{ch} dropped from {e / 1e6:.0f} to {lt / 1e6:.0f} MHz during the steady state")
    return reasons


def summarize(
    telemetry,
    steady_start_ns: int,
    steady_end_ns: int,
    iterations: int,
    baseline: list[tuple[int, int]] | tuple = (),
    run_window: tuple[int, int] | None = None,
    rails: list[str] | None = None,
) -> dict:
    """Energy, power, temperature and throttling of a run, for the record's `Summary`.

    - ``energy_j_per_inference``: ∫ power over [steady_start, steady_end] ÷ iterations
      (gross); ``energy_j_per_inference_net``: the same minus the idle baseline power
      (mean over the `baseline` windows, device-clock ns) × the window length.
    - ``power_w_mean``: mean power over the steady window.
    - ``temp_c_max``: hottest ``thermal/*`` value in `run_window` (default: steady window).
    - ``throttled``: a throttle bit set in the run window, or a busy CPU's clock that
      dropped by more than 10 % between the first and last quarter of the steady window
      (None when the telemetry has no clock or throttle channel).
    - ``energy``: how it was computed (channels, rate, coverage, baseline…).
    Values that cannot be computed are None, never zero.
    """
    series = telemetry_series(telemetry)
    steady = (int(steady_start_ns), int(steady_end_ns))
    if steady[1] <= steady[0]:
        raise HarnessError(f"energy: steady window ends ({steady[1]} ns) before it starts ({steady[0]} ns)")
    run = (int(run_window[0]), int(run_window[1])) if run_window else steady
    t0 = steady[0]
    dur = (steady[1] - steady[0]) / 1e9
    out: dict = {"energy_j_per_inference": None, "energy_j_per_inference_net": None, "power_w_mean": None,
                 "temp_c_max": None, "throttled": None}
    details: dict = {"window_s": dur, "iterations": iterations, "warnings": []}

    kind, chans, why = power_source(series, rails)
    details.update(source=kind, channels=chans, chosen_because=why)
    if chans:
        energy = _energy(kind, chans, series, steady[0], steady[1], t0)
        cov, rate = _coverage(chans, series, steady[0], steady[1], t0)
        details.update(energy_j=energy, coverage=cov, sample_rate_hz=rate)
        out["power_w_mean"] = energy / dur
        if iterations > 0:
            out["energy_j_per_inference"] = energy / iterations
        if cov < 0.9:
            details["warnings"].append(f"power samples cover only {cov:.0%} of the steady window")
        if chans == ["power/battery"] and energy < 0:
            details["warnings"].append("battery power is negative: the device was charging; energy is meaningless")
        windows = [(int(a), int(b)) for a, b in baseline if b > a]
        if windows:
            e_idle = sum(_energy(kind, chans, series, a, b, t0) for a, b in windows)
            t_idle = sum((b - a) / 1e9 for a, b in windows)
            idle_cov = min(_coverage(chans, series, a, b, t0)[0] for a, b in windows)
            p_idle = e_idle / t_idle
            details.update(baseline_power_w=p_idle, baseline_s=t_idle, baseline_coverage=idle_cov)
            if iterations > 0:
                out["energy_j_per_inference_net"] = (energy - p_idle * dur) / iterations
    else:
        details["warnings"].append(why)

    temps = [v[(t >= run[0]) & (t <= run[1])] for ch, (t, v) in series.items() if ch.startswith("thermal/")]
    temps = [x for x in temps if x.size]
    if temps:
        out["temp_c_max"] = float(max(float(np.max(x)) for x in temps))
    has_clock_info = any(ch.startswith(("freq/", "throttled/")) for ch in series)
    if has_clock_info:
        reasons = _throttle_reasons(series, run, steady)
        out["throttled"] = bool(reasons)
        details["throttle_reasons"] = reasons
    out["energy"] = details
    return out


def summarize_windows(
    telemetry,
    windows: list[tuple[int, int]],
    units: int,
    baseline: list[tuple[int, int]] | tuple = (),
    rails: list[str] | None = None,
) -> dict:
    """Energy over a set of device-clock windows (ns) that together do `units` of work — an
    LLM's prefill or decode repetitions, `units` their tokens.

    ``energy_j``: ∫ power over every window, summed; ``j_per_unit``: that ÷ units;
    ``j_per_unit_net``: the same less the idle baseline power (mean over the `baseline`
    windows) × the windows' total length; ``power_w_mean``: energy ÷ total length;
    ``coverage``: the worst window's share covered by power samples. Figures that cannot be
    computed are None, with the reason in ``warnings``."""
    series = telemetry_series(telemetry)
    windows = [(int(a), int(b)) for a, b in windows if b > a]
    total_s = sum((b - a) / 1e9 for a, b in windows)
    out: dict = {"energy_j": None, "j_per_unit": None, "j_per_unit_net": None, "power_w_mean": None,
                 "windows": len(windows), "window_s": total_s, "units": units, "warnings": []}
    kind, chans, why = power_source(series, rails)
    out.update(source=kind, channels=chans, chosen_because=why)
    if not chans or not windows:
        out["warnings"].append(why if not chans else "no window to integrate over")
        return out
    t0 = windows[0][0]
    energy = sum(_energy(kind, chans, series, a, b, t0) for a, b in windows)
    cov = min(_coverage(chans, series, a, b, t0)[0] for a, b in windows)
    out.update(energy_j=energy, power_w_mean=energy / total_s if total_s > 0 else None, coverage=cov)
    if units > 0:
        out["j_per_unit"] = energy / units
    if cov < 0.9:
        out["warnings"].append(f"power samples cover only {cov:.0%} of the shortest-covered window")
    idle = [(int(a), int(b)) for a, b in baseline if b > a]
    if idle:
        p_idle = sum(_energy(kind, chans, series, a, b, t0) for a, b in idle) / sum((b - a) / 1e9 for a, b in idle)
        out["baseline_power_w"] = p_idle
        if units > 0:
            out["j_per_unit_net"] = (energy - p_idle * total_s) / units
    return out


def baseline_windows(timeline: dict[str, int]) -> list[tuple[int, int]]:
    """The idle windows the telemetry recorded around the workload (see `summarize_timeline`)."""
    out = []
    if "baseline_start_ns" in timeline and "workload_start_ns" in timeline:
        out.append((timeline["baseline_start_ns"], timeline["workload_start_ns"]))
    if "workload_end_ns" in timeline and "baseline_end_ns" in timeline:
        out.append((timeline["workload_end_ns"], timeline["baseline_end_ns"]))
    return out


def summarize_timeline(telemetry, timeline: dict[str, int], iterations: int, rails: list[str] | None = None) -> dict:
    """`summarize` with windows taken from a record's ``timeline`` marks.

    Baseline windows: [baseline_start_ns, workload_start_ns] and [workload_end_ns,
    baseline_end_ns] (whichever exist); run window: [workload_start_ns, workload_end_ns].
    """
    try:
        steady = timeline["steady_start_ns"], timeline["steady_end_ns"]
    except KeyError as e:
        raise HarnessError(f"energy: the run's timeline has no {e.args[0]}") from None
    baseline = baseline_windows(timeline)
    run = None
    if "workload_start_ns" in timeline and "workload_end_ns" in timeline:
        run = (timeline["workload_start_ns"], timeline["workload_end_ns"])
    return summarize(telemetry, steady[0], steady[1], iterations, baseline, run, rails)
