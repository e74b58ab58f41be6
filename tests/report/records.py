"""Run records written through the real store, with chosen samples and telemetry.

For dashboard tests (hostile names, failed runs, telemetry timelines) and the report
benchmark (a million samples and telemetry points): records as `harness ingest` or a
device farm would leave them, summarised by the real `derive_summary`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from harness.analysis.summary import derive_summary
from harness.profiles import load_profile
from harness.store.record import (
    DeviceRef,
    ErrorInfo,
    ModelRef,
    Phases,
    RunConfig,
    RunManifest,
    RuntimeInfo,
    StopRule,
    Summary,
)
from harness.store.recorder import Recorder
from harness.store.store import RunStore
from harness.digest import sha256_of


def write_run(
    store: RunStore,
    model_name: str,
    *,
    device_name: str | None = None,
    status: str = "ok",
    error: str | None = None,
    samples: int = 500,
    median_s: float = 5e-3,
    telemetry_points: int = 0,
    channels: tuple[str, ...] = ("thermal/cpu", "freq/cpu0", "power/VDD_IN"),
    seed: int = 0,
    analysis=None,
    ceilings=None,
    started: dt.datetime | None = None,
    model_path: Path | None = None,
    device_id: str | None = None,
    threads: int = 2,
    op_times: list[dict] | None = None,
    precision: str = "fp32",
) -> RunManifest:
    """`op_times`: rows of the ops table ({name, type, time_s, count}), as an op-profiling run records them."""
    rng = np.random.default_rng(seed)
    profile = load_profile("local")
    if device_name is not None:
        profile = profile.model_copy(update={"name": device_name})
    if device_id is not None:
        profile = profile.model_copy(update={"id": device_id})
    rec = Recorder(runtime=RuntimeInfo(name="tflite", version="2.3.0", library="ai_edge_litert"))
    t0 = 1_000_000_000_000
    rec.timeline.update(baseline_start_ns=t0 - 300_000_000, workload_start_ns=t0, agent_start_ns=t0,
                        load_start_ns=t0 + 10_000_000, first_start_ns=t0 + 40_000_000)
    rec.phases = Phases(load_s=1e-3, init_s=0.02, first_s=3 * median_s)
    t = t0 + 50_000_000
    for i in range(10):
        rec.add_sample(i, "warmup", t, int(median_s * 1.2e9))
        t += int(median_s * 1.2e9)
    rec.timeline["steady_start_ns"] = t
    lat = (median_s * rng.lognormal(0.0, 0.05, samples) * 1e9).astype(np.int64)
    starts = t + np.concatenate([[0], np.cumsum(lat)[:-1]])
    for i, (s, v) in enumerate(zip(starts.tolist(), lat.tolist())):
        rec.add_sample(10 + i, "steady", s, v)
    t_end = int(starts[-1] + lat[-1]) if samples else t
    rec.timeline["steady_end_ns"] = t_end
    rec.timeline.update(workload_end_ns=t_end + 1_000_000, baseline_end_ns=t_end + 300_000_000)
    if telemetry_points:
        per = max(1, telemetry_points // len(channels))
        times = np.linspace(t0 - 300_000_000, t_end + 300_000_000, per).astype(np.int64).tolist()
        units = {"thermal": ("C", 45.0, 5.0), "freq": ("Hz", 2.4e9, 4e8), "power": ("W", 3.0, 1.0)}
        for ch in channels:
            unit, base, swing = units.get(ch.split("/")[0], ("1", 1.0, 0.1))
            values = (base + swing * np.sin(np.linspace(0, 20, per)) + rng.normal(0, swing / 20, per)).tolist()
            for tt, v in zip(times, values):
                rec.add_telemetry(tt, ch, v, unit)
    for i, op in enumerate(op_times or []):
        rec.add_op(index=i, **op)
    rec.stop_reason = "ci_target_met" if status == "ok" else None
    if status != "ok":
        rec.add_raw("agent_stderr", ["Traceback (most recent call last):", "RuntimeError: <b>bad</b> tensor"])
    started = started or dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seed)
    manifest = RunManifest(
        run_id=store.new_run_id(started, profile.id, model_name),
        status=status,
        error=ErrorInfo(message=error, stage="init", raw_output="raw/") if error else None,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=5),
        device=DeviceRef(id=profile.id, name=profile.name, transport="local"),
        profile=profile.model_dump(mode="json"),
        model=_model_ref(model_name, model_path, seed, precision),
        runtime=rec.runtime,
        config=RunConfig(runtime="tflite", threads=threads, stop=StopRule()),
        harness_version="0.1.0",
        host={"hostname": "test", "platform": "Linux", "python": "3.11"},
        phases=rec.phases,
        timeline=rec.timeline,
        notes=["synthetic record for report tests"],
    )
    base = Summary(stop_reason=rec.stop_reason, warnings=list(rec.warnings))
    manifest.summary = derive_summary(manifest, base, rec.table("samples"), rec.table("telemetry"), rec.table("ops"),
                                      analysis, ceilings)
    store.write(manifest, rec)
    return manifest


def _model_ref(name: str, path: Path | None, seed: int, precision: str = "fp32") -> ModelRef:
    if path is None:
        return ModelRef(name=name, path=f"/nonexistent/{seed}.tflite", sha256="0" * 64, format="tflite",
                        precision=precision, size_bytes=1000)
    return ModelRef(name=name, path=str(path), sha256=sha256_of(path), format=path.suffix.lstrip("."),
                    precision=precision, size_bytes=path.stat().st_size)


def results_dir(tmp: Path) -> RunStore:
    return RunStore(tmp / "results")
