"""MLPerf Tiny host-runner files: the ``mlperf_tiny`` ingest format.

Give either file of a session: ``results.txt`` (the scores) or ``log.txt`` (the session with
the device's lines). The other one is looked for beside it (the same name with ``results``
and ``log`` swapped: ``performance/results.txt`` ↔ ``performance/log.txt``,
``kws_performance_results.txt`` ↔ ``kws_performance_log.txt``) and, when there, combined
(`harness.logs.mlperf_tiny.combine`: the device's lap stamps and predictions attached to the
scored windows, read with the live MLPerf Tiny protocol code).

Recorded as the ``tinyml`` runner records a live run: an ``mlperf_tiny`` result with one
window per scored window (inferences, runtime, throughput, the device's stamps when the log
has them), the median throughput (as printed; computed from the windows when the file prints
none, and said so), latency = 1 / median throughput, whether the runner judged the windows
valid, and the accuracy figures (Top-1, AUC, streaming wake-word counts). Energy mode adds a
``monitor_energy`` result: energy, power and energy per inference per window and their
median (J, W). A window with the device's stamps becomes a sample on the device's µs clock
(latency = elapsed / inferences); a results.txt alone has no per-inference samples.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.errors import HarnessError
from harness.ingest.base import IngestedRun, IngestFormat, read_log
from harness.logs import mlperf_tiny
from harness.store.record import RuntimeInfo, StopRule
from harness.store.recorder import Recorder
from harness.store.results import EnergyWindow, MlperfTinyResult, MonitorEnergy, TinyWindow


def sibling(source: Path) -> Path | None:
    """The other file of the session: ``results`` ↔ ``log`` in the name, when it exists."""
    name = source.name
    for a, b in (("results", "log"), ("log", "results")):
        at = name.rfind(a)
        if at >= 0:
            other = source.with_name(name[:at] + b + name[at + len(a):])
            if other.is_file() and other.resolve() != source.resolve():
                return other
    return None


def tiny_run(text: str, source: Path) -> tuple[mlperf_tiny.TinyRun, Path | None]:
    """The run a file describes, combined with its sibling file when that is there."""
    run = read_log(mlperf_tiny.parse, text, source)
    other = sibling(source)
    if other is None:
        return run, None
    try:
        other_run = mlperf_tiny.parse_file(other)
    except HarnessError:
        return run, None  # the sibling is not the other half of this session
    if run.kind == "results" and other_run.kind == "log":
        return mlperf_tiny.combine(run, other_run), other
    if run.kind == "log" and other_run.kind == "results":
        return mlperf_tiny.combine(other_run, run), other
    return run, None


def _windows(rec: Recorder, run: mlperf_tiny.TinyRun) -> list[TinyWindow]:
    from harness.runners.tinyml import DeviceClock  # the live runner's unwrapping of 32-bit µs stamps

    clock = DeviceClock()
    out = []
    for w in run.windows:
        elapsed = w.runtime_s if w.runtime_s is not None else w.elapsed_s
        if w.inferences is None or elapsed is None:
            rec.warnings.append(f"window {w.index}: no inference count or runtime: left out")
            continue
        latency = elapsed / w.inferences if w.inferences else None
        out.append(TinyWindow(window=w.index, phase="steady", inferences=w.inferences, warmups=w.warmups,
                              lap_us=list(w.laps_us), elapsed_s=elapsed, latency_s=latency,
                              throughput_per_s=w.throughput_per_s, results=w.results))
        if len(w.laps_us) == 2 and latency and w.elapsed_s:
            start = clock.ns(w.laps_us[0])
            clock.ns(w.laps_us[1])
            rec.add_sample(iteration=w.index, phase="steady", start_ns=start,
                           latency_ns=round(w.elapsed_s * 1e9 / w.inferences), inferences=w.inferences)
    return out


def _energy(rec: Recorder, run: mlperf_tiny.TinyRun) -> MonitorEnergy | None:
    windows = []
    for w in run.energy_windows:
        if w.energy_j is None or w.energy_per_inference_j is None or w.duration_s is None:
            rec.warnings.append(f"energy window {w.index}: energy, energy per inference or duration missing: "
                                "left out")
            continue
        windows.append(EnergyWindow(window=w.index, inferences=w.inferences, start_s=w.at_s, elapsed_s=w.duration_s,
                                    energy_j=w.energy_j, energy_j_per_inference=w.energy_per_inference_j,
                                    power_w=w.power_w))
    median = run.median_energy_per_inference_j or run.computed_median_energy_per_inference_j
    if median is None and not windows:
        return None
    powers = [w.power_w for w in windows if w.power_w is not None]
    return MonitorEnergy(source=f"MLPerf Tiny runner ({run.benchmark or 'energy mode'})",
                         j_per_inference_median=median, power_w_mean=statistics.fmean(powers) if powers else None,
                         windows=windows, clock="the runner's own (EnergyRunner time stamps)")


class MlperfTinyFiles(IngestFormat):
    name = "mlperf_tiny"
    description = "MLPerf Tiny results.txt and/or log.txt (performance, accuracy, energy; the other file beside it is read too)"

    def parse(self, text: str, source: Path) -> list[IngestedRun]:
        source = Path(source)
        run, other = tiny_run(text, source)
        rec = Recorder(runtime=RuntimeInfo(name="mlperf_tiny", library="MLPerf Tiny runner",
                                           version=run.runner_version))
        rec.add_raw(source.name, text.splitlines())
        if other is not None:
            rec.add_raw(other.name, other.read_text(errors="replace").splitlines())
            rec.notes.append(f"combined with {other.name} (the other file of the session)")
        if run.device:
            rec.runtime.details["device"] = dict(run.device)
        if run.config:
            rec.runtime.details["runner_config"] = dict(run.config)
        windows = _windows(rec, run)
        median = run.median_throughput_per_s or run.computed_median_throughput_per_s
        met = [w.requirements_met for w in run.windows if w.requirements_met is not None]
        rec.set_result(MlperfTinyResult(
            mode=run.mode or "performance", windows=windows, median_throughput_per_s=median,
            latency_s=1.0 / median if median else None,
            median_energy_j_per_inference=run.median_energy_per_inference_j
            or run.computed_median_energy_per_inference_j,
            window_rule="as the MLPerf Tiny runner judged it ('Runtime requirements have been met.')" if met else None,
            valid=all(met) if met else None, top1=run.top1, auc=run.auc, streaming=dict(run.streaming)))
        energy = _energy(rec, run)
        if energy is not None:
            rec.set_result(energy)
        if windows:
            rec.stop_reason = f"mlperf_tiny: {len(windows)} window(s)"
        rec.warnings.extend(run.warnings)
        if run.device_noise:
            rec.notes.append(f"{run.device_noise.count} device line(s) outside the protocol (debug output)")
        if run.unrecognised:
            rec.notes.append(f"{run.unrecognised.count} line(s) not understood, kept in raw/ "
                             f"(first: {run.unrecognised.first[0]!r})")
        failure = None
        if run.mode is None:
            failure = "the MLPerf Tiny session holds no score: no window, median, energy or accuracy figure"
        return [IngestedRun(
            recorder=rec,
            runtime="mlperf_tiny",
            stop=StopRule(mode="tinyml", count=len(windows) or None),
            model_name=run.device.get("model"),
            model_format="unknown",
            failure=failure,
            json_extra={k: v for k, v in (("mode", run.mode), ("median_throughput_per_s", median),
                                          ("latency_s", run.latency_s), ("top1", run.top1), ("auc", run.auc),
                                          ("median_energy_j_per_inference", run.median_energy_per_inference_j
                                           or run.computed_median_energy_per_inference_j)) if v is not None},
        )]
