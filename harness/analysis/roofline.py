"""Roofline math: where a model (and each of its operators) sits against a device's ceilings.

Pure functions over numbers; no files, no devices.

- arithmetic intensity AI = ops / bytes moved;
- attainable performance = min(peak, AI × bandwidth); ridge point = peak / bandwidth;
- an op (or model) left of the ridge (AI < ridge) is memory-bound, right of it compute-bound;
- efficiency = achieved ops/s ÷ attainable ops/s. Above 1 the ceilings are too low (measured
  on a busy target, or a roof the model's data does not stream from): the efficiency is then
  withheld (`ceiling_too_low`, the ratio kept as `efficiency_raw`), never shown as a number.

The memory roof a model is judged against follows its working set (`roof_for`): the
innermost cache level holding its weights and peak live activations, the reason kept in
`level_reason`.

Byte convention (from the static analysis): every op reads its inputs and weights and
writes its outputs (`bytes_read + bytes_written`), with no reuse between ops assumed; the
model's bytes are the sum over its ops. With that convention the per-op lower bound
Σ max(Fᵢ/P, Bᵢ/BW) is always ≥ the whole-model bound max(ΣF/P, ΣB/BW): the gap is
the time a whole-model roofline hides (a memory-bound op cannot borrow the compute
headroom of a compute-bound one).

`run_roofline` builds the dict stored in a run's `Summary.roofline`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

BYTES_CONVENTION = "per op: weights + inputs read + outputs written (no reuse between ops); model = sum over ops"


@dataclass(frozen=True)
class Roof:
    """One compute ceiling and one bandwidth ceiling."""

    peak_ops_per_s: float
    bandwidth_bytes_per_s: float

    def __post_init__(self) -> None:
        if not (self.peak_ops_per_s > 0 and self.bandwidth_bytes_per_s > 0):
            raise ValueError(f"ceilings must be positive (peak {self.peak_ops_per_s}, bandwidth {self.bandwidth_bytes_per_s})")

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (ops/byte) where the two ceilings meet."""
        return self.peak_ops_per_s / self.bandwidth_bytes_per_s

    def attainable(self, ai: float) -> float:
        return min(self.peak_ops_per_s, ai * self.bandwidth_bytes_per_s)

    def bound(self, ai: float) -> str:
        return "memory" if ai < self.ridge else "compute"

    def min_time_s(self, ops: float, nbytes: float) -> float:
        """Shortest time the ceilings allow for this work."""
        return max(ops / self.peak_ops_per_s, nbytes / self.bandwidth_bytes_per_s)


def intensity(ops: float, nbytes: float) -> float:
    """Ops per byte; inf for work that moves no bytes, nan for no work at all."""
    if nbytes > 0:
        return ops / nbytes
    return math.inf if ops > 0 else math.nan


@dataclass(frozen=True)
class OpCost:
    """One operator: static work and, when the runtime could tell, its measured time."""

    index: int
    name: str
    type: str
    flops: float
    bytes: float
    time_s: float = math.nan  # mean time per inference; nan when not measured


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def point(ops: float, nbytes: float, time_s: float | None, roof: Roof) -> dict[str, Any]:
    """AI, attainable, achieved, efficiency and bound type of one piece of work."""
    ai = intensity(ops, nbytes)
    out: dict[str, Any] = {"flops": float(ops), "bytes": float(nbytes), "arithmetic_intensity": _finite(ai)}
    if math.isnan(ai):
        out.update(attainable_ops_per_s=None, bound=None, achieved_ops_per_s=None, efficiency=None)
        return out
    attainable = roof.attainable(ai)
    out["attainable_ops_per_s"] = attainable
    out["bound"] = roof.bound(ai)
    out["min_time_s"] = roof.min_time_s(ops, nbytes)
    achieved = ops / time_s if time_s is not None and time_s > 0 and math.isfinite(time_s) else None
    out["achieved_ops_per_s"] = achieved
    efficiency = achieved / attainable if achieved is not None and attainable > 0 else None
    if efficiency is not None and efficiency > 1.0:  # faster than the roof allows: the roof is wrong
        out.update(efficiency=None, efficiency_raw=efficiency, ceiling_too_low=True)
    else:
        out["efficiency"] = efficiency
    return out


def op_points(ops: Iterable[OpCost], roof: Roof) -> list[dict[str, Any]]:
    """Per-op points; `time_share` is the op's share of the measured op time (sizes the marker)."""
    ops = list(ops)
    total_t = sum(o.time_s for o in ops if math.isfinite(o.time_s) and o.time_s > 0)
    points = []
    for o in ops:
        p = point(o.flops, o.bytes, o.time_s if math.isfinite(o.time_s) else None, roof)
        measured = math.isfinite(o.time_s) and o.time_s >= 0
        p.update(
            index=o.index,
            name=o.name,
            type=o.type,
            time_s=o.time_s if measured else None,
            time_share=(o.time_s / total_t) if measured and total_t > 0 else None,
        )
        points.append(p)
    return points


CEILING_TOO_LOW = "ceiling too low: re-measure"


def ceiling_too_low(point: Mapping[str, Any]) -> bool:
    """A run (or op) faster than the roof it is judged against. Records written before the
    efficiency was withheld kept the ratio itself: above 1 reads the same."""
    eff = point.get("efficiency")
    return bool(point.get("ceiling_too_low")) or (eff is not None and eff > 1.0)


def memory_bound_share(points: list[dict[str, Any]], weight: str) -> float | None:
    """Share of `weight` (``time_s`` measured, or ``min_time_s`` modelled) spent in memory-bound ops."""
    total = mem = 0.0
    for p in points:
        w = p.get(weight)
        if w is None or p.get("bound") is None or not math.isfinite(w):
            continue
        total += w
        if p["bound"] == "memory":
            mem += w
    return mem / total if total > 0 else None


def run_roofline(
    ops: list[OpCost],
    median_s: float | None,
    roof: Roof,
    *,
    dtype: str,
    level: str,
    bandwidths: Mapping[str, float] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary's roofline: whole-model point, per-op points (when timed), bounds and shares.

    `ops` are every op of the model with its static FLOPs/bytes (and measured time where
    known); `median_s` is the steady-state median latency per inference; `roof` the ceilings
    for the model's dtype at memory `level`; `bandwidths` every measured level, for the
    attainable performance against each.
    """
    total_f = float(sum(o.flops for o in ops))
    total_b = float(sum(o.bytes for o in ops))
    whole = point(total_f, total_b, median_s, roof)
    pts = op_points(ops, roof)
    timed = [p for p in pts if p["time_s"] is not None]
    per_op_bound = float(sum(p["min_time_s"] for p in pts if p.get("min_time_s") is not None))
    out: dict[str, Any] = {
        "dtype": dtype,
        "level": level,
        "peak_ops_per_s": roof.peak_ops_per_s,
        "bandwidth_bytes_per_s": roof.bandwidth_bytes_per_s,
        "ridge_point": roof.ridge,
        "bytes_convention": BYTES_CONVENTION,
        **{k: v for k, v in whole.items() if k not in ("flops", "bytes")},
        "flops": total_f,
        "bytes": total_b,
        "median_s": median_s,
        # whole-model bound vs the per-op sum: the per-op sum is never smaller
        "model_min_time_s": whole.get("min_time_s"),
        "per_op_min_time_s": per_op_bound,
        "memory_bound_time_share_modelled": memory_bound_share(pts, "min_time_s"),
        "memory_bound_time_share": memory_bound_share(timed, "time_s") if timed else None,
        "n_ops": len(pts),
        "n_ops_timed": len(timed),
        "ops": pts,
    }
    if timed:
        t_ops = sum(p["time_s"] for p in timed)
        out["op_time_s"] = t_ops
    if bandwidths:
        ai = whole["arithmetic_intensity"]
        out["attainable_by_level"] = {
            lvl: (min(roof.peak_ops_per_s, ai * bw) if ai is not None else None) for lvl, bw in bandwidths.items()
        }
    if context:
        out.update(context)
    return out


# -- joining static counts with measured op times -------------------------------------------

# Suffixes onnxruntime gives nodes it rewrote (NCHWc layout: named after the output tensor).
_RUNTIME_SUFFIXES = ("_nchwc", "_fused", "_kernel_time")


def join_op_times(static_ops: list, measured: list[dict]) -> tuple[list[OpCost], dict[str, Any]]:
    """OpCosts from static ops (index, name, type, flops, bytes_read, bytes_written[, outputs])
    and measured op times ({name, type, time_s}), matched by name.

    A measured name is a static op's name, or (onnxruntime's NCHWc rewrite) the name of
    the tensor a fused group of ops produces, possibly with a suffix. A fused group's time
    goes to the op with most FLOPs among the unmatched ops that end at that tensor (the
    conv, not its fused ReLU); ops fused away keep no time of their own. Measured entries
    matching nothing (layout reorders…) are reported as unattributed time.
    """
    ops = sorted(static_ops, key=lambda o: o.index)
    by_name = {o.name: i for i, o in enumerate(ops) if o.name}
    producer = {}
    for i, o in enumerate(ops):
        for t in getattr(o, "outputs", None) or ():
            producer[t] = i
    exact: dict[int, float] = {}
    by_tensor: list[tuple[int, float]] = []
    unattributed = 0.0
    unmatched_names = []
    for m in measured:
        t = m.get("time_s")
        if t is None or not math.isfinite(t):
            continue
        name = m.get("name") or ""
        if name in by_name:
            exact[by_name[name]] = exact.get(by_name[name], 0.0) + t
            continue
        candidates = [name] + [name[: -len(s)] for s in _RUNTIME_SUFFIXES if name.endswith(s)]
        hit = next((c for c in candidates if c in by_name or c in producer), None)
        if hit is None:
            unattributed += t
            unmatched_names.append(name)
        elif hit in by_name:
            exact[by_name[hit]] = exact.get(by_name[hit], 0.0) + t
        else:
            by_tensor.append((producer[hit], t))
    times: dict[int, float] = dict(exact)
    claimed = set(exact)
    for end, t in sorted(by_tensor):
        group = [end]
        i = end - 1
        while i >= 0 and i not in claimed and i not in {e for e, _ in by_tensor}:
            group.append(i)
            i -= 1
        rep = max(group, key=lambda j: (ops[j].flops, -j))
        times[rep] = times.get(rep, 0.0) + t
        claimed.update(group)
    costs = [
        OpCost(
            index=int(o.index),
            name=o.name or "",
            type=o.type or "",
            flops=float(o.flops or 0.0),
            bytes=float((o.bytes_read or 0.0) + (o.bytes_written or 0.0)),
            time_s=times.get(i, math.nan),
        )
        for i, o in enumerate(ops)
    ]
    total = sum(times.values()) + unattributed
    info = {
        "op_time_matched_s": sum(times.values()),
        "op_time_unattributed_s": unattributed,
        "op_time_unattributed_share": unattributed / total if total > 0 else None,
        "unattributed_ops": unmatched_names[:20],
    }
    return costs, info


# Per-op times from fewer profiling iterations than this are labelled as few.
FEW_OP_PROFILE_ITERATIONS = 30


def op_time_provenance(measured_ops: list[dict], median_s: float | None, op_time_s: float | None) -> dict[str, Any]:
    """Where the per-op times come from: the invocations each op was timed over (median over
    ops), whether that is few, and how their sum compares with the run's median latency."""
    counts = sorted(int(m["count"]) for m in measured_ops
                    if m.get("count") and m.get("time_s") is not None and math.isfinite(m["time_s"]))
    iterations = counts[len(counts) // 2] if counts else None
    out: dict[str, Any] = {
        "op_profile_iterations": iterations,
        "op_profile_few": iterations is not None and iterations < FEW_OP_PROFILE_ITERATIONS,
        "op_time_source": (f"mean per op over {iterations} profiling iteration(s), in a profiling pass of its own "
                           "after the timed run" if iterations else "per-op times as the runtime reported them"),
    }
    if op_time_s and median_s:
        out["op_time_to_median"] = op_time_s / median_s
    return out


def summarize_roofline(
    precision: str,
    median_s: float | None,
    measured_ops: list[dict],
    analysis: Any | None,
    ceilings: Any | None,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """The run summary's roofline from a model's static analysis and the device's ceilings.

    `analysis` is a `harness.analysis.static.ModelAnalysis` (its `.ops`); `ceilings` a
    `harness.analysis.ceilings.Ceilings`; `measured_ops` the run's op times (rows of the
    ops table). None when either input is missing or no ceiling fits the model's dtype.
    """
    from harness.analysis.ceilings import roof_for

    if analysis is None or ceilings is None:
        return None
    footprint = getattr(analysis, "weight_bytes", None)
    live = getattr(getattr(analysis, "activation_bytes", None), "peak_live", None)
    if footprint is not None and live is not None:
        footprint += live
    run_threads = threads or ceilings.threads
    roof = roof_for(ceilings, precision, footprint, run_threads)
    if roof is None:
        return None
    dtype, level = roof.dtype, roof.level
    costs, match = join_op_times(list(analysis.ops), measured_ops)
    notes = []
    if ceilings.threads and threads and threads != ceilings.threads:
        notes.append(f"run used {threads} thread(s); ceilings were measured with {ceilings.threads}")
    if ceilings.compute_dtype(precision) != (precision or "").lower():
        notes.append(f"model precision {precision!r} judged against the {dtype} peak")
    busy = ceilings.busy_reasons()
    context = {
        "footprint_bytes": footprint,
        "footprint_level": ceilings.level_holding(footprint, run_threads) if footprint else None,
        "level_reason": roof.reason,
        "ceilings_method": ceilings.method,
        "ceilings_measured_at": ceilings.measured_at.isoformat() if ceilings.measured_at else None,
        "ceilings_source": ceilings.sources.get(dtype),
        "ceilings_threads": ceilings.threads,
        "ceilings_busy": busy,
        "notes": notes,
    }
    if any(math.isfinite(c.time_s) for c in costs) or match["op_time_unattributed_s"]:
        context.update(match)
    out = run_roofline(costs, median_s, Roof(roof.peak_ops_per_s, roof.bandwidth_bytes_per_s), dtype=dtype,
                       level=level, bandwidths=ceilings.bandwidth_bytes_per_s, context=context)
    if out["n_ops_timed"]:
        out.update(op_time_provenance(measured_ops, median_s, out.get("op_time_s")))
    if out.get("ceiling_too_low"):
        roof_name = f"the {dtype} peak" if out["bound"] == "compute" else f"the {level} bandwidth roof"
        why = (f"they were measured while the target was busy ({'; '.join(busy)})" if busy else
               "measured on a busy target, or the runtime beats the probe's kernel" if out["bound"] == "compute" else
               "data reused in a cache nearer than the model's footprint suggests, or measured on a busy target")
        notes.append(f"ceiling too low: achieved {out['efficiency_raw']:.0%} of {roof_name} ({why}); "
                     f"re-measure with `harness ceilings --device {ceilings.device} --remeasure` on a quiet target")
    elif busy:
        notes.append(f"ceilings measured while the target was busy ({'; '.join(busy)}): efficiencies may read high")
    return out
