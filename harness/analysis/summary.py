"""A run's summary, derived only from its raw tables and configuration.

`derive_summary` is a pure function of a manifest (its typed ``results`` included) and its
tables, so a stored run can be re-summarised and every figure traced back to raw samples.
It reads runner results through their hooks only (`RunnerResult.typical_latency`,
`.energy`, `.stands_for_samples`, `.off_the_ceilings`), never through a dict; an LLM's phases
(`harness.llm.results`) are summarised by `harness.llm.summary`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness import stats
from harness.analysis import energy
from harness.analysis.roofline import summarize_roofline
from harness.errors import HarnessError
from harness.llm.summary import add_llm_summary
from harness.store.record import RunManifest, Summary, recorded_path
from harness.store.recorder import Recorder


def steady_latencies(samples: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(seconds per inference, inferences) of the steady-state samples, in order."""
    steady = samples.filter(pc.equal(samples["phase"], "steady"))
    lat = steady["latency_ns"].to_numpy().astype(float) / 1e9
    return lat, steady["inferences"].to_numpy()


def steady_processes(samples: pa.Table) -> np.ndarray:
    """The worker process of each steady-state sample (all 0 in records from before processes)."""
    steady = samples.filter(pc.equal(samples["phase"], "steady"))
    if "process" not in samples.column_names:
        return np.zeros(steady.num_rows, dtype=np.int64)
    return steady["process"].to_numpy()


def _window_inferences(samples: pa.Table, start_ns: int, end_ns: int) -> int:
    """Steady-state inferences that started inside [start_ns, end_ns] (one process's window)."""
    steady = samples.filter(pc.equal(samples["phase"], "steady"))
    start = steady["start_ns"].to_numpy()
    inside = (start >= start_ns) & (start <= end_ns)
    return int(steady["inferences"].to_numpy()[inside].sum())


def derive_summary(
    manifest: RunManifest,
    base: Summary,
    samples: pa.Table,
    telemetry: pa.Table,
    ops: pa.Table,
    analysis=None,
    ceilings=None,
    roofline_warnings: list[str] | tuple[str, ...] = (),
) -> Summary:
    """`analysis` (the model's static analysis) and `ceilings` (the device's) feed the roofline;
    without either the roofline stays None. See `roofline_inputs` for where they come from."""
    summary = base.model_copy(deep=True)
    summary.warnings += list(roofline_warnings)
    lat, counts = steady_latencies(samples)
    summary.latency = stats.summarize(lat, counts, steady_processes(samples))
    if summary.latency is not None:
        total_s = float((lat * counts).sum())
        summary.throughput_per_s = float(counts.sum()) / total_s if total_s > 0 else None
        summary.warnings += stats.stability_warnings(lat, summary.latency, manifest.config.stop, summary.stop_reason)
    elif manifest.status == "ok" and not any(r.stands_for_samples for r in manifest.results):
        summary.warnings.append("no steady-state samples")
    _add_energy(summary, manifest, telemetry, samples)
    median, source = typical_latency(summary, manifest.results)
    if any(r.off_the_ceilings for r in manifest.results):
        analysis = None  # the ceilings describe the CPU cores, not the engine's GPU/DLA: no roofline
    summary.roofline = summarize_roofline(
        roofline_precision(manifest), median, ops.to_pylist(), analysis, ceilings, manifest.config.threads
    )
    if summary.roofline is not None and source is not None:
        summary.roofline["latency_source"] = source
    # an LLM's phases (prefill, decode in tokens): throughput, J/token per phase, its roofline
    add_llm_summary(summary, manifest, samples, telemetry, ceilings, roofline_precision(manifest))
    return summary


def typical_latency(summary: Summary, results=()) -> tuple[float | None, str | None]:
    """The steady-state median; for runtimes that print statistics only, what their result
    reports (`RunnerResult.typical_latency`: a median, else a mean)."""
    if summary.latency is not None:
        return summary.latency.median_s, "median of the steady-state samples"
    for result in results:
        found = result.typical_latency()
        if found is not None:
            return found
    return None, None


def roofline_precision(manifest: RunManifest) -> str:
    """The precision the roofline judges the model at: its format's mapping onto a compute
    ceiling (`ModelFormat.compute_dtype`), else the recorded precision as is."""
    from harness.formats import registry

    fmt = registry.formats().get(manifest.model.format)
    dtype = fmt.compute_dtype(manifest.model.precision) if fmt is not None else None
    return dtype or manifest.model.precision


def _add_energy(summary: Summary, manifest: RunManifest, telemetry: pa.Table, samples: pa.Table) -> None:
    """Energy, power, temperature and throttling from the telemetry, on the steady window."""
    dropped = manifest.conditions.get("clocks_dropped")
    if dropped:
        summary.throttled = True
        summary.warnings.append("clocks dropped during the run: " + "; ".join(dropped))
    measured = next((e for e in (r.energy() for r in manifest.results) if e is not None), None)
    if measured:  # an external monitor's per-window result (MCU energy mode)
        summary.energy_j_per_inference = measured["energy_j_per_inference"]
        summary.power_w_mean = measured["power_w_mean"]
        summary.energy = measured["how"]
        return
    tl = manifest.timeline
    if telemetry.num_rows == 0 or summary.latency is None or not {"steady_start_ns", "steady_end_ns"} <= tl.keys():
        return
    try:
        # the steady window is the first process's (several processes: its inferences only)
        inferences = summary.latency.inferences
        if summary.latency.processes > 1:
            inferences = _window_inferences(samples, tl["steady_start_ns"], tl["steady_end_ns"])
        e = energy.summarize_timeline(telemetry, tl, inferences)
    except HarnessError as err:  # a broken window must not cost the run its latency summary
        summary.warnings.append(f"energy: {err}")
        return
    summary.energy_j_per_inference = e["energy_j_per_inference"]
    summary.energy_j_per_inference_net = e["energy_j_per_inference_net"]
    summary.power_w_mean = e["power_w_mean"]
    summary.temp_c_max = e["temp_c_max"]
    if e["throttled"] is not None:
        summary.throttled = bool(summary.throttled) or e["throttled"]
    summary.energy = e["energy"]
    # A target with no power sensor is not a problem with this run (the reason stays in
    # summary.energy); partial coverage or a charging battery is.
    if e["energy"].get("channels"):
        summary.warnings += [f"energy: {w}" for w in e["energy"].get("warnings", [])]


def roofline_inputs(manifest: RunManifest, results) -> dict:
    """Keyword arguments for `summarize_run`/`derive_summary`: the roofline's inputs for a run.

    ``analysis``: the model's static analysis, when the model file is still the recorded
    one; ``ceilings``: the device's stored ceilings under `results` (else the profile's
    datasheet numbers); ``roofline_warnings``: why either could not be read. Reading them
    never fails a run: what cannot be read is left None and said in the warnings.
    """
    from harness.analysis.ceilings import ceilings_for
    from harness.analysis.static import analyze_if_unchanged
    from harness.profiles import DeviceProfile

    out: dict = {"analysis": None, "ceilings": None, "roofline_warnings": []}
    # a format without static analysis has no roofline: nothing to warn about
    if manifest.profile:  # an ingested log may name no device: no ceilings to judge it against
        try:
            out["ceilings"] = ceilings_for(DeviceProfile.model_validate(manifest.profile), results)
        except Exception as e:  # an unreadable ceilings file must not cost the run its record
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            out["roofline_warnings"].append(f"roofline: no ceilings: {first_line}")
    path = Path(recorded_path(manifest.model.path))  # a name that was not UTF-8 is recorded escaped
    try:
        out["analysis"] = analyze_if_unchanged(path, manifest.model.sha256)  # no TFLM arena: not needed
    except Exception as e:  # a model the static analysis cannot read still gets its latency summary
        out["roofline_warnings"].append(f"roofline: static analysis of {path.name} failed: {e}")
    return out


def summarize_run(manifest: RunManifest, rec: Recorder, analysis=None, ceilings=None, roofline_warnings=()) -> Summary:
    base = Summary(stop_reason=rec.stop_reason, warnings=list(rec.warnings), memory=dict(rec.memory))
    return derive_summary(
        manifest, base, rec.table("samples"), rec.table("telemetry"), rec.table("ops"), analysis, ceilings, roofline_warnings
    )
