"""What a trtexec run puts in a run record: shared by the `trtexec` runner (a live run) and
the ``trtexec`` ingest format (a saved log), so both records read the same.

- samples: one per query of ``--exportTimes`` (TensorRT's own per-query times); the
  sample's latency is the metric `TrtexecResult.sample_metric` names (host ``latency`` =
  H2D + GPU compute + D2H by default, as trtexec's headline figure), its start the
  query's first work on the device (H2D start, else compute start). Start times are on
  the target's CLOCK_MONOTONIC when the runner could anchor trtexec's time origin
  (`clock`), else on trtexec's own origin and the record says so (no energy window then);
- the typed ``trtexec`` result keeps every metric apart: the statistics trtexec printed
  (``printed``) and those of the exported queries (``per_query``) for host latency,
  end-to-end, enqueue, H2D, GPU compute and D2H; metrics the run did not measure
  (``--noDataTransfers``) are listed in ``not_measured``, never stored as 0 s;
- op rows: the per-layer profile (``--exportProfile``, else the ``--dumpProfile`` table):
  mean time per iteration and the number of profiled iterations;
- the engine: built in this run, loaded from the target's cache, or a prebuilt engine
  file (`TrtEngine`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness import stats
from harness.logs.trtexec import TimingStats, TrtexecLog, TrtLayer
from harness.logs.trtexec_json import TrtProfile, TrtTimes
from harness.store.recorder import Recorder
from harness.store.results import AggregateStats, RunnerResult

#: trtexec's metrics, kept apart: name -> what it is
METRICS = {
    "latency": "host latency (H2D + GPU compute + D2H)",
    "end_to_end": "end-to-end host latency",
    "enqueue": "enqueue time",
    "h2d": "host-to-device copy",
    "gpu_compute": "GPU compute time",
    "d2h": "device-to-host copy",
}
#: the metrics a sample's latency can be (the others are not one query's whole time)
SAMPLE_METRICS = ("latency", "gpu_compute", "end_to_end")


class TrtEngine(BaseModel):
    """The engine a run measured and where it came from."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["built", "cache", "prebuilt", "log"] = Field(
        description="built in this run | loaded from the target's engine cache | the model is an engine file | "
                    "as a saved log says")
    path: str | None = None
    key: str | None = Field(None, description="the cache key: a hash of key_fields")
    key_fields: dict[str, Any] = Field(default_factory=dict)
    build_s: float | None = Field(None, description="build time (this run's, or the cached engine's when built)")
    built_at: str | None = None
    size_bytes: float | None = None
    load_s: float | None = Field(None, description="engine file read + deserialisation, as trtexec printed it")


class TrtexecResult(RunnerResult):
    """TensorRT's figures for one trtexec run, every metric kept apart (seconds)."""

    kind: Literal["trtexec"] = "trtexec"
    tensorrt_version: str | None = None
    command: str | None = None
    precision: str | None = None
    dla_core: int | None = None
    #: which metric the samples' latency_ns is (None: the record has no per-query samples)
    sample_metric: str | None = None
    queries: int | None = None
    warmup_queries: int | None = None
    throughput_qps: float | None = None
    throughput_source: str | None = Field(None, description="printed | walltime (TensorRT 7's 0 qps)")
    printed: dict[str, AggregateStats] = Field(default_factory=dict, description="the statistics trtexec printed")
    per_query: dict[str, AggregateStats] = Field(
        default_factory=dict, description="statistics of the --exportTimes queries (harness.stats)")
    not_measured: list[str] = Field(default_factory=list)
    total_host_walltime_s: float | None = None
    total_gpu_compute_s: float | None = None
    engine: TrtEngine | None = None
    profile_iterations: int | None = None
    clock: dict[str, Any] = Field(default_factory=dict, description="how query start times were put on the device clock")
    details: dict[str, Any] = Field(default_factory=dict, description="the tool's option and device blocks, for people")

    stands_for_samples: ClassVar[bool] = True
    off_the_ceilings: ClassVar[str | None] = (
        "a TensorRT engine runs on the GPU or a DLA core; the device's ceilings are its CPU cores'")

    def typical_latency(self) -> tuple[float, str] | None:
        for metric in dict.fromkeys([self.sample_metric or "latency", "latency", "gpu_compute", "end_to_end"]):
            s = self.printed.get(metric)
            if s is not None and s.median_s:
                return s.median_s, f"median {METRICS[metric]} printed by trtexec (no per-query samples)"
            if s is not None and s.mean_s:
                return s.mean_s, f"mean {METRICS[metric]} printed by trtexec (no per-query samples)"
        return None


def _printed(t: TimingStats, count: int | None) -> AggregateStats:
    return AggregateStats(count=count or 0, min_s=t.min_s, max_s=t.max_s, mean_s=t.mean_s, median_s=t.median_s,
                          percentiles={f"p{k}": v for k, v in t.percentiles.items()})


def _per_query(values: list[float]) -> AggregateStats | None:
    finite = [v for v in values if math.isfinite(v)]
    s = stats.summarize(finite)
    if s is None:
        return None
    return AggregateStats(count=s.n, min_s=s.min_s, max_s=s.max_s, mean_s=s.mean_s, std_s=s.std_s,
                          median_s=s.median_s, percentiles={"p90": s.p90_s, "p99": s.p99_s})


def _column(times: TrtTimes, metric: str) -> list[float]:
    return {"latency": times.latency_s, "end_to_end": times.end_to_end_s, "enqueue": times.enqueue_s,
            "h2d": times.h2d_s, "gpu_compute": times.gpu_compute_s, "d2h": times.d2h_s}[metric]


def record_trtexec(
    rec: Recorder,
    log: TrtexecLog,
    times: TrtTimes | None = None,
    profile: TrtProfile | None = None,
    *,
    sample_metric: str = "latency",
    anchor_ns: int | None = None,
    clock: dict[str, Any] | None = None,
    engine: TrtEngine | None = None,
    precision: str | None = None,
) -> TrtexecResult:
    """Put a parsed trtexec log (and its exports) into the recorder; the typed result. `precision`:
    the engine's build precision when known (a run that loads an engine prints its own, unused,
    build options)."""
    if log.tensorrt_version:
        rec.runtime.version = rec.runtime.version or log.tensorrt_version
    if log.engine_load_s is not None:
        rec.phases.load_s = log.engine_load_s
    if log.engine_deserialize_s is not None:
        rec.phases.init_s = log.engine_deserialize_s
    not_measured = list(log.not_measured)
    result = TrtexecResult(
        tensorrt_version=log.tensorrt_version, command=log.command, precision=precision or log.precision, dla_core=log.dla_core,
        queries=log.queries, warmup_queries=log.warmup_queries, throughput_qps=log.throughput_qps,
        throughput_source=log.throughput_source,
        printed={m: _printed(getattr(log, m), log.queries) for m in METRICS if getattr(log, m) is not None},
        not_measured=not_measured, total_host_walltime_s=log.total_host_walltime_s,
        total_gpu_compute_s=log.total_gpu_compute_s, engine=engine, clock=dict(clock or {}),
        details={k: v for k, v in (("options", log.options), ("device", log.device)) if v},
    )
    if times is not None and len(times):
        _samples(rec, result, times, sample_metric, anchor_ns)
    layers, iterations = (profile.layers, profile.iterations) if profile is not None else (log.layers,
                                                                                           log.profile_iterations)
    add_layer_ops(rec, layers, iterations)
    result.profile_iterations = iterations if layers else None
    if log.queries:
        rec.stop_reason = rec.stop_reason or (
            f"trtexec: {log.queries} queries" + (f" over {log.trace_s:g} s" if log.trace_s else "")
            + " (its own --iterations / --duration rule)")
    rec.warnings.extend(log.warnings)
    rec.warnings.extend(f"trtexec warning: {w}" for w in log.tool_warnings.first)
    if log.unrecognised:
        rec.notes.append(f"trtexec log: {log.unrecognised.count} line(s) not understood, kept in raw/ "
                         f"(first: {log.unrecognised.first[0]!r})")
    return rec.set_result(result)


def _samples(rec: Recorder, result: TrtexecResult, times: TrtTimes, metric: str, anchor_ns: int | None) -> None:
    """One sample per exported query, on the device clock when `anchor_ns` places trtexec's origin."""
    if metric not in SAMPLE_METRICS:
        raise ValueError(f"sample metric {metric!r} is not one of {SAMPLE_METRICS}")
    values = _column(times, metric)
    if all(not math.isfinite(v) for v in values):  # an old export without this key: host latency from its parts
        values = [h + c + d for h, c, d in zip(times.h2d_s, times.gpu_compute_s, times.d2h_s)]
        rec.notes.append(f"the export has no {metric} per query: host latency taken as H2D + GPU compute + D2H")
        metric = "latency"
    origin = anchor_ns or 0
    skipped, first, last = 0, None, None
    for i, (lat, h2d_at, compute_at) in enumerate(zip(values, times.h2d_start_s, times.start_s)):
        at = h2d_at if math.isfinite(h2d_at) else compute_at
        if not (math.isfinite(lat) and math.isfinite(at)):
            skipped += 1
            continue
        start_ns = origin + round(at * 1e9)
        latency_ns = round(lat * 1e9)
        phase = "warmup" if i < times.warmup_count else "steady"
        rec.add_sample(iteration=i, phase=phase, start_ns=start_ns, latency_ns=latency_ns)
        if phase == "steady":
            first = start_ns if first is None else first
            last = max(last or 0, start_ns + latency_ns)
    if skipped:
        rec.warnings.append(f"{skipped} exported queries had no {metric} or start time: left out of the samples")
    rec.warnings.extend(times.warnings)
    result.sample_metric = metric
    for m in METRICS:
        if m in result.not_measured:
            continue
        agg = _per_query(_column(times, m))
        if agg is not None:
            result.per_query[m] = agg
    if anchor_ns is not None and first is not None:
        rec.timeline["steady_start_ns"], rec.timeline["steady_end_ns"] = first, last


def add_layer_ops(rec: Recorder, layers: list[TrtLayer], iterations: int | None) -> None:
    """One op row per profiled layer: its mean time per iteration, over `iterations`."""
    for i, layer in enumerate(layers):
        per_iteration = layer.mean_s
        if per_iteration is None and layer.total_s is not None and iterations:
            per_iteration = layer.total_s / iterations
        rec.add_op(index=i, type="", name=layer.name,
                   time_s=per_iteration if per_iteration is not None else float("nan"), count=iterations or 0)
