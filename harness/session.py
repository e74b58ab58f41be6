"""One benchmark session: devices × models → run records.

`plan_runs` resolves and checks every device and model before anything runs, so a
typo fails in one line before any device time is spent. `execute` then runs each
planned job: open the transport, gate on temperature, start telemetry, run the
runner, summarise and write the record. A run that fails or is aborted is recorded
with what it measured, its error and the device's raw output; the session goes on
with the next run (or stops, when aborted).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness.analysis.summary import roofline_inputs, summarize_run
from pydantic import ValidationError

from harness.errors import HarnessError, ModelError, RunAborted, describe_validation_error
from harness.models import resolve_model
from harness.profiles import DeviceProfile, load_profile
from harness.runners import runner_for
from harness.runners.base import Progress, RunContext
from harness.store.record import (
    DeviceRef,
    ErrorInfo,
    ModelRef,
    RunConfig,
    RunManifest,
    RuntimeInfo,
    StopRule,
    Summary,
)
from harness.store.recorder import Recorder
from harness.store.store import RunStore
from harness.telemetry.recording import RunTelemetry
from harness.transports import open_transport


@dataclass
class RunOptions:
    """What the user asked for; turned into a `RunConfig` per device."""

    runtime: str | None = None
    threads: int | None = None
    cluster: str | None = None
    delegate: str | None = None
    inputs: str | None = None
    seed: int = 0
    stop: StopRule = field(default_factory=StopRule)
    telemetry: bool = True
    thermal_gate: bool = True
    baseline_s: float = 2.0
    options: dict = field(default_factory=dict)


@dataclass
class PlannedRun:
    profile: DeviceProfile
    model: ModelRef
    model_path: Path
    config: RunConfig


def default_runtime(profile: DeviceProfile, fmt: str) -> str:
    """The runtime for a model format on a device, honouring the profile's default."""
    compatible = {"tflite": ("tflite", "benchmark_model", "tinyml"), "onnx": ("onnx",)}[fmt]
    if profile.defaults.runtime in compatible and profile.defaults.runtime in profile.runtimes:
        return profile.defaults.runtime
    for rt in compatible:
        if rt in profile.runtimes:
            return rt
    raise HarnessError(
        f"device {profile.id!r} has no runtime for {fmt} models (its runtimes: {', '.join(profile.runtimes)})"
    )


_FORMAT_OF_RUNTIME = {"tflite": "tflite", "benchmark_model": "tflite", "tinyml": "tflite", "onnx": "onnx"}


def make_config(profile: DeviceProfile, model: ModelRef, opts: RunOptions) -> RunConfig:
    runtime = opts.runtime or default_runtime(profile, model.format)
    if _FORMAT_OF_RUNTIME.get(runtime) != model.format:
        raise ModelError(f"{model.path}: a {model.format} model cannot run with runtime {runtime!r}")
    if runtime not in profile.runtimes:
        raise HarnessError(
            f"device {profile.id!r} does not have runtime {runtime!r} (its runtimes: {', '.join(profile.runtimes)})"
        )
    # The MCU runner scores MLPerf Tiny windows; say so instead of a rule it does not apply.
    stop = StopRule(mode="tinyml") if runtime == "tinyml" else opts.stop
    cluster = opts.cluster or profile.defaults.cluster
    mask = profile.hardware.cluster(cluster).affinity_mask if cluster else None
    try:
        return RunConfig(
            runtime=runtime,
            threads=opts.threads or profile.defaults.threads,
            cluster=cluster,
            affinity_mask=mask,
            delegate=opts.delegate,
            inputs=opts.inputs,
            seed=opts.seed,
            stop=stop,
            telemetry=opts.telemetry,
            thermal_gate=opts.thermal_gate,
            baseline_s=opts.baseline_s,
            options=dict(opts.options),
        )
    except ValidationError as e:
        raise HarnessError(f"invalid run configuration: {describe_validation_error(e)}") from None


def plan_runs(
    devices: list[str], models: list[str], opts: RunOptions, profile_dirs: list[Path] | None = None
) -> list[PlannedRun]:
    """The cross product of devices and models, every one checked before any runs."""
    if not devices or not models:
        raise HarnessError("give at least one --device and one --model")
    if opts.inputs and not Path(opts.inputs).is_file():
        raise HarnessError(f"{opts.inputs}: no such inputs file")
    profiles = [load_profile(d, profile_dirs) for d in devices]
    resolved = [resolve_model(m) for m in models]
    jobs = [
        PlannedRun(profile, ref, path, make_config(profile, ref, opts))
        for profile in profiles
        for ref, path in resolved
    ]
    for job in jobs:
        runner_for(job.config.runtime, job.profile.transport.kind).check(job.profile, job.config)
    return jobs


def _host_info() -> dict[str, str]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pid": str(os.getpid()),
    }


class _AnyOf:
    """Cancel flag for one run: set when the user aborts or the thermal watchdog trips."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


def run_planned(
    job: PlannedRun,
    store: RunStore,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> RunManifest:
    """Run one job and write its record, whatever happens. Returns the manifest."""
    cancel = cancel or threading.Event()
    started = dt.datetime.now(dt.timezone.utc)
    rec = Recorder(runtime=RuntimeInfo(name=job.config.runtime, delegate=job.config.delegate))
    status, error = "ok", None
    transport = None
    try:
        rec.stage = "connect"
        runner = runner_for(job.config.runtime, job.profile.transport.kind)
        rec.runtime.details["runner"] = runner.name
        transport = open_transport(job.profile)
        with transport:
            tele = RunTelemetry(transport, job.profile, job.config, rec, cancel)
            try:
                tele.before()
                ctx = RunContext(
                    profile=job.profile,
                    transport=transport,
                    model=job.model,
                    model_path=job.model_path,
                    config=job.config,
                    recorder=rec,
                    cancel=_AnyOf(cancel, tele.tripped),
                    progress=progress or (lambda *_: None),
                    pid_file=tele.pid_file,
                )
                runner.run(ctx)
            finally:
                stage = rec.stage
                try:
                    tele.after()
                except HarnessError as e:  # telemetry must not cost the run its record
                    rec.warnings.append(f"telemetry: {e}")
                rec.stage = stage
        if tele.tripped.is_set():
            status, error = "aborted", ErrorInfo(message=f"thermal limit: {tele.trip_reason}", stage=rec.stage)
        elif cancel.is_set():
            status, error = "aborted", ErrorInfo(message="aborted by the user (SIGTERM/SIGINT)", stage=rec.stage)
    except (RunAborted, KeyboardInterrupt):
        cancel.set()  # a library caller without a signal handler: start no further runs either
        status, error = "aborted", ErrorInfo(message="aborted by the user", stage=rec.stage)
    except HarnessError as e:
        status = "aborted" if cancel.is_set() else "failed"
        error = ErrorInfo(message=str(e), stage=rec.stage)
    except Exception as e:  # a bug or an unexpected device reply: record it, keep going
        status = "failed"
        error = ErrorInfo(message=f"{type(e).__name__}: {e}", stage=rec.stage)
        rec.add_raw("harness_traceback", traceback.format_exc().splitlines())
    if transport is not None:  # notes a transport adds while running (e.g. a fallback it had to take)
        rec.notes.extend(n for n in getattr(transport, "notes", []) if n not in rec.notes)
    return write_record(
        store, rec, job.profile, job.model, job.config, status, error, started, dt.datetime.now(dt.timezone.utc)
    )


def write_record(
    store: RunStore,
    rec: Recorder,
    profile: DeviceProfile | None,
    model: ModelRef,
    config: RunConfig,
    status: str,
    error: ErrorInfo | None,
    started: dt.datetime,
    finished: dt.datetime | None,
) -> RunManifest:
    """Turn what a run collected into its manifest and summary, and write the record."""
    if error is not None and rec.raw:
        error.raw_output = "raw/"
    device = (
        DeviceRef(id=profile.id, name=profile.name, transport=profile.transport.kind)
        if profile is not None
        else DeviceRef(id="unknown", name="unknown (no profile given)", transport="unknown")
    )
    manifest = RunManifest(
        run_id=store.new_run_id(started, device.id, model.name),
        status=status,
        error=error,
        started_at=started,
        finished_at=finished,
        device=device,
        profile=profile.model_dump(mode="json") if profile is not None else {},
        model=model,
        runtime=rec.runtime,
        config=config,
        harness_version=harness.__version__,
        host=_host_info(),
        phases=rec.phases,
        conditions=rec.conditions,
        timeline=rec.timeline,
        notes=rec.notes,
    )
    try:
        manifest.summary = summarize_run(manifest, rec, **roofline_inputs(manifest, store.root))
    except Exception as e:  # whatever the analysis trips on, the measured samples are written
        manifest.summary = Summary(stop_reason=rec.stop_reason, warnings=[*rec.warnings, f"summary failed: {e}"])
        rec.add_raw("harness_traceback", traceback.format_exc().splitlines())
    store.write(manifest, rec)
    return manifest


def execute(
    jobs: list[PlannedRun],
    store: RunStore,
    cancel: threading.Event | None = None,
    progress_for: Callable[[PlannedRun], Progress] | None = None,
    on_result: Callable[[RunManifest], None] | None = None,
) -> list[RunManifest]:
    """Run every job in order; stop starting new ones once aborted."""
    cancel = cancel or threading.Event()
    results = []
    for job in jobs:
        if cancel.is_set():
            break
        manifest = run_planned(job, store, cancel, progress_for(job) if progress_for else None)
        results.append(manifest)
        if on_result:
            on_result(manifest)
    return results
