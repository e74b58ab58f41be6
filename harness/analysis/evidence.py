"""What a run record offers a regression verdict: its measures, each with its kind of evidence.

A run is compared on one or more *measures*. Most runs have one: the latency per
inference. A multi-phase workload (an LLM: prefill and decode) has one per phase, each
judged on its own, in its own unit and direction (tokens/s: higher is better). A
measure is named by the run's ``benchmark_key``, plus ``/`` and the phase for phases:
``3fa2…e1/decode tg128``.

Where the figures come from, most specific first:

| the record holds | measure | evidence (`harness.analysis.regression.Side`) | history value |
|---|---|---|---|
| MLPerf Tiny windows (``mlperf_tiny``, measurable steady windows) | latency | ``windows``, deterministic when the board is QEMU ``-icount`` | median of the windows |
| steady-state samples (``samples`` table, phase ``steady``) | latency | ``samples``: seconds per inference, in order | the run's median |
| only a tool's statistics (``tool_aggregates``: ingested benchmark_model) | latency | ``aggregates``: (mean, std, n) of the steady state | what the tool reports (median, else mean) |
| phases (``phases`` and its subclasses, e.g. ``llm``) | one per phase | ``aggregates`` of the rate (mean, std over repetitions, repetitions), higher is better; without a rate, of the seconds per repetition | the phase's rate (or time) |

Only runs whose status is ``ok`` are evidence: a failed, aborted or incomplete run is
absent (its figures may stop half way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from harness.analysis.regression import Aggregate, Side
from harness.store.record import RunManifest
from harness.store.results import MlperfTinyResult, PhasedResult, ToolAggregates, WorkloadPhase
from harness.store.store import StoredRun

Kind = Literal["samples", "windows", "aggregates"]


@dataclass(frozen=True)
class Measure:
    """One comparable figure of one run (values in SI: seconds, or units per second)."""

    phase: str  # "" for the latency per inference; else the phase's label ("decode tg128")
    kind: Kind
    typical: float  # the run's one figure for a history (median; mean or reported value for aggregates)
    unit: str  # "s" or e.g. "token/s"
    higher_is_better: bool = False
    values: tuple[float, ...] = ()  # samples: seconds per inference in order; windows: per window
    aggregate: Aggregate | None = None
    deterministic: bool = False

    def side(self, label: str = "") -> Side:
        """This one run as a comparison side."""
        return sides([self], label)


def measure_key(benchmark_key: str | None, phase: str) -> str:
    base = benchmark_key or "no-key"
    return f"{base}/{phase}" if phase else base


def usable(m: RunManifest) -> bool:
    """A run that is evidence at all: finished ``ok``."""
    return m.status == "ok"


def typical_measures(m: RunManifest) -> list[Measure]:
    """The run's measures with their typical value only (no table read): for histories."""
    return _measures(m, None)


def run_measures(run: StoredRun) -> list[Measure]:
    """The run's measures with every value a comparison needs (reads its samples table)."""
    return _measures(run.manifest, run)


def sides(measures: list[Measure], label: str = "") -> Side:
    """Several runs' measures of one key as one side (the weaker kind when they differ)."""
    kinds = {m.kind for m in measures}
    if "aggregates" in kinds:
        return Side.aggregates([_as_aggregate(m) for m in measures], label)
    if kinds == {"windows"}:
        return Side.windows([m.values or (m.typical,) for m in measures],
                            all(m.deterministic for m in measures), label)
    return Side.samples([m.values or (m.typical,) for m in measures], label)


# --------------------------------------------------------------------------- internals


def _measures(m: RunManifest, run: StoredRun | None) -> list[Measure]:
    if not usable(m):
        return []
    out: list[Measure] = []
    latency = _windows(m) or _samples(m, run) or _aggregates(m)
    if latency is not None:
        out.append(latency)
    phased = m.result(PhasedResult)
    if phased is not None:
        seen: set[str] = set()
        for p in phased.phases:
            label = str(getattr(p, "label", p.name))
            if label in seen:  # two points with one label: only the first is comparable
                continue
            seen.add(label)
            measure = _phase(p, label)
            if measure is not None:
                out.append(measure)
    return out


def _windows(m: RunManifest) -> Measure | None:
    tiny = m.result(MlperfTinyResult)
    if tiny is None:
        return None
    lat = [w.latency_s if w.latency_s else w.elapsed_s / w.inferences for w in tiny.windows
           if w.phase == "steady" and w.measurable and w.inferences > 0 and w.elapsed_s > 0]
    if not lat:
        return None
    deterministic = "icount_shift" in m.runtime.details  # QEMU -icount: instruction counts, not wall time
    return Measure("", "windows", float(np.median(lat)), "s", values=tuple(lat), deterministic=deterministic)


def _samples(m: RunManifest, run: StoredRun | None) -> Measure | None:
    lat = m.summary.latency
    if lat is None or not lat.n or not math.isfinite(lat.median_s) or lat.median_s <= 0:
        return None
    values: tuple[float, ...] = ()
    if run is not None:
        from harness.analysis.summary import steady_latencies

        seconds, _ = steady_latencies(run.samples)
        values = tuple(float(v) for v in seconds if v > 0)
        if not values:
            return None
    return Measure("", "samples", float(lat.median_s), "s", values=values)


def _aggregates(m: RunManifest) -> Measure | None:
    tool = m.result(ToolAggregates)
    if tool is None:
        return None
    steady = tool.steady
    mean = (steady.mean_s if steady is not None else None) or tool.inference_mean_s
    typical = tool.typical_latency()
    if not mean or mean <= 0 or typical is None:
        return None
    std = steady.std_s if steady is not None and steady.std_s is not None else 0.0
    n = steady.count if steady is not None and steady.count else 1
    return Measure("", "aggregates", float(typical[0]), "s", aggregate=Aggregate(float(mean), float(std), int(n)))


def _phase(p: WorkloadPhase, label: str) -> Measure | None:
    reps = p.repetitions or (p.time_s.count if p.time_s is not None else None) or 1
    if p.rate_per_s and p.rate_per_s > 0:
        unit = f"{p.unit}/s"
        agg = Aggregate(float(p.rate_per_s), float(p.rate_std_per_s or 0.0), int(reps))
        return Measure(label, "aggregates", agg.mean, unit, higher_is_better=True, aggregate=agg)
    t = p.time_s
    if t is not None and t.mean_s and t.mean_s > 0:
        agg = Aggregate(float(t.mean_s), float(t.std_s or 0.0), int(t.count or reps))
        return Measure(label, "aggregates", float(t.median_s or t.mean_s), "s", aggregate=agg)
    return None


def _as_aggregate(m: Measure) -> Aggregate:
    if m.aggregate is not None:
        return m.aggregate
    v = np.asarray(m.values, dtype=float)
    if v.size == 0:  # a typical-only measure: one value
        return Aggregate(m.typical, 0.0, 1)
    return Aggregate(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, int(v.size))
