"""A farm plan (`PLAN.yaml`): models × device classes × runtimes × option sets, with tags.

    name: nightly
    farm: farm.yaml                 # relative to this file
    tags: {suite: zoo}              # into every record's metadata (with --tag KEY=VALUE)
    matrix:
      models: [kws01, vww01]
      classes: [board, phone]
      runtimes: [tflite, benchmark_model]   # optional: each device's default runtime
      options:                      # optional option sets, one job each
        - {threads: 1}
        - {threads: 4}
    defaults: {stop: {mode: fixed, count: 50}, telemetry: false}   # stop: fields over each runner's default
    class_options: {mcu: {options: {windows: 3}}}   # per class, under each option set
    exclude: [{model: vww01, class: phone}]
    job_timeout_s: 1800
    canary: {model: kws01-int8-tflite}

A matrix cell a class cannot run (an ONNX model on a runtime that reads TFLite, a runtime
the class's devices lack) is *not applicable*: listed, not run, not a failure. Every other
cell is planned on every device of its class with `harness.session.plan_runs`, so a bad
model, option or profile fails here, before any device time is spent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness import session
from harness.errors import HarnessError, ModelError
from harness.farm.inventory import NAME, Farm, load_farm, read_spec, schema_of
from harness.models import resolve_model
from harness.profiles import DeviceProfile, runtime_names
from harness.session import PlannedRun, RunOptions
from harness.store.record import ModelRef


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOptions(_Strict):
    """One option set: the fields of `harness run` that shape a measurement."""

    threads: int | None = Field(None, ge=1)
    cluster: str | None = None
    delegate: str | None = None
    inputs: str | None = None
    seed: int | None = None
    stop: dict[str, Any] | None = Field(
        None,
        description="stopping-rule fields (mode, count, time_s, ci_target, max_time_s, …) over the runner's "
        "own default rule, as `harness run --stop/--count/...`; a more specific level replaces it whole",
    )
    telemetry: bool | None = None
    thermal_gate: bool | None = None
    baseline_s: float | None = Field(None, ge=0)
    options: dict[str, Any] = Field(default_factory=dict, description="runner options (-o KEY=VALUE)")

    def merged_over(self, base: JobOptions) -> JobOptions:
        data = base.model_dump(exclude_none=True)
        mine = self.model_dump(exclude_none=True)
        data["options"] = {**data.get("options", {}), **mine.pop("options", {})}
        data.update(mine)
        return JobOptions.model_validate(data)

    def label(self) -> str:
        """What distinguishes this option set, for job names ('threads=4, stop=fixed')."""
        parts = []
        for key, value in self.model_dump(exclude_none=True).items():
            if key == "options":
                parts += [f"{k}={v}" for k, v in value.items()]
            elif key == "stop":
                parts.append("stop=" + "/".join(f"{k}:{v}" for k, v in value.items()))
            else:
                parts.append(f"{key}={value}")
        return ", ".join(parts)

    def run_options(self, runtime: str | None, metadata: dict[str, str]) -> RunOptions:
        given = self.model_dump(exclude_none=True, exclude={"stop"})
        return RunOptions(runtime=runtime, stop_fields=dict(self.stop or {}), metadata=dict(metadata), **given)


class MatrixCell(_Strict):
    model: str | None = None
    device_class: str | None = Field(None, alias="class")
    runtime: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def matches(self, model: str, device_class: str, runtime: str | None) -> bool:
        return (
            (self.model is None or self.model == model)
            and (self.device_class is None or self.device_class == device_class)
            and (self.runtime is None or self.runtime == runtime)
        )


class Matrix(_Strict):
    models: list[str] = Field(min_length=1)
    classes: list[str] = Field(min_length=1)
    runtimes: list[str | None] = Field(default_factory=lambda: [None])
    options: list[JobOptions] = Field(default_factory=lambda: [JobOptions()])

    @field_validator("runtimes")
    @classmethod
    def _known(cls, v: list[str | None]) -> list[str | None]:
        known = runtime_names()
        unknown = [r for r in v if r is not None and r not in known]
        if unknown:
            raise ValueError(f"unknown runtime(s) {unknown}; known: {', '.join(known)}")
        return v or [None]


class Canary(_Strict):
    """A model run first on every device each night; its median is compared to the device's own history."""

    model: str
    runtime: str | None = None
    options: JobOptions = Field(default_factory=JobOptions)
    history: int = Field(14, ge=3, description="compare against the device's last N canary nights")
    min_history: int = Field(5, ge=3, description="nights needed before a device can be called degraded")
    z_threshold: float = Field(3.5, gt=0, description="robust z above which the device is degraded")


class PlanFile(_Strict):
    name: str = Field("plan", pattern=NAME)
    farm: str = Field("farm.yaml", description="The farm file, relative to the plan.")
    tags: dict[str, str] = Field(default_factory=dict)
    matrix: Matrix
    defaults: JobOptions = Field(default_factory=JobOptions)
    class_options: dict[str, JobOptions] = Field(
        default_factory=dict, description="per device class, over `defaults` and under each option set"
    )
    exclude: list[MatrixCell] = Field(default_factory=list)
    job_timeout_s: float = Field(1800.0, gt=0, description="longest one job may take before it is abandoned")
    canary: Canary | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _strings(cls, v):
        return {str(k): str(val) for k, val in v.items()} if isinstance(v, dict) else v


@dataclass
class FarmJob:
    """One cell of the matrix: run on any one device of its class (or on `pinned`)."""

    key: str
    name: str
    device_class: str
    model: ModelRef
    runtime: str | None
    options_label: str
    planned: dict[str, PlannedRun]  # device id -> the run planned for that device
    canary: bool = False
    pinned: str | None = None
    repetition: int = 0
    #: devices that failed it (transiently) already: a retry goes elsewhere
    tried: list[str] = field(default_factory=list)

    def candidates(self) -> list[str]:
        return [self.pinned] if self.pinned else list(self.planned)


@dataclass
class Plan:
    spec: PlanFile
    farm: Farm
    source: Path | None
    jobs: list[FarmJob]
    not_applicable: list[str]
    #: the plan's tags and the command line's, written into every record's metadata
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name


def _reason_not_applicable(profile: DeviceProfile, ref: ModelRef, runtime: str | None, opts: RunOptions) -> str | None:
    """Why a class cannot run this cell at all (None: it can). Other problems are errors."""
    if runtime is None:
        try:
            session.default_runtime(profile, ref.format)
        except HarnessError as e:
            return str(e)
        return None
    if runtime not in profile.runtimes:
        return f"device {profile.id!r} has no runtime {runtime!r}"
    try:
        session.make_config(profile, ref, opts)
    except ModelError as e:  # the format/runtime mismatch
        return str(e)
    return None


def _class_base(spec: PlanFile, device_class: str) -> JobOptions:
    return spec.class_options.get(device_class, JobOptions()).merged_over(spec.defaults)


def _job_key(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _plan_cell(farm: Farm, device_class: str, model: str, opts: RunOptions) -> dict[str, PlannedRun]:
    devices = farm.of_class(device_class)
    planned = session.plan_runs([str(d.profile.source) for d in devices], [model], opts)
    return {d.id: run for d, run in zip(devices, planned)}


def build_plan(spec: PlanFile, farm: Farm, source: Path | None = None, tags: dict[str, str] | None = None) -> Plan:
    """Every job of the plan, planned (and so checked) on every device of its class."""
    metadata = {**spec.tags, **(tags or {})}
    unknown = [c for c in [*spec.matrix.classes, *spec.class_options] if c not in farm.spec.classes]
    if unknown:
        raise HarnessError(
            f"{source}: matrix.classes: unknown class(es) {unknown} (farm classes: {', '.join(sorted(farm.spec.classes))})"
        )
    empty = [c for c in spec.matrix.classes if not farm.of_class(c)]
    if empty:
        raise HarnessError(f"{source}: matrix.classes: no device in class(es) {empty} in {farm.source}")
    refs = {m: resolve_model(m)[0] for m in spec.matrix.models}
    jobs: list[FarmJob] = []
    not_applicable: list[str] = []
    for model, ref in refs.items():
        for device_class in spec.matrix.classes:
            example = farm.of_class(device_class)[0].profile
            for runtime in spec.matrix.runtimes:
                if any(x.matches(model, device_class, runtime) for x in spec.exclude):
                    continue
                for optset in spec.matrix.options:
                    job_opts = optset.merged_over(_class_base(spec, device_class))
                    run_opts = job_opts.run_options(runtime, metadata)
                    reason = _reason_not_applicable(example, ref, runtime, run_opts)
                    if reason:
                        cell = f"{model} on {device_class} ({runtime or 'default runtime'}): {reason}"
                        if cell not in not_applicable:
                            not_applicable.append(cell)
                        continue
                    planned = _plan_cell(farm, device_class, model, run_opts)
                    label = optset.label()
                    rt = next(iter(planned.values())).config.runtime
                    jobs.append(
                        FarmJob(
                            key=_job_key(model, ref.sha256, device_class, rt, job_opts.model_dump(mode="json")),
                            name=f"{ref.name} [{rt}{', ' + label if label else ''}]",
                            device_class=device_class,
                            model=ref,
                            runtime=rt,
                            options_label=label,
                            planned=planned,
                        )
                    )
    if not jobs:
        why = "; ".join(not_applicable[:3]) or "every cell is excluded"
        raise HarnessError(f"{source}: the plan has no job to run ({why})")
    if spec.canary is not None:
        jobs[:0] = canary_jobs(spec, farm, metadata)
    return Plan(spec, farm, source, jobs, not_applicable, metadata)


def canary_jobs(spec: PlanFile, farm: Farm, metadata: dict[str, str]) -> list[FarmJob]:
    """One canary job pinned to each device of the plan's classes."""
    canary = spec.canary
    assert canary is not None
    ref = resolve_model(canary.model)[0]
    jobs = []
    for device_class in spec.matrix.classes:
        opts = canary.options.merged_over(_class_base(spec, device_class))
        planned = _plan_cell(farm, device_class, canary.model, opts.run_options(canary.runtime, metadata))
        for device_id, run in planned.items():
            key = _job_key("canary", device_id, ref.sha256, run.config.model_dump(mode="json"))
            jobs.append(
                FarmJob(
                    key=key,
                    name=f"canary {ref.name} [{run.config.runtime}] on {device_id}",
                    device_class=device_class,
                    model=ref,
                    runtime=run.config.runtime,
                    options_label="canary",
                    planned={device_id: run},
                    canary=True,
                    pinned=device_id,
                )
            )
    return jobs


def load_plan(path: Path | str, tags: dict[str, str] | None = None, farm_path: Path | None = None,
              profile_dirs: list[Path] | None = None) -> Plan:
    """Read, check and expand a plan file (and its farm file)."""
    path = Path(path)
    spec = read_spec(path, "plan", PlanFile)
    farm = load_farm(farm_path or (path.parent / spec.farm), profile_dirs)
    return build_plan(spec, farm, path, tags)


def json_schema() -> dict:
    return schema_of(PlanFile, "harness farm plan")
