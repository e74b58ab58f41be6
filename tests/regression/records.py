"""Run records of every evidence kind, written through the real store with chosen values.

As a night of a farm, `harness ingest` or an MCU run would leave them: the summary by the
real `derive_summary`, the benchmark key by the real `benchmark_key`, the night in the
``nightly`` tag, the farm's degraded flag in ``farm.degraded``.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from harness.analysis.summary import derive_summary
from harness.profiles import load_profile
from harness.store.benchmark_key import benchmark_key
from harness.store.record import (
    DeviceRef, ErrorInfo, ModelRef, RunConfig, RunManifest, RuntimeInfo, StopRule, Summary,
)
from harness.store.recorder import Recorder
from harness.store.results import (
    AggregateStats, MlperfTinyResult, PhasedResult, TinyWindow, ToolAggregates, WorkloadPhase,
)
from harness.store.store import RunStore

DAY0 = dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.timezone.utc)


def night_name(i: int) -> str:
    return (DAY0 + dt.timedelta(days=i)).date().isoformat()


def write(
    store: RunStore,
    *,
    model: str = "kws01-int8",
    device: str = "rpi5",
    kind: str = "samples",  # samples | windows | aggregates | phases
    level: float = 1e-3,  # seconds per inference (phases: prefill tokens/s; decode = level / 10)
    sd: float = 0.03,
    n: int = 200,
    seed: int = 0,
    night: int | None = 0,  # tagged nightly=<date of night i>; None: no tag (the start date is the night)
    started: dt.datetime | None = None,
    metadata: dict[str, str] | None = None,
    status: str = "ok",
    runtime_version: str = "2.14",
    threads: int = 2,
    deterministic: bool = False,
    decode_level: float | None = None,
) -> RunManifest:
    rng = np.random.default_rng(seed)
    profile = load_profile("local").model_copy(update={"id": device, "name": device})
    rec = Recorder(runtime=RuntimeInfo(name="tflite", version=runtime_version, library="ai_edge_litert"))
    started = started or DAY0 + dt.timedelta(days=night or 0, seconds=seed % 3600)
    t = 1_000_000_000
    if kind in ("samples", "windows"):
        count, inferences = (n, 1) if kind == "samples" else (5, 100)
        values = level * np.exp(rng.normal(0, sd, count)) if not deterministic else np.full(count, level)
        for i, v in enumerate(values):
            rec.add_sample(i, "steady", t, int(round(v * 1e9)), inferences)
            t += int(v * 1e9 * inferences)
        if kind == "windows":
            rec.set_result(MlperfTinyResult(windows=[
                TinyWindow(window=i, phase="steady", inferences=inferences, elapsed_s=float(v) * inferences,
                           latency_s=float(v)) for i, v in enumerate(values)]))
            if deterministic:
                rec.runtime.details["icount_shift"] = 3
    elif kind == "aggregates":
        x = level * np.exp(rng.normal(0, sd, n))
        rec.set_result(ToolAggregates(source="benchmark_model", steady=AggregateStats(
            count=n, mean_s=float(x.mean()), std_s=float(x.std(ddof=1)), min_s=float(x.min()), max_s=float(x.max()))))
    elif kind == "phases":
        phases = []
        for name, units, mean in (("prefill", 512, level), ("decode", 128, decode_level or level / 10)):
            rates = mean * np.exp(rng.normal(0, sd, 5))
            phases.append(WorkloadPhase(name=name, unit="token", units=units, repetitions=5,
                                        rate_per_s=float(rates.mean()), rate_std_per_s=float(rates.std(ddof=1))))
        rec.set_result(PhasedResult(source="llama-bench", phases=phases))
    else:
        raise ValueError(kind)
    meta = dict(metadata or {})
    if night is not None:
        meta.setdefault("nightly", night_name(night))
    manifest = RunManifest(
        run_id=store.new_run_id(started, device, model),
        status=status,
        error=ErrorInfo(message="boom", stage="run", kind="runtime_error", transient=False) if status != "ok" else None,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=5),
        device=DeviceRef(id=device, name=device, transport="ssh"),
        profile=profile.model_dump(mode="json"),
        model=ModelRef(name=model, path=f"/models/{model}.tflite", sha256=hashlib.sha256(model.encode()).hexdigest(),
                       format="tflite", precision="int8", size_bytes=1000),
        runtime=rec.runtime,
        config=RunConfig(runtime="tflite", threads=threads, stop=StopRule()),
        harness_version="0.1.0",
        host={"hostname": "test", "platform": "Linux", "python": "3.11"},
        results=list(rec.results),
        metadata=meta,
    )
    manifest.benchmark_key, manifest.benchmark_key_fields = benchmark_key(manifest)
    manifest.summary = derive_summary(manifest, Summary(), rec.table("samples"), rec.table("telemetry"),
                                      rec.table("ops"), None, None)
    store.write(manifest, rec)
    return manifest


def nights(store: RunStore, model: str, values: list[float], *, runs: int = 3, sd: float = 0.01, seed: int = 0,
           **kw) -> list[RunManifest]:
    """`runs` runs a night, night i at level values[i]."""
    out = []
    for i, level in enumerate(values):
        for r in range(runs):
            out.append(write(store, model=model, level=level, sd=sd, night=i, seed=seed + 100 * i + r, n=50, **kw))
    return out
