"""A run record as Chrome trace-event JSON, for ui.perfetto.dev or chrome://tracing.

Layout (one process per run):

- thread 1 "phases": the cold phases (load, init, first inference) and the
  steady-state and baseline windows, as complete ("X") slices;
- thread 2 "inferences": one slice per row of the record's ``samples`` table (a row
  covering N inferences timed together, as on MCUs, is one slice of N × latency);
- one counter ("C") track per telemetry channel, its unit as the series name.

Times are the device clock (CLOCK_MONOTONIC) in µs, relative to the earliest time in
the record (kept in ``otherData.clock_origin_ns``), so numbers stay small and exact.
Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from harness.store.atomic import write_atomic
from harness.store.record import RunManifest
from harness.store.store import RunStore

PID = 1
PHASES_TID, INFERENCES_TID = 1, 2
_COLD = ("load", "init", "first")
_WINDOWS = (("steady state", "steady_start_ns", "steady_end_ns"),
            ("baseline (before)", "baseline_start_ns", "workload_start_ns"),
            ("baseline (after)", "workload_end_ns", "baseline_end_ns"))


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if table.num_rows else []


def to_trace_events(manifest: RunManifest, samples: pa.Table, telemetry: pa.Table) -> dict:
    """Trace-event JSON (as a dict) of one run."""
    tl = manifest.timeline
    starts, lats, ns, iters, phases = (_col(samples, c) for c in ("start_ns", "latency_ns", "inferences", "iteration", "phase"))
    t_tel = _col(telemetry, "t_ns")
    cold = [(name, tl.get(f"{name}_start_ns"), getattr(manifest.phases, f"{name}_s")) for name in _COLD]
    candidates = [t for t in (*starts, *t_tel, *tl.values()) if t is not None]
    origin = min(candidates) if candidates else 0

    def us(t_ns: int) -> float:
        return (t_ns - origin) / 1000

    label = f"{manifest.model.name} on {manifest.device.id} ({manifest.runtime.name})"
    events: list[dict] = [
        {"ph": "M", "name": "process_name", "pid": PID, "tid": 0, "args": {"name": label}},
        {"ph": "M", "name": "thread_name", "pid": PID, "tid": PHASES_TID, "args": {"name": "phases"}},
        {"ph": "M", "name": "thread_name", "pid": PID, "tid": INFERENCES_TID, "args": {"name": "inferences"}},
    ]
    body: list[dict] = []
    for name, start, dur_s in cold:
        if start is not None and dur_s is not None:
            body.append({"ph": "X", "name": name, "cat": "cold", "pid": PID, "tid": PHASES_TID,
                         "ts": us(start), "dur": dur_s * 1e6})
    for name, a, b in _WINDOWS:
        if a in tl and b in tl and tl[b] >= tl[a]:
            body.append({"ph": "X", "name": name, "cat": "window", "pid": PID, "tid": PHASES_TID,
                         "ts": us(tl[a]), "dur": (tl[b] - tl[a]) / 1000})
    for it, ph, start, lat, n in zip(iters, phases, starts, lats, ns):
        name = f"{ph} {it}" if n == 1 else f"{ph} {it} ({n} inferences)"
        body.append({"ph": "X", "name": name, "cat": ph, "pid": PID, "tid": INFERENCES_TID,
                     "ts": us(start), "dur": lat * n / 1000,
                     "args": {"iteration": it, "latency_ns": lat, "inferences": n}})
    for t, ch, v, unit in zip(t_tel, _col(telemetry, "channel"), _col(telemetry, "value"), _col(telemetry, "unit")):
        if v == v:  # NaN is no reading
            body.append({"ph": "C", "name": ch, "pid": PID, "ts": us(t), "args": {unit or "value": v}})
    body.sort(key=lambda e: e["ts"])
    return {
        "traceEvents": events + body,
        "displayTimeUnit": "ms",
        "otherData": {
            "run_id": manifest.run_id, "status": manifest.status, "device": manifest.device.id,
            "model": manifest.model.name, "runtime": manifest.runtime.name,
            "clock": "device CLOCK_MONOTONIC", "clock_origin_ns": origin,
        },
    }


def write_trace(run_id: str, output: Path, results: Path | str | None = None) -> Path:
    """Load a run from the store and write its trace to `output` (atomically)."""
    run = RunStore(results).load(run_id)
    trace = to_trace_events(run.manifest, run.samples, run.telemetry)
    return write_atomic(output, json.dumps(trace, separators=(",", ":"), allow_nan=False))
