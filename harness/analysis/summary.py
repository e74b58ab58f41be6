"""A run's summary, derived only from its raw tables and configuration.

`derive_summary` is a pure function of a manifest and its tables, so a stored run
can be re-summarised and every figure traced back to raw samples.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harness import stats
from harness.store.record import RunManifest, Summary
from harness.store.recorder import Recorder


def steady_latencies(samples: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(seconds per inference, inferences) of the steady-state samples, in order."""
    steady = samples.filter(pc.equal(samples["phase"], "steady"))
    lat = steady["latency_ns"].to_numpy().astype(float) / 1e9
    return lat, steady["inferences"].to_numpy()


def derive_summary(manifest: RunManifest, base: Summary, samples: pa.Table, telemetry: pa.Table, ops: pa.Table) -> Summary:
    summary = base.model_copy(deep=True)
    lat, counts = steady_latencies(samples)
    summary.latency = stats.summarize(lat, counts)
    if summary.latency is not None:
        total_s = float((lat * counts).sum())
        summary.throughput_per_s = float(counts.sum()) / total_s if total_s > 0 else None
        summary.warnings += stats.stability_warnings(lat, summary.latency, manifest.config.stop, summary.stop_reason)
    elif manifest.status == "ok" and summary.aggregates is None:
        summary.warnings.append("no steady-state samples")
    return summary


def summarize_run(manifest: RunManifest, rec: Recorder) -> Summary:
    base = Summary(
        stop_reason=rec.stop_reason,
        warnings=list(rec.warnings),
        memory=dict(rec.memory),
        aggregates=rec.aggregates,
    )
    return derive_summary(manifest, base, rec.table("samples"), rec.table("telemetry"), rec.table("ops"))
