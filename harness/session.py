"""One benchmark session: devices × models → run records.

`plan_runs` resolves and checks every device and model before anything runs, so a
typo fails in one line before any device time is spent: every check the runners'
declarations imply (`harness.runners.registry.check_plan`: format, transport capability,
stop mode, delegate, options), plus ``--threads`` ≥ 1. A device or model named twice runs
once (the plan's `notes` say so). `execute` then runs each
planned job: open the transport, gate on temperature, start telemetry, run the
runner, summarise and write the record. A run that fails or is aborted is recorded
with what it measured, its error (with its failure kind and whether it is transient, see
`harness.errors`) and the device's raw output; the session goes on with the next run (or
stops, when aborted). Every record gets the run's metadata (``--tag``, `RunOptions.metadata`)
and its benchmark key (`harness.store.benchmark_key`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness.device_lock import DeviceLock
from harness.errors import DeviceBusy, HarnessError, RunAborted, describe_validation_error, failure_kind
from harness.models import resolve_model
from harness.profiles import DeviceProfile, load_profile
from harness.records import error_info as _error
from harness.records import finish_record, run_start, write_record
from harness.runners.base import Progress, RunContext, Runner
from harness.runners.registry import check_plan, default_runtime, runner_for
from harness.store.record import ModelRef, RunConfig, RunManifest, RuntimeInfo, StopRule
from harness.store.recorder import Recorder
from harness.store.store import RecordWriteError, RunStore
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
    #: the whole stopping rule; None: each runner's own (`Runner.default_stop`) with `stop_fields` on top
    stop: StopRule | None = None
    #: StopRule fields the user gave (``mode`` included when given): applied to the runner's default
    stop_fields: dict = field(default_factory=dict)
    telemetry: bool = True
    thermal_gate: bool = True
    baseline_s: float = 2.0
    #: runner options (``-o KEY=VALUE``): every planned run's runner must know every key
    options: dict = field(default_factory=dict)
    #: options from dedicated flags, option -> (flag, value): given to the runners that
    #: have the option; refused when no planned run's runner has it
    flag_options: dict[str, tuple[str, object]] = field(default_factory=dict)
    #: free key/value strings recorded with every run (``--tag``; a farm's build or nightly id)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class PlannedRun:
    profile: DeviceProfile
    model: ModelRef
    model_path: Path
    config: RunConfig
    metadata: dict[str, str] = field(default_factory=dict)


class Plan(list):
    """The planned runs, in order; `notes` says what planning changed (duplicates dropped)."""

    def __init__(self, jobs=(), notes: list[str] | None = None):
        super().__init__(jobs)
        self.notes = notes or []


def make_config(profile: DeviceProfile, model: ModelRef, opts: RunOptions) -> RunConfig:
    """The run's configuration, checked against its runner's declarations."""
    if opts.threads is not None and opts.threads < 1:
        raise HarnessError(f"--threads must be at least 1 (got {opts.threads})")
    runtime = opts.runtime or default_runtime(profile, model.format)
    runner = runner_for(runtime)
    raw_options = {k: v for k, (_flag, v) in opts.flag_options.items() if k in runner.Options.model_fields}
    raw_options.update(opts.options)
    options = runner.parse_options(raw_options)
    cluster = opts.cluster or profile.defaults.cluster
    mask = profile.hardware.cluster(cluster).affinity_mask if cluster else None
    try:
        config = RunConfig(
            runtime=runtime,
            threads=opts.threads if opts.threads is not None else profile.defaults.threads,
            cluster=cluster,
            affinity_mask=mask,
            delegate=opts.delegate,
            inputs=opts.inputs,
            seed=opts.seed,
            stop=_stop_rule(runner, opts),
            telemetry=opts.telemetry,
            thermal_gate=opts.thermal_gate,
            baseline_s=opts.baseline_s,
            options=options.model_dump(mode="json", exclude_defaults=True),
        )
    except ValidationError as e:
        raise HarnessError(f"invalid run configuration: {describe_validation_error(e)}") from None
    check_plan(runner, profile, model.format, model.path, config)
    return config


def _stop_rule(runner: Runner, opts: RunOptions) -> StopRule:
    if opts.stop is not None:
        return opts.stop
    base = runner.default_stop()
    fields = dict(opts.stop_fields)
    start = {} if fields.get("mode", base.mode) != base.mode else base.model_dump(exclude_defaults=True)
    try:
        return StopRule(**{**start, **fields})
    except ValidationError as e:
        raise HarnessError(f"invalid stopping rule: {describe_validation_error(e)}") from None


def plan_runs(
    devices: list[str], models: list[str], opts: RunOptions, profile_dirs: list[Path] | None = None
) -> list[PlannedRun]:
    """The cross product of devices and models, every one checked before any runs."""
    if not devices or not models:
        raise HarnessError("give at least one --device and one --model")
    if opts.inputs and not Path(opts.inputs).is_file():
        raise HarnessError(f"{opts.inputs}: no such inputs file")
    notes: list[str] = []
    profiles = _once([load_profile(d, profile_dirs) for d in devices], lambda p: p.id, "device", notes)
    resolved = _once([resolve_model(m) for m in models], lambda r: (r[0].name, r[0].sha256), "model", notes)
    jobs = [
        PlannedRun(profile, ref, path, make_config(profile, ref, opts), dict(opts.metadata))
        for profile in profiles
        for ref, path in resolved
    ]
    runners = {r.name: type(r) for r in (runner_for(j.config.runtime) for j in jobs)}
    for option, (flag, _value) in opts.flag_options.items():
        if not any(option in cls.Options.model_fields for cls in runners.values()):
            raise HarnessError(f"{flag} does not apply to the planned runs (runner(s) {', '.join(runners)} "
                               f"have no option {option!r})")
    return Plan(jobs, notes)


def _once(items: list, key: Callable, what: str, notes: list[str]) -> list:
    """`items` without repeats (by `key`), noting each one dropped."""
    seen: dict = {}
    for item in items:
        k = key(item)
        if k in seen:
            notes.append(f"{what} {k if isinstance(k, str) else k[0]!r} given more than once: it runs once")
            continue
        seen[k] = item
    return list(seen.values())


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
    device_wait_s: float | None = None,
) -> RunManifest:
    """Run one job and write its record, whatever happens. Returns the manifest.

    The run holds its device's lock while it measures (`harness.device_lock`), waiting up
    to `device_wait_s` (None: ``HARNESS_DEVICE_WAIT_S`` or 60 s) for another session to let
    go; `DeviceBusy` (no record) if it does not.

    The record is started on disk before anything is measured and grows as the run
    measures (`RunStore.begin`), so a harness killed mid-run leaves an incomplete run that
    `harness.recovery` finishes. `RecordWriteError`: the results folder refused the record."""
    cancel = cancel or threading.Event()
    started = dt.datetime.now(dt.timezone.utc)
    rec = Recorder(runtime=RuntimeInfo(name=job.config.runtime, delegate=job.config.delegate))
    start = run_start(store, job.profile, job.model, job.config, started, metadata=job.metadata,
                      key_options=_key_options(job.config))
    journal = store.begin(start, rec)
    if start.model.path != str(Path(job.model_path).resolve()):
        rec.notes.append("the model's file name is not valid UTF-8: it is recorded (and pushed to targets) "
                         "with its odd bytes as \\xHH escapes")
    busy = None
    try:
        status, error = _measure(job, rec, cancel, progress, start.run_id, device_wait_s)
    except DeviceBusy as e:
        busy = e
    finally:
        journal.close()
    if busy is not None:
        store.discard(start.run_id)  # nothing was measured
        raise busy
    if journal.failed is not None:
        rec.notes.append(f"the run's journal stopped being written mid-run ({journal.failed}); "
                         "the record was written whole at the end")
    return finish_record(store, start, rec, status, error, dt.datetime.now(dt.timezone.utc))


def _key_options(config: RunConfig) -> dict | None:
    """The runner's full options (defaults included), for the benchmark key."""
    try:
        return runner_for(config.runtime).options_for(config).model_dump(mode="json")
    except HarnessError:
        return None


def _measure(job: PlannedRun, rec: Recorder, cancel: threading.Event, progress: Progress | None, run_id: str,
             device_wait_s: float | None):
    """Open the transport, take the device's lock (`DeviceBusy` if another session keeps
    it), gate, sample telemetry and run the runner; (status, error)."""
    status, error = "ok", None
    transport = None
    runner: Runner | None = None
    try:
        rec.stage = "connect"
        runner = runner_for(job.config.runtime)
        options = runner.options_for(job.config)
        rec.runtime.details["runner"] = runner.name
        transport = open_transport(job.profile)
        with transport:
            rec.serial = transport.hardware_serial()
            lock = DeviceLock(transport, what=f"harness run {run_id}", wait_s=device_wait_s, cancel=cancel)
            with lock:  # one session measures a device at a time
                rec.notes.extend(lock.notes)
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
                        options=options,
                    )
                    runner.run(ctx)
                finally:
                    stage = rec.stage
                    try:
                        tele.after()
                    except HarnessError as e:  # telemetry must not cost the run its record
                        rec.warnings.append(f"telemetry: {e}")
                    rec.stage = stage
            if lock.lost:
                rec.warnings.append(lock.lost)
        if tele.tripped.is_set():
            status, error = "aborted", _error(f"thermal limit: {tele.trip_reason}", rec.stage, "thermal_limit")
        elif cancel.is_set():
            status, error = "aborted", _error("aborted by the user (SIGTERM/SIGINT)", rec.stage, "aborted")
    except DeviceBusy:
        raise  # nothing measured: no record (run_planned takes back the one it began)
    except (RunAborted, KeyboardInterrupt):
        cancel.set()  # a library caller without a signal handler: start no further runs either
        status, error = "aborted", _error("aborted by the user", rec.stage, "aborted")
    except HarnessError as e:
        status = "aborted" if cancel.is_set() else "failed"
        error = _error(str(e), rec.stage, "aborted" if cancel.is_set() else failure_kind(e)[0])
    except Exception as e:  # a bug or an unexpected device reply: record it, keep going
        status = "failed"
        error = _error(f"{type(e).__name__}: {e}", rec.stage, "internal")
        rec.add_raw("harness_traceback", traceback.format_exc().splitlines())
    if transport is not None:  # notes a transport adds while running (e.g. a fallback it had to take)
        rec.notes.extend(n for n in getattr(transport, "notes", []) if n not in rec.notes)
    return status, error


def execute(
    jobs: list[PlannedRun],
    store: RunStore,
    cancel: threading.Event | None = None,
    progress_for: Callable[[PlannedRun], Progress] | None = None,
    on_result: Callable[[RunManifest], None] | None = None,
) -> list[RunManifest]:
    """Run every job in order; stop starting new ones once aborted.

    Before any device time is spent, the results folder is checked (a folder, writable,
    with space) and the records of runs a killed harness left incomplete are finished. If
    the results folder refuses a record mid-session, or a device stays busy with another
    session (`harness.device_lock`), the session stops: `SessionStopped` carries the runs
    recorded before it."""
    from harness.recovery import recover_interrupted

    cancel = cancel or threading.Event()
    store.check_writable()
    recover_interrupted(store)
    results: list[RunManifest] = []
    for job in jobs:
        if cancel.is_set():
            break
        try:
            manifest = run_planned(job, store, cancel, progress_for(job) if progress_for else None)
        except (RecordWriteError, DeviceBusy) as e:
            raise SessionStopped(str(e), results) from None
        results.append(manifest)
        if on_result:
            on_result(manifest)
    return results


class SessionStopped(HarnessError):
    """The session stopped before its last run (the results folder refused a record, a
    device stayed busy);
    `completed` holds the runs recorded before that."""

    def __init__(self, message: str, completed: list[RunManifest]):
        n = len(completed)
        super().__init__(f"{message}; session stopped after {n} recorded run{'s' * (n != 1)}")
        self.completed = completed


__all__ = ["PlannedRun", "Plan", "RunOptions", "SessionStopped", "execute", "make_config", "plan_runs",
           "run_planned", "write_record"]
