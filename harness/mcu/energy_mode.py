"""MCU energy mode: energy per inference between the DUT's timestamp edges.

The firmware is built for energy mode (its `timestamp` is a GPIO pulse, no
``m-lap-us`` line). For each window the host sends `infer N W`; the DUT pulses its
timestamp pin before and after the N timed inferences, and the power monitor sees
both edges on its own clock. As the MLPerf Tiny runner computes it:

    energy per inference = ∫ power over [edge 2k, edge 2k+1] / N,  median over windows

and latency = (edge 2k+1 − edge 2k) / N, on the monitor's clock.

The result is a ``monitor_energy`` result (`harness.store.results.MonitorEnergy`):
``j_per_inference_median`` (J), ``power_w_mean`` (W: all windows' energy ÷ their total
time), ``windows`` (per-window rows) and ``source`` (the monitor's name); and an
``mlperf_tiny`` result with the score.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis.energy import coverage, integrate_power
from harness.errors import HarnessError
from harness.telemetry.monitors import PowerMonitor, open_monitor
from harness.telemetry.monitors.base import MonitorTrace

from harness.mcu.windows import WindowPlan, infer_timeout, reference_inferences
from harness.store.results import EnergyWindow, MlperfTinyResult, MonitorEnergy

if TYPE_CHECKING:
    from harness.mcu.protocol import DutClient
    from harness.runners.base import RunContext

#: telemetry keeps the power trace decimated to about this many points
TELEMETRY_POINTS = 20_000


def window_energies(trace: MonitorTrace, inferences: list[int]) -> list[dict[str, Any]]:
    """Energy and time of each window from consecutive pairs of timestamp edges."""
    edges = np.sort(np.asarray(trace.edges_s, dtype=np.float64))
    want = 2 * len(inferences)
    if edges.size != want:
        raise HarnessError(f"energy: the monitor saw {edges.size} timestamp edges, expected {want} "
                           f"(two per window for {len(inferences)} windows): check the timestamp wiring")
    if trace.t_s.size < 2:
        raise HarnessError("energy: the monitor returned fewer than 2 power samples")
    dt = np.diff(trace.t_s)
    max_gap = 3 * float(np.median(dt))
    rows = []
    for k, n in enumerate(inferences):
        a, b = float(edges[2 * k]), float(edges[2 * k + 1])
        energy = integrate_power(trace.t_s, trace.power_w, a, b)
        rows.append({
            "window": k, "inferences": n, "start_s": a, "elapsed_s": b - a,
            "energy_j": energy, "energy_j_per_inference": energy / n,
            "power_w": energy / (b - a) if b > a else None,
            "coverage": coverage(trace.t_s, a, b, max_gap),
        })
    return rows


def _monitor_for(ctx: RunContext) -> PowerMonitor:
    opts = ctx.options
    kind = opts.monitor or ctx.profile.sensors.power_monitor
    port = opts.monitor_port or ctx.profile.sensors.power_monitor_port
    if not kind:
        raise HarnessError(f"energy mode needs a power monitor: set sensors.power_monitor in "
                           f"{ctx.profile.source or ctx.profile.id}, or the 'monitor' option")
    return open_monitor(kind, port, **dict(opts.monitor_options))


def run_energy(ctx: RunContext, dut: DutClient, plan: WindowPlan, model_key: str | None, samples: list) -> None:
    """Run the planned windows with the monitor recording; `samples`: the inputs to send."""
    rec = ctx.recorder
    windows, n, w, relaxed = plan
    if n is None:  # no m-lap-us to calibrate with: MLPerf Tiny's per-model default
        n = reference_inferences(model_key)
    monitor = _monitor_for(ctx)
    rec.stage = "monitor"
    try:
        monitor.start()  # inside the try: a start that fails half way still releases the instrument
        for i in range(windows):
            rec.stage = "load"
            dut.ensure_loaded(samples[i % len(samples)].tobytes())
            rec.stage = "run"
            reply = dut.infer(n, w, expect_laps=False,
                              timeout_s=infer_timeout(ctx.profile.transport.infer_timeout_s, n, w, None) * 10)
            if reply.laps_us:
                rec.warnings.append("energy mode: the device printed m-lap-us stamps (a performance-mode build?)")
        rec.stage = "monitor"
        time.sleep(ctx.options.monitor_settle_s)  # let the last edge reach the host
        trace = monitor.stop()
    finally:
        monitor.close()
    rec.stage = "energy"
    rows = window_energies(trace, [n] * windows)
    for row in rows:
        rec.add_sample(iteration=row["window"], phase="steady", start_ns=round(row["start_s"] * 1e9),
                       latency_ns=round(row["elapsed_s"] * 1e9 / n), inferences=n)
    step = max(1, trace.t_s.size // TELEMETRY_POINTS)
    for t, p in zip(trace.t_s[::step], trace.power_w[::step]):
        rec.add_telemetry(round(float(t) * 1e9), f"power/{trace.details.get('monitor', 'monitor')}", float(p), "W")
    for e in trace.edges_s:
        rec.add_telemetry(round(float(e) * 1e9), "gpio/timestamp", 0.0, "1")
    per_inf = [r["energy_j_per_inference"] for r in rows]
    throughputs = [n / r["elapsed_s"] for r in rows if r["elapsed_s"] > 0]
    # where the run summary picks them up (Summary.energy_j_per_inference / power_w_mean):
    # energy mode has no steady window on the telemetry clock for the usual derivation
    elapsed = sum(r["elapsed_s"] for r in rows)
    rec.set_result(MonitorEnergy(
        source=trace.details.get("monitor", "monitor"),
        j_per_inference_median=statistics.median(per_inf),
        power_w_mean=sum(r["energy_j"] for r in rows) / elapsed if elapsed > 0 else None,
        windows=[EnergyWindow(**r) for r in rows],
        monitor=trace.details,
        clock="sample times and latencies are on the power monitor's clock",
    ))
    rec.set_result(MlperfTinyResult(
        mode="energy",
        median_energy_j_per_inference=statistics.median(per_inf),
        median_throughput_per_s=statistics.median(throughputs) if throughputs else None,
        window_rule="relaxed" if relaxed else "MLPerf Tiny energy: median over windows of energy between edges / N",
        valid=not relaxed,
    ))
    rec.stop_reason = f"tinyml energy: {windows} windows of {n} inferences" + (" (relaxed rule)" if relaxed else "")
    low = [r["window"] for r in rows if r["coverage"] < 0.9]
    if low:
        rec.warnings.append(f"energy: power samples cover under 90 % of window(s) {low}")
