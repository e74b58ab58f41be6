"""The run record: one model × one device × one configuration.

A record is a manifest (identity, status, configuration, cold phases, summary) plus
tables of raw data. Every figure in a summary or a report is derived from these
tables, so it can be traced back to raw samples.

Tables (column: type, unit):

- ``samples``: iteration (int64), phase (``warmup`` | ``steady``), start_ns (int64,
  device monotonic clock), latency_ns (int64, mean per inference over the sample),
  inferences (int64, inferences the sample covers: 1 for per-iteration timings, N for
  a window of N inferences timed together, as on MCUs), process (int64, which of the
  agent's worker processes measured it, 0 first; absent in older records: all 0).
- ``telemetry``: t_ns (int64, device monotonic clock), channel (e.g. ``thermal/cpu``,
  ``freq/cpu4``, ``power/VDD_IN``), value (float64), unit (SI: ``C``, ``Hz``, ``W``,
  ``V``, ``A``, ``J``, ``bytes``, ``s``, ``1``).
- ``ops``: index, type, name, macs, flops, bytes_read, bytes_written, time_s (mean
  measured time per invocation, NaN when not measured), count (invocations timed).

The manifest is versioned (`SCHEMA_VERSION`, ``"major.minor"``). Readers
(`harness.store.migrate.read_manifest`) migrate every older version on read (1 → 2.0:
the untyped ``summary.aggregates`` and ``runtime.details`` windows become typed
``results``), ignore fields added by a newer minor version, and refuse a newer major one.
A minor version adds optional fields only; anything else is a new major version.

What runners measured beyond the tables is in ``results``: typed entries discriminated by
``kind`` (see `harness.store.results`). ``runtime.details`` holds descriptive facts about
the runtime and target (firmware, pushed files…) that no figure is derived from.

``metadata`` holds free key/value strings (``harness run --tag``, a farm's build or
nightly id); ``benchmark_key`` says which runs may be compared (see
`harness.store.benchmark_key`). A failure's ``error`` carries a stable ``kind`` and
whether it is ``transient`` (see `harness.errors`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from typing import Any, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator
from pydantic_core import to_jsonable_python

from harness.store.results import RunnerResult

SCHEMA_VERSION = "2.1"  # 2.1: samples.process, the latency intervals/processes/drift, stop.processes

#: "incomplete" only for a run read back from its journal (its harness stopped while it was
#: measuring): no manifest on disk ever says it — a manifest is written when a run is finished
Status = Literal["ok", "failed", "aborted", "incomplete"]
R = TypeVar("R", bound=RunnerResult)

SAMPLES_SCHEMA = pa.schema(
    [
        ("iteration", pa.int64()),
        ("phase", pa.string()),
        ("start_ns", pa.int64()),
        ("latency_ns", pa.int64()),
        ("inferences", pa.int64()),
        ("process", pa.int64()),
    ]
)
#: columns a later schema minor version added: older records' files lack them (read as null)
ADDED_COLUMNS: dict[str, frozenset[str]] = {"samples": frozenset({"process"})}
TELEMETRY_SCHEMA = pa.schema(
    [("t_ns", pa.int64()), ("channel", pa.string()), ("value", pa.float64()), ("unit", pa.string())]
)
OPS_SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("type", pa.string()),
        ("name", pa.string()),
        ("macs", pa.float64()),
        ("flops", pa.float64()),
        ("bytes_read", pa.float64()),
        ("bytes_written", pa.float64()),
        ("time_s", pa.float64()),
        ("count", pa.int64()),
    ]
)
TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "samples": SAMPLES_SCHEMA,
    "telemetry": TELEMETRY_SCHEMA,
    "ops": OPS_SCHEMA,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def escape_name(text: str) -> str:
    """`text` as a record keeps it. A file name may hold bytes that are not UTF-8 (Python reads
    them as lone surrogates); those become ``\\xHH`` escapes, so every record, table and page
    stays valid UTF-8 and no byte is lost. Valid text is returned as it is."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that was never a byte (from escaped JSON)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def recorded_path(text: str) -> str:
    """The file a recorded (maybe `escape_name`d) path names on this host: the path as
    recorded if it exists, else with its ``\\xHH`` escapes turned back into bytes."""
    if os.path.exists(text) or "\\x" not in text:
        return text
    raw = re.sub(rb"\\x([89a-fA-F][0-9a-fA-F])", lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return os.fsdecode(raw)


def escape_strings(data: Any) -> Any:
    """Every string in JSON-like data through `escape_name` (keys too)."""
    if isinstance(data, str):
        return escape_name(data)
    if isinstance(data, dict):
        return {escape_strings(k): escape_strings(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [escape_strings(v) for v in data]
    return data


def as_json(model) -> str:
    """A record as JSON text; a string that is not valid UTF-8 anywhere in it (a device's
    odd output, a path) is written `escape_name`d rather than failing the write."""
    try:
        return model.model_dump_json(indent=2)
    except (UnicodeEncodeError, ValueError):  # pydantic wraps the UnicodeEncodeError
        data = escape_strings(model.model_dump())  # python mode keeps the odd strings as they are
        return json.dumps(data, indent=2, ensure_ascii=False, default=to_jsonable_python)


class ModelRef(_Model):
    name: str
    path: str
    sha256: str
    format: str = Field(description="a registered model format (harness.formats): tflite, onnx, …")
    precision: str = "unknown"
    size_bytes: int
    zoo_id: str | None = None

    @field_validator("name", "path", mode="before")
    @classmethod
    def _escaped(cls, v: Any) -> Any:
        return escape_name(v) if isinstance(v, str) else v


class RuntimeInfo(_Model):
    name: str = Field(description="the runtime the run used (a runner's runtime name)")
    version: str | None = None
    library: str | None = Field(None, description="e.g. ai_edge_litert, tflite_runtime, onnxruntime")
    delegate: str | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, description="descriptive facts (runner, firmware, pushed files…); no figure reads them"
    )


class StopRule(_Model):
    """When the steady state has been measured enough. See `harness.stats`."""

    mode: Literal["adaptive", "fixed", "mlperf", "tinyml"] = "adaptive"
    ci_target: float = Field(0.01, gt=0, description="adaptive: CI half-width relative to the median")
    min_iters: int = Field(10, ge=1)
    min_time_s: float = Field(1.0, ge=0)
    max_time_s: float = Field(60.0, gt=0, description="cap on steady-state seconds (fixed runs: raised to time_s)")
    count: int | None = Field(None, ge=1, description="fixed: iterations")
    time_s: float | None = Field(None, gt=0, description="fixed: seconds")
    warmup_min: int = Field(3, ge=1, description="warmup iterations before the steady-state check")
    warmup_max_s: float = Field(10.0, ge=0, description="cap on warmup time")
    processes: int | None = Field(
        None, ge=1, description="agent worker processes; None: auto for adaptive (3 or more), 1 otherwise"
    )

    @model_validator(mode="after")
    def _fixed_rule(self):
        if self.mode == "fixed" and self.count is None and self.time_s is None:
            raise ValueError("a fixed stopping rule needs a count and/or a time (--count, --time)")
        # A fixed --time longer than the cap is what the user asked for: the cap follows it.
        if self.mode == "fixed" and self.time_s is not None and self.time_s > self.max_time_s:
            self.max_time_s = self.time_s
        return self


class RunConfig(_Model):
    runtime: str
    threads: int | None = None
    cluster: str | None = None
    affinity_mask: str | None = None
    delegate: str | None = None
    inputs: str | None = Field(None, description=".npy/.npz inputs; default: seeded random data")
    seed: int = 0
    stop: StopRule = Field(default_factory=StopRule)
    telemetry: bool = True
    thermal_gate: bool = True
    baseline_s: float = Field(2.0, ge=0, description="idle telemetry window before and after the workload")
    options: dict[str, Any] = Field(default_factory=dict, description="runner-specific options")


class Phases(_Model):
    """Cold start, never averaged with the steady state."""

    load_s: float | None = None
    init_s: float | None = None
    first_s: float | None = None


class ErrorInfo(_Model):
    message: str
    stage: str = Field(description="where it happened: connect, push, start, run, parse, store…")
    raw_output: str | None = Field(None, description="file under raw/ holding the device's output")
    kind: str | None = Field(
        None,
        description="stable failure class: link_lost, timeout, device_offline, target_disk_full, "
        "model_invalid, runtime_error, config_invalid, aborted, internal…",
    )
    transient: bool | None = Field(
        None, description="could a retry (on this or an equivalent device) help? None: not classified"
    )


class LatencySummary(_Model):
    n: int
    inferences: int
    median_s: float
    p90_s: float
    p99_s: float
    mean_s: float
    std_s: float
    mad_s: float
    cv: float
    min_s: float
    max_s: float
    ci95_s: tuple[float, float] = Field(description="the headline 95 % interval (see ci_method): covers drift and processes")
    ci_method: str
    outliers: int
    ci95_within_run_s: tuple[float, float] = Field(
        (float("nan"), float("nan")), description="order-statistic 95 % CI of the median: within-run noise only (i.i.d.)"
    )
    processes: int = Field(1, description="worker processes the samples come from")
    blocks: int = Field(0, description="blocks of the drift-aware CI (one process); 0: not used")
    drift_ratio: float = Field(
        float("nan"), description="spread of block (or process) medians ÷ what within-run noise explains (1: none)"
    )

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_nan(cls, v: Any) -> Any:
        # NaN (e.g. no CI for fewer than 6 samples) is written to JSON as null: read it back as NaN
        if v is None:
            return float("nan")
        if isinstance(v, (list, tuple)):
            return [float("nan") if x is None else x for x in v]
        return v


class Summary(_Model):
    latency: LatencySummary | None = None
    stop_reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    throughput_per_s: float | None = None
    memory: dict[str, float] = Field(default_factory=dict, description="peak RSS etc., bytes")
    # telemetry-derived (see harness.analysis.energy)
    energy_j_per_inference: float | None = None
    energy_j_per_inference_net: float | None = None
    power_w_mean: float | None = None
    temp_c_max: float | None = None
    throttled: bool | None = None
    energy: dict[str, Any] | None = Field(None, description="how energy was computed: rate, coverage…")
    # roofline (see harness.analysis.roofline)
    roofline: dict[str, Any] | None = None


class DeviceRef(_Model):
    id: str
    name: str
    transport: str
    serial: str | None = Field(None, description="hardware serial, when the transport can read one")


class RunManifest(_Model):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    status: Status
    error: ErrorInfo | None = None
    started_at: _dt.datetime
    finished_at: _dt.datetime | None = None
    device: DeviceRef
    profile: dict[str, Any] = Field(description="snapshot of the device profile used")
    model: ModelRef
    runtime: RuntimeInfo
    config: RunConfig
    harness_version: str
    host: dict[str, str]
    phases: Phases = Field(default_factory=Phases)
    results: list[SerializeAsAny[RunnerResult]] = Field(
        default_factory=list, description="typed runner results, by kind (harness.store.results)"
    )
    summary: Summary = Field(default_factory=Summary)
    conditions: dict[str, Any] = Field(
        default_factory=dict, description="temperature, clocks, governor before/after the run"
    )
    timeline: dict[str, int] = Field(
        default_factory=dict, description="device-clock marks (ns): steady_start_ns, steady_end_ns, …"
    )
    notes: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(
        default_factory=dict, description="free key/values: build id, nightly id, farm host, user tags"
    )
    benchmark_key: str | None = Field(
        None, description="short hash over everything that must be equal for two runs to be compared"
    )
    benchmark_key_fields: list[str] = Field(
        default_factory=list, description="the fields benchmark_key covers, in order"
    )
    tables: dict[str, int] = Field(default_factory=dict, description="row count per table written")

    @field_validator("results", mode="before")
    @classmethod
    def _typed_results(cls, v: Any) -> Any:
        return [RunnerResult.parse(r) for r in v] if isinstance(v, list) else v

    def result(self, kind: type[R]) -> R | None:
        """The first result of this kind (a `RunnerResult` subclass), or None."""
        return next((r for r in self.results if isinstance(r, kind)), None)

    def brief(self) -> dict[str, Any]:
        """The per-run object printed by `harness run --json` (and `ingest`, `results show`)."""
        lat = self.summary.latency
        return {
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error.model_dump() if self.error else None,
            "device": self.device.id,
            "transport": self.device.transport,
            "model": self.model.name,
            "model_sha256": self.model.sha256,
            "runtime": self.runtime.name,
            "runtime_version": self.runtime.version,
            "threads": self.config.threads,
            "cold": {"load_s": self.phases.load_s, "init_s": self.phases.init_s, "first_s": self.phases.first_s},
            "latency": None
            if lat is None
            else {
                "n": lat.n,
                "inferences": lat.inferences,
                "median_s": lat.median_s,
                "p90_s": lat.p90_s,
                "p99_s": lat.p99_s,
                "mean_s": lat.mean_s,
                "std_s": lat.std_s,
                "mad_s": lat.mad_s,
                "cv": lat.cv,
                "min_s": lat.min_s,
                "max_s": lat.max_s,
                "ci95_s": list(lat.ci95_s),
                "ci_method": lat.ci_method,
                "ci95_within_run_s": list(lat.ci95_within_run_s),
                "processes": lat.processes,
                "drift_ratio": lat.drift_ratio,
                "outliers": lat.outliers,
            },
            "throughput_per_s": self.summary.throughput_per_s,
            "stop_reason": self.summary.stop_reason,
            "warnings": self.summary.warnings,
            "memory": self.summary.memory,
            "results": [r.model_dump(mode="json") for r in self.results],
            "metadata": self.metadata,
            "benchmark_key": self.benchmark_key,
            "energy_j_per_inference": self.summary.energy_j_per_inference,
            "power_w_mean": self.summary.power_w_mean,
            "temp_c_max": self.summary.temp_c_max,
            "throttled": self.summary.throttled,
            "roofline": None
            if not self.summary.roofline
            else {
                k: self.summary.roofline.get(k)
                for k in (
                    "dtype", "level", "arithmetic_intensity", "ridge_point", "bound", "achieved_ops_per_s",
                    "attainable_ops_per_s", "efficiency", "memory_bound_time_share", "ceiling_too_low",
                    "level_reason",
                )
            },
        }
